import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../../src/alerts/model.js';
import type { AttemptRecord, SliWindow } from '../../../src/journeys/model.js';
import { LATENCY_BOUNDS_MS } from '../../../src/journeys/runtime/sli.js';
import {
  attemptRowId,
  encodeAlerts,
  encodeAttempts,
  encodeSliWindows,
  indexRows,
  mergeRowBatches,
  rowBatchBody,
  rowsOf,
  rowBatchCodec,
  type RowBatch,
} from '../../../src/exporters/clickhouse/rows.js';
import { stringifyWellFormed } from '../../../src/exporters/exporterhelper/index.js';
import { id } from '../../support/traces.js';

const TRACE = id('4bf92f3577b34da6a3ce929d0e0e4736');
const SPAN = id('00f067aa0ba902b7');

function attempt(over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    journey: 'checkout',
    traceId: TRACE,
    startSpanId: SPAN,
    startTimeUnixNano: 1_763_805_600_123_456_789n,
    durationMs: 182.5,
    outcome: 'failure',
    reasons: ['error:charge', 'slow'],
    signals: ['duplicate_calls:charge'],
    segments: { 'customer.tier': 'gold', 'cloud.region': 'eu-west-1' },
    services: [
      { service: 'frontend', version: '1.8.0' },
      { service: 'payments', version: '2.4.1' },
    ],
    failingStep: { step: 'charge', service: 'payments', version: '2.4.1' },
    spans: [
      { step: 'start', spanId: SPAN, service: 'frontend', version: '1.8.0', statusCode: 2, durationMs: 182.5 },
      { step: 'charge', spanId: id('1111111111111111'), service: 'payments', version: '2.4.1', statusCode: 2, durationMs: 90 },
    ],
    decidedBy: 'complete',
    decidedAtMs: 1_763_805_611_000,
    ...over,
  };
}

const window: SliWindow = {
  journey: 'checkout',
  windowStartMs: 1_763_805_600_000,
  windowSeconds: 10,
  segmentKey: 'customer.tier',
  segmentValue: 'gold',
  attempts: 10,
  successes: 7,
  failures: 3,
  abandoned: 0,
  failuresByReason: { 'error:charge': 2, slow: 1 },
  latencyBoundsMs: LATENCY_BOUNDS_MS,
  latencyCounts: Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => (i === 3 ? 10 : 0)),
  latencySumMs: 60,
};

function lines(b: RowBatch): string[] {
  return rowBatchBody(b).toString('utf8').split('\n').filter((l) => l !== '');
}

describe('attempt rows', () => {
  it('give each row its own times when rows of one batch fall in different seconds', () => {
    const rows = lines(
      encodeAttempts(
        [
          attempt(),
          attempt({ startTimeUnixNano: 1_763_805_601_999_000_000n, decidedAtMs: 1_763_805_612_500 }),
          attempt({ startTimeUnixNano: 1_763_805_600_500_000_000n, decidedAtMs: 1_763_805_611_000 }),
        ],
        'seconds',
      ),
    ).map((l) => JSON.parse(l.replace(/^\{"row_id":\d+,/, '{')) as { start_time: string; decided_at: string });
    expect(rows.map((r) => [r.start_time, r.decided_at])).toEqual([
      ['2025-11-22 10:00:00', '2025-11-22 10:00:11'],
      ['2025-11-22 10:00:01', '2025-11-22 10:00:12'],
      ['2025-11-22 10:00:00', '2025-11-22 10:00:11'],
    ]);
  });

  it('carry every field, hex ids and UTC times in the text ClickHouse parses', () => {
    const b = encodeAttempts([attempt()], 'seconds');
    expect(b.rows).toBe(1);
    const text = lines(b)[0]!;
    // The id is a JSON integer literal: 64 bits survive (a JS number would round them).
    expect(text).toMatch(/^\{"row_id":\d+,"journey":"checkout",/);
    const row = JSON.parse(text.replace(/^\{"row_id":\d+,/, '{')) as Record<string, unknown>;
    expect(row).toMatchObject({
      start_time: '2025-11-22 10:00:00',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      start_span_id: '00f067aa0ba902b7',
      outcome: 'failure',
      reasons: ['error:charge', 'slow'],
      segment_keys: ['customer.tier', 'cloud.region'],
      segment_values: ['gold', 'eu-west-1'],
      services: ['frontend', 'payments'],
      service_versions: ['1.8.0', '2.4.1'],
      failing_step: 'charge',
      span_steps: ['start', 'charge'],
      span_status_codes: [2, 2],
      decided_by: 'complete',
      decided_at: '2025-11-22 10:00:11',
    });
    expect(JSON.parse(lines(encodeAttempts([attempt()], 'millis'))[0]!.replace(/^\{"row_id":\d+,/, '{')).start_time).toBe('2025-11-22 10:00:00.123');
  });

  it('get the same id for the same attempt every time, and different ids for different attempts', () => {
    const first = lines(encodeAttempts([attempt()], 'seconds'))[0]!;
    const again = lines(encodeAttempts([attempt({ decidedAtMs: 1, decidedBy: 'timeout' })], 'millis'))[0]!;
    const idOf = (l: string): string => /"row_id":(\d+)/.exec(l)![1]!;
    expect(idOf(again)).toBe(idOf(first));
    expect(idOf(first)).toBe(attemptRowId('checkout', TRACE, SPAN));
    const others = [
      attemptRowId('signup', TRACE, SPAN),
      attemptRowId('checkout', id('4bf92f3577b34da6a3ce929d0e0e4737'), SPAN),
      attemptRowId('checkout', TRACE, id('00f067aa0ba902b8')),
    ];
    expect(new Set([idOf(first), ...others]).size).toBe(4);
    expect(BigInt(idOf(first))).toBeLessThan(2n ** 64n);
  });

  it('are valid JSON with every string escaped, whatever the journey, segment or step text holds', () => {
    const odd = 'quote " backslash \\ newline \n tab \t nul \u0000 ünïcödé 🚀 \u2028';
    const record = attempt({
      journey: odd,
      reasons: [],
      signals: [odd],
      segments: { [odd]: odd, plain: '' },
      services: [{ service: odd, version: '' }],
      failingStep: undefined,
      spans: [{ step: odd, spanId: SPAN, service: 'a', version: 'b', statusCode: 0, durationMs: Number.POSITIVE_INFINITY }],
      durationMs: 0.125,
    });
    const text = lines(encodeAttempts([record], 'seconds'))[0]!;
    const row = JSON.parse(text) as Record<string, unknown>;
    expect(row).toEqual({
      row_id: expect.any(Number) as unknown,
      journey: odd,
      start_time: '2025-11-22 10:00:00',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      start_span_id: '00f067aa0ba902b7',
      duration_ms: 0.125,
      outcome: 'failure',
      reasons: [],
      signals: [odd],
      segment_keys: [odd, 'plain'],
      segment_values: [odd, ''],
      services: [odd],
      service_versions: [''],
      failing_step: '',
      failing_service: '',
      failing_version: '',
      span_steps: [odd],
      span_services: ['a'],
      span_status_codes: [0],
      span_durations_ms: [0],
      decided_by: 'complete',
      decided_at: '2025-11-22 10:00:11',
    });
  });

  it('are byte for byte what JSON.stringify of the row would give, for awkward text and numbers (lone surrogates as U+FFFD)', () => {
    // The reference: the row as an object, stringified (how rows were encoded before they were written field by
    // field), with lone surrogates as U+FFFD.
    const hex = (b: string) => Buffer.from(b, 'latin1').toString('hex');
    const fin = (n: number) => (Number.isFinite(n) ? n : 0);
    const reference = (r: AttemptRecord) =>
      `{"row_id":${attemptRowId(r.journey, r.traceId, r.startSpanId)},` +
      stringifyWellFormed({
        journey: r.journey,
        start_time: '2025-11-22 10:00:00',
        trace_id: hex(r.traceId),
        start_span_id: hex(r.startSpanId),
        duration_ms: fin(r.durationMs),
        outcome: r.outcome,
        reasons: r.reasons,
        signals: r.signals,
        segment_keys: Object.keys(r.segments),
        segment_values: Object.values(r.segments),
        services: r.services.map((x) => x.service),
        service_versions: r.services.map((x) => x.version),
        failing_step: r.failingStep?.step ?? '',
        failing_service: r.failingStep?.service ?? '',
        failing_version: r.failingStep?.version ?? '',
        span_steps: r.spans.map((x) => x.step),
        span_services: r.spans.map((x) => x.service),
        span_status_codes: r.spans.map((x) => x.statusCode),
        span_durations_ms: r.spans.map((x) => fin(x.durationMs)),
        decided_by: r.decidedBy,
        decided_at: '2025-11-22 10:00:11',
      }).slice(1);
    // Every character class the writer treats apart: ASCII, escapes, control characters, 2- and 3-byte UTF-8,
    // surrogate pairs, lone surrogates (both halves), and the edges between them.
    const pieces = ['a', 'Z', ' ', '~', '\x7f', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u0080', 'é', '\u07ff', '\u0800', '€', '\uffff', '\u2028', '🚀', '\ud800', '\udfff', '\udbff\udfff'];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const text = () => Array.from({ length: rand(12) }, () => pieces[rand(pieces.length)]!).join('');
    const numbers = [0, -0, 1, 7, 9, 10, 99, 100, 999_999_999, 1e9, 2 ** 31, -1, 0.1, 182.5, 1e21, 1.5e-7, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, Number.MAX_VALUE];
    const records: AttemptRecord[] = [];
    for (let n = 0; n < 300; n++) {
      const segments: Record<string, string> = {};
      for (let i = rand(4); i > 0; i--) segments[text() || 'k' + i] = text();
      if (rand(5) === 0) segments['7'] = 'an integer-like key comes first';
      records.push(
        attempt({
          journey: text(),
          traceId: String.fromCharCode(...Array.from({ length: 16 }, () => rand(256))),
          startSpanId: String.fromCharCode(...Array.from({ length: 8 }, () => rand(256))),
          durationMs: numbers[rand(numbers.length)]!,
          reasons: Array.from({ length: rand(3) }, text),
          signals: Array.from({ length: rand(2) }, text),
          segments,
          services: Array.from({ length: rand(4) }, () => ({ service: text(), version: text() })),
          failingStep: rand(2) === 0 ? undefined : { step: text(), service: text(), version: text() },
          spans: Array.from({ length: rand(6) }, () => ({
            step: text(),
            spanId: SPAN,
            service: text(),
            version: '',
            statusCode: rand(3),
            durationMs: numbers[rand(numbers.length)]!,
          })),
        }),
      );
    }
    const expected = records.map((r) => reference(r) + '\n').join('');
    expect(rowBatchBody(encodeAttempts(records, 'seconds')).toString('utf8')).toBe(expected);
    expect(rowBatchBody(encodeAttempts(records, 'seconds')).equals(Buffer.from(expected, 'utf8'))).toBe(true);
  });

  it('write a lone surrogate as U+FFFD, never as the \\udXXX escape ClickHouse refuses with the whole INSERT', () => {
    // As OTLP/JSON can carry them: "\ud83d" alone, a low half alone, halves in the wrong order, a half before ASCII.
    const lone = ['\ud83d', 'a\ude00b', '\ude00\ud83d', '\ud83dx', 'ok \ud83d\ude80 ok'];
    const record = attempt({
      journey: lone[0]!,
      segments: { 'customer.tier': lone[1]!, [lone[2]!]: 'v' },
      services: [{ service: lone[3]!, version: lone[4]! }],
      failingStep: { step: lone[0]!, service: lone[3]!, version: lone[4]! },
      spans: [{ step: lone[2]!, spanId: SPAN, service: 'a', version: 'b', statusCode: 2, durationMs: 1 }],
    });
    const body = rowBatchBody(encodeAttempts([record], 'seconds'));
    // Well-formed UTF-8 (decoding and re-encoding gives the same bytes) and no surrogate escape left.
    expect(Buffer.from(body.toString('utf8'), 'utf8').equals(body)).toBe(true);
    expect(body.toString('latin1')).not.toMatch(/\\ud[89a-f]/i);
    const row = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    expect(row).toMatchObject({
      journey: '\ufffd',
      segment_keys: ['customer.tier', '\ufffd\ufffd'],
      segment_values: ['a\ufffdb', 'v'],
      services: ['\ufffdx'],
      service_versions: ['ok \ud83d\ude80 ok'],
      failing_step: '\ufffd',
      failing_service: '\ufffdx',
      failing_version: 'ok 🚀 ok',
      span_steps: ['\ufffd\ufffd'],
    });
    expect(body.includes(Buffer.from([0xef, 0xbf, 0xbd]))).toBe(true);
  });

  it('write a finite number where a duration is not one (ClickHouse refuses null in Float64)', () => {
    const row = lines(encodeAttempts([attempt({ durationMs: Number.NaN })], 'seconds'))[0]!;
    expect(row).toContain('"duration_ms":0,');
  });
});

describe('SLI rows', () => {
  it('get a new id each time they are encoded: equal partial rows must all count', () => {
    const a = lines(encodeSliWindows([window, window]));
    const b = lines(encodeSliWindows([window]));
    const ids = [...a, ...b].map((l) => /"row_id":(\d+)/.exec(l)![1]);
    expect(new Set(ids).size).toBe(3);
    expect(JSON.parse(a[0]!.replace(/^\{"row_id":\d+,/, '{'))).toMatchObject({
      window_start: '2025-11-22 10:00:00',
      window_seconds: 10,
      segment_key: 'customer.tier',
      segment_value: 'gold',
      attempts: 10,
      successes: 7,
      failures: 3,
      failure_reasons: ['error:charge', 'slow'],
      failure_reason_counts: [2, 1],
      latency_bounds_ms: [...LATENCY_BOUNDS_MS],
      latency_sum_ms: 60,
    });
  });
});

describe('lone surrogates in SLI and alert rows', () => {
  it('are written as U+FFFD, in the row and in the JSON of suspects and release', () => {
    const sli = rowBatchBody(encodeSliWindows([{ ...window, segmentValue: 'gold\ud83d', failuresByReason: { 'error:\ude00': 3 } }]));
    expect(sli.toString('latin1')).not.toMatch(/\\ud[89a-f]/i);
    expect(JSON.parse(sli.toString('utf8'))).toMatchObject({ segment_value: 'gold\ufffd', failure_reasons: ['error:\ufffd'] });

    const e = alertEvent();
    const alert = rowBatchBody(
      encodeAlerts([
        {
          ...e,
          summary: 'checkout failing for customer.tier=\ud83d',
          segment: { key: 'customer.tier', value: '\ud83d' },
          suspects: [{ ...e.suspects[0]!, value: '2.5.0\udfff' }],
          release: { service: 'payments', newVersion: '2.5.0\ud800', previousVersion: '2.4.1', firstSeenMs: 1_763_805_000_000, newFailureRatio: 0.2, previousFailureRatio: 0.01 },
        },
      ]),
    );
    expect(alert.toString('latin1')).not.toMatch(/\\ud[89a-f]/i);
    const row = JSON.parse(alert.toString('utf8').replace(/^\{"row_id":\d+,/, '{')) as Record<string, string>;
    expect(row).toMatchObject({ summary: 'checkout failing for customer.tier=\ufffd', segment_value: '\ufffd' });
    expect(JSON.parse(row.suspects!)).toMatchObject([{ value: '2.5.0\ufffd' }]);
    expect(JSON.parse(row.release!)).toMatchObject({ newVersion: '2.5.0\ufffd' });
  });

  it('are the only thing stringifyWellFormed changes: a literal backslash before "ud" stays as JSON.stringify writes it', () => {
    for (const v of [{ a: 'plain', b: ['é', '🚀', '\u2028'] }, { text: '\\ud83d is not a surrogate' }, ['\\', 'ud83d']]) {
      expect(stringifyWellFormed(v)).toBe(JSON.stringify(v));
    }
    expect(stringifyWellFormed({ a: ['\\ud83d', '\ud83d'] })).toBe('{"a":["\\\\ud83d","\ufffd"]}');
  });
});

function alertEvent(): AlertEvent {
  return {
    id: '6f1c1d3e-0000-4000-8000-000000000001',
    fingerprint: 'fp-1',
    journey: 'checkout',
    kind: 'segment',
    severity: 'page',
    status: 'firing',
    startsAtMs: 1_763_805_600_000,
    endsAtMs: undefined,
    eventTimeMs: 1_763_805_660_000,
    repeat: false,
    segment: { key: 'customer.tier', value: 'enterprise' },
    objective: { target: 0.995, windowMs: 28 * 86_400_000 },
    errorBudgetRemaining: 0.42,
    burnRates: [{ window: '5m', windowMs: 300_000, burnRate: 20, threshold: 14.4 }],
    attempts: 100,
    failures: 12,
    suspects: [{ dimension: 'service.version:payments', value: '2.5.0', attempts: 50, failures: 12, failureRatio: 0.24, shareOfFailures: 1, lift: 2 }],
    release: undefined,
    exemplarTraceIds: ['4bf92f3577b34da6a3ce929d0e0e4736'],
    owner: 'team-payments',
    runbook: 'https://runbooks.example.com/checkout',
    summary: 'checkout failing for customer.tier=enterprise',
  };
}

describe('alert rows', () => {
  it('are keyed by the event id and keep suspects and release as JSON', () => {
    const e = alertEvent();
    const [a] = lines(encodeAlerts([e]));
    const [b] = lines(encodeAlerts([{ ...e, summary: 'edited' }]));
    expect(/"row_id":(\d+)/.exec(a!)![1]).toBe(/"row_id":(\d+)/.exec(b!)![1]);
    const row = JSON.parse(a!.replace(/^\{"row_id":\d+,/, '{')) as Record<string, unknown>;
    expect(row).toMatchObject({ ends_at: null, segment_key: 'customer.tier', burn_rates: [20], release: '', repeat: 0, objective_window_seconds: 2_419_200 });
    expect(JSON.parse(row.suspects as string)).toEqual(e.suspects);
  });
});

describe('queued batches', () => {
  it('survive the disk codec byte for byte (a re-read batch re-sends the same row ids)', () => {
    const b = encodeAttempts([attempt(), attempt({ startSpanId: id('2222222222222222') })], 'seconds');
    const encoded = rowBatchCodec.encode(b);
    // Written as pieces (header, then the body itself, not a copy of it), read back as one file.
    expect(Array.isArray(encoded) && encoded[1] === b.bodies[0]).toBe(true);
    const back = rowBatchCodec.decode(Buffer.concat(encoded as Uint8Array[]));
    expect(back.rows).toBe(2);
    expect(rowBatchBody(back).equals(rowBatchBody(b))).toBe(true);
    expect(() => rowBatchCodec.decode(new Uint8Array([9, 0, 0, 0, 1]))).toThrow(/not a ClickHouse row batch/);
  });

  it('merge into one INSERT body without joining them; a merged batch survives the disk codec', () => {
    const parts = [encodeSliWindows([window]), encodeSliWindows([window, window])];
    const m = mergeRowBatches(parts);
    expect(m.rows).toBe(3);
    expect(lines(m)).toHaveLength(3);
    // The pieces are the batches' own buffers (no copy), in order.
    expect(m.bodies).toEqual([parts[0]!.bodies[0], parts[1]!.bodies[0]]);
    expect(m.bodies[1]).toBe(parts[1]!.bodies[0]);
    const back = rowBatchCodec.decode(Buffer.concat(rowBatchCodec.encode(m) as Uint8Array[]));
    expect(back.rows).toBe(3);
    expect(rowBatchBody(back).equals(rowBatchBody(m))).toBe(true);
  });

  it('split into any range of rows, across the pieces of a merged batch, without copying (a refused INSERT is split)', () => {
    const odd = attempt({ segments: { note: 'a newline \n and a brace } inside' } });
    const m = mergeRowBatches([encodeAttempts([attempt(), odd], 'seconds'), encodeSliWindows([window]), encodeSliWindows([window, window])]);
    const all = lines(m);
    const index = indexRows(m);
    expect(index.rows).toBe(5);
    for (let from = 0; from < 5; from++) {
      for (let to = from + 1; to <= 5; to++) {
        const part = rowsOf(index, from, to);
        expect(part.rows).toBe(to - from);
        expect(lines(part)).toEqual(all.slice(from, to));
        const within = (body: Buffer) => m.bodies.some((b) => b.buffer === body.buffer && body.byteOffset >= b.byteOffset && body.byteOffset + body.length <= b.byteOffset + b.length);
        expect(part.bodies.every(within)).toBe(true);
      }
    }
  });
});
