/**
 * `pulse journeys test` as a function: recorded OTLP/JSON traces (tests/fixtures/journeys/traces, or written here
 * with encodeTraceRequestJson) through the real journey definitions and data plane, checked through the JSON report
 * and the text a user reads; exit codes for invalid definitions, malformed trace files and bad command lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SpanKind, StatusCode, type Span, type TraceBatch } from '../../../src/core/model.js';
import type { AttemptReport, JourneyTestReport, TraceReport } from '../../../src/journeys/testing/report.js';
import { journeysCommand, runJourneysTest, type CommandValues, type JourneysTestOptions } from '../../../src/journeys/testing/command.js';
import { encodeTraceRequestJson } from '../../../src/otlp/index.js';
import { BASE_TIME_NS, id, makeBatch, makeSpan, toAttributes } from '../../support/traces.js';

const fixtures = fileURLToPath(new URL('../../fixtures/journeys/', import.meta.url));
const definitions = join(fixtures, 'definitions');
const checkoutYaml = join(definitions, 'checkout.yaml');
const recorded = join(fixtures, 'traces/checkout.jsonl');
const lateStart = join(fixtures, 'traces/late-start.json');
const malformed = join(fixtures, 'traces/malformed.jsonl');

const dir = mkdtempSync(join(tmpdir(), 'pulse-journeys-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const traceHex = (n: number) => `4bf92f3577b34da6a3ce929d0e0e${String(n).padStart(4, '0')}`;

async function run(options: Partial<JourneysTestOptions> & Pick<JourneysTestOptions, 'traceFiles'>, stdin?: Readable) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runJourneysTest(
    { journeysPath: definitions, format: 'text', ...options },
    { out: (t) => out.push(t), err: (t) => err.push(t), nowMs: 1_763_805_700_000, ...(stdin ? { stdin } : {}) },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function report(traceFiles: string[], journeysPath = definitions, stdin?: Readable): Promise<JourneyTestReport> {
  const r = await run({ traceFiles, journeysPath, format: 'json' }, stdin);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as JourneyTestReport;
}

function trace(rep: JourneyTestReport, n: number): TraceReport {
  const t = rep.traces.find((x) => x.traceId === traceHex(n));
  expect(t, `trace ${traceHex(n)}`).toBeDefined();
  return t!;
}

function only(t: TraceReport): AttemptReport {
  expect(t.attempts).toHaveLength(1);
  return t.attempts[0]!;
}

describe('journeys test over the recorded checkout traces', () => {
  it('finds a successful checkout with the span behind the start and each step', async () => {
    const a = only(trace(await report([recorded, lateStart]), 1));
    expect(a).toMatchObject({
      journey: 'checkout',
      outcome: 'success',
      reasons: [],
      signals: [],
      failingStep: null,
      segments: { 'customer.tier': 'enterprise', 'cloud.region': 'eu-west-1', release: '5.0.1' },
      durationMs: 300,
      startTime: '2025-11-22T10:00:01.000Z',
      startTimeUnixNano: '1763805601000000000',
      decidedBy: 'complete',
    });
    expect(a.start).toEqual({
      step: 'start',
      name: 'POST /api/checkout',
      service: 'frontend',
      version: '5.0.1',
      spanId: 'a000000000000101',
      parentSpanId: '',
      kind: 'server',
      status: 'unset',
      statusMessage: '',
      durationMs: 300,
      at: `${recorded}:3`,
    });
    expect(a.steps.map((s) => [s.step, s.name, s.service, s.spanId, s.at])).toEqual([
      ['charge', 'charge card', 'payments', 'a000000000000102', `${recorded}:4`],
      ['confirm', 'send email', 'notifier', 'a000000000000103', `${recorded}:5`],
    ]);
  });

  it('reports a failing charge as error:charge with the failing step and its payments version', async () => {
    const a = only(trace(await report([recorded]), 2));
    expect(a.outcome).toBe('failure');
    expect(a.reasons).toEqual(['error:charge']);
    expect(a.failingStep).toEqual({ step: 'charge', service: 'payments', version: '2.8.1' });
    expect(a.steps).toMatchObject([{ step: 'charge', status: 'error', statusMessage: 'card declined', version: '2.8.1' }]);
  });

  it('reports a missing required step as missing_step:charge, decided at the end of the input', async () => {
    const a = only(trace(await report([recorded]), 3));
    expect(a.outcome).toBe('failure');
    expect(a.reasons).toEqual(['missing_step:charge']);
    expect(a.decidedBy).toBe('flush');
    expect(a.steps.map((s) => s.step)).toEqual(['confirm']);
  });

  it('flags a duplicated charge call with the duplicate_calls:charge signal without failing the attempt', async () => {
    const a = only(trace(await report([recorded]), 4));
    expect(a.outcome).toBe('success');
    expect(a.signals).toEqual(['duplicate_calls:charge']);
    expect(a.steps.map((s) => `${s.step}:${s.spanId}`)).toEqual(['charge:a000000000000402', 'charge:a000000000000403', 'confirm:a000000000000404']);
  });

  it('assembles steps recorded on earlier lines than their start', async () => {
    const a = only(trace(await report([recorded]), 5));
    expect(a.outcome).toBe('success');
    expect(a.start.at).toBe(`${recorded}:6`);
    expect(a.steps.map((s) => s.at)).toEqual([`${recorded}:1`, `${recorded}:2`]);
  });

  it('assembles steps recorded in an earlier file than their start; without that file they are in no attempt', async () => {
    const both = only(trace(await report([recorded, lateStart]), 7));
    expect(both.outcome).toBe('success');
    expect(both.start.at).toBe(`${lateStart}:1`);
    expect(both.steps.map((s) => s.step)).toEqual(['charge', 'confirm']);

    const alone = trace(await report([recorded]), 7);
    expect(alone.attempts).toEqual([]);
    expect(alone.unmatchedJourneySpans.map((s) => [s.journey, s.step, s.spanId, s.reason])).toEqual([
      ['checkout', 'charge', 'a000000000000702', 'no start span of journey checkout in this trace'],
      ['checkout', 'confirm', 'a000000000000703', 'no start span of journey checkout in this trace'],
    ]);
  });

  it('lists a step without its start as a journey span in no attempt', async () => {
    const t = trace(await report([recorded, lateStart]), 6);
    expect(t.attempts).toEqual([]);
    expect(t.unmatchedJourneySpans).toMatchObject([{ journey: 'checkout', step: 'charge', name: 'charge card', service: 'payments', at: `${recorded}:1` }]);
  });

  it('lists a journey with no attempts, and the spans that came close to its start', async () => {
    const rep = await report([recorded, lateStart]);
    expect(rep.notes).toEqual([
      {
        journey: 'signup',
        kind: 'no_attempts',
        message:
          'no attempts for journey signup — check its start selector (service "frontend", span "POST /api/signup", kind server): ' +
          '1 span with a matching name in other services: web (1)',
      },
    ]);
    expect(rep.summary.journeys.find((j) => j.journey === 'signup')).toMatchObject({ attempts: 0 });
  });

  it('summarises traces, attempts, outcomes, reasons, signals and segments per journey', async () => {
    const rep = await report([recorded, lateStart]);
    expect(rep.journeys).toEqual({ path: definitions, files: [checkoutYaml, join(definitions, 'signup.yaml')], names: ['checkout', 'signup'] });
    expect(rep.inputs).toEqual([
      { file: recorded, format: 'jsonl', requests: 6, spans: 19, rejectedSpans: 0 },
      { file: lateStart, format: 'document', requests: 1, spans: 1, rejectedSpans: 0 },
    ]);
    // Traces in order of their first journey span; trace 8 (the sign-up served by "web") has none.
    expect(rep.traces.map((t) => t.traceId)).toEqual([5, 6, 7, 1, 2, 3, 4].map(traceHex));
    const { journeys, ...totals } = rep.summary;
    expect(totals).toEqual({
      traces: 8,
      tracesWithJourneySpans: 7,
      spans: 20,
      journeySpans: 18,
      attempts: 6,
      successes: 4,
      failures: 2,
      unmatchedJourneySpans: 1,
      duplicateSpans: 0,
      retaggedSpans: 0,
    });
    expect(journeys[0]).toEqual({
      journey: 'checkout',
      attempts: 6,
      successes: 4,
      failures: 2,
      failuresByReason: { 'error:charge': 1, 'missing_step:charge': 1 },
      signals: { 'duplicate_calls:charge': 1 },
      unmatchedSpans: 1,
      segments: {
        'customer.tier': {
          pro: { attempts: 2, successes: 2, failures: 0 },
          enterprise: { attempts: 3, successes: 2, failures: 1 },
          free: { attempts: 1, successes: 0, failures: 1 },
        },
        'cloud.region': { 'eu-west-1': { attempts: 6, successes: 4, failures: 2 } },
        release: { '5.0.1': { attempts: 6, successes: 4, failures: 2 } },
      },
    });
  });

  it('prints a readable report: marks, reasons, failing step, spans, notes and a summary', async () => {
    const r = await run({ traceFiles: [recorded, lateStart] });
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`journeys: ${definitions} (2 journeys: checkout, signup)`);
    expect(lines).toContain(`trace ${traceHex(2)}`);
    expect(lines).toContain('  ✗ checkout  failure: error:charge  (300 ms, started 2025-11-22T10:00:02.000Z)');
    expect(lines).toContain('      failing step  charge in payments 2.8.1');
    expect(lines).toContain(
      `      charge  charge card         payments 2.8.1  span a000000000000202  error: "card declined"  100 ms  ${recorded}:4`,
    );
    expect(lines).toContain('  ✓ checkout  success  (300 ms, started 2025-11-22T10:00:01.000Z)');
    expect(lines).toContain('      failing step  charge (missing; expected in payments)');
    expect(lines).toContain('      signals   duplicate_calls:charge');
    expect(lines.some((l) => l.includes('checkout/charge  charge card') && l.endsWith('— no start span of journey checkout in this trace'))).toBe(true);
    expect(lines).toContain('  ! no attempts for journey signup — check its start selector (service "frontend", span "POST /api/signup", kind server): 1 span with a matching name in other services: web (1)');
    expect(lines).toContain('summary: 8 traces (7 with journey spans), 6 attempts: 4 succeeded, 2 failed; 1 journey span in no attempt');
    expect(lines).toContain(
      '  checkout  6 attempts: 4 succeeded, 2 failed (error:charge ×1, missing_step:charge ×1); signals: duplicate_calls:charge ×1; 1 span in no attempt',
    );
    expect(lines).toContain('            customer.tier: pro 2/2 ok, enterprise 2/3 ok, free 0/1 ok');
    expect(lines).toContain('  signup    no attempts');
  });
});

// ---- traces written by the test ------------------------------------------------------------------------------

const frontend = { 'service.name': 'frontend', 'service.version': '5.0.1', 'cloud.region': 'eu-west-1' };
const payments = { 'service.name': 'payments', 'service.version': '2.8.0' };
const T1 = id('0af7651916cd43dd8448eb211c800001');

function startSpan(partial: Partial<Span> = {}): Span {
  return makeSpan({
    traceId: T1,
    spanId: id('b000000000000001'),
    name: 'POST /api/checkout',
    kind: SpanKind.SERVER,
    endTimeUnixNano: BASE_TIME_NS + 250_000_000n,
    attributes: toAttributes({ 'http.request.method': 'POST', 'http.response.status_code': 200n, 'customer.tier': 'pro' }),
    ...partial,
  });
}

function chargeSpan(partial: Partial<Span> = {}): Span {
  return makeSpan({ traceId: T1, spanId: id('b000000000000002'), parentSpanId: id('b000000000000001'), name: 'charge card', kind: SpanKind.SERVER, ...partial });
}

function jsonl(name: string, batches: TraceBatch[]): string {
  return file(name, batches.map((b) => `${encodeTraceRequestJson(b)}\n`).join(''));
}

describe('trace files', () => {
  it('reads one pretty-printed JSON document and JSON Lines alike', async () => {
    const batch = (): TraceBatch => ({
      resourceSpans: [...makeBatch([startSpan()], frontend).resourceSpans, ...makeBatch([chargeSpan()], payments).resourceSpans],
      spanCount: 2,
    });
    const lines = jsonl('one.jsonl', [batch()]);
    const pretty = file('one.json', `\ufeff\n${JSON.stringify(JSON.parse(encodeTraceRequestJson(batch())), null, 2).replace(/\n/g, '\r\n')}\r\n`);
    const a = await report([lines], checkoutYaml);
    const b = await report([pretty], checkoutYaml);
    expect(a.inputs[0]).toMatchObject({ format: 'jsonl', requests: 1, spans: 2 });
    expect(b.inputs[0]).toMatchObject({ format: 'document', requests: 1, spans: 2 });
    const strip = (r: JourneyTestReport) => JSON.stringify(r.traces).replaceAll(lines, 'F').replaceAll(`${pretty}:2`, `F:1`);
    expect(strip(b)).toBe(strip(a));
    expect(only(a.traces[0]!)).toMatchObject({ outcome: 'success', steps: [{ step: 'charge' }] });
  });

  it('reads standard input for "-"', async () => {
    const text = `${encodeTraceRequestJson(makeBatch([startSpan()], frontend))}\n${encodeTraceRequestJson(makeBatch([chargeSpan()], payments))}\n`;
    const rep = await report(['-'], checkoutYaml, Readable.from([text]));
    expect(rep.inputs).toEqual([{ file: '(stdin)', format: 'jsonl', requests: 2, spans: 2, rejectedSpans: 0 }]);
    expect(only(rep.traces[0]!).start.at).toBe('(stdin):1');
  });

  it('exits 2 naming file:line for every malformed line, and evaluates nothing', async () => {
    const r = await run({ traceFiles: [malformed, recorded] });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.split('\n')).toEqual([
      `${malformed}:2:121: invalid JSON: Unterminated string in JSON at position 120 (each line must be one whole OTLP/JSON request)`,
      `${malformed}:3: not an OTLP/JSON traces request: it has no "resourceSpans" (is this an attempts or metrics recording? pass the recorded traces)`,
      'pulse journeys test: the trace files cannot be used as they are (see above); nothing was evaluated',
    ]);
  });

  it('names the position of a problem in a pretty-printed document and the JSON path of a wrong value', async () => {
    const doc = file('bad.json', '{\n  "resourceSpans": [\n    { "resource": {}, }\n  ]\n}\n');
    const wrong = file('wrong.jsonl', '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c800001","spanId":"b000000000000001","startTimeUnixNano":true}]}]}]}\n');
    const r = await run({ traceFiles: [doc, wrong] });
    expect(r.code).toBe(2);
    const lines = r.err.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${doc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:23: invalid JSON: `));
    expect(lines[1]).toBe(
      `${wrong}:1: invalid OTLP/JSON: resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected a 64-bit integer as a string or number, got true (each line must be one whole OTLP/JSON request)`,
    );
  });

  it('exits 2 for a missing file or a directory given as a trace file', async () => {
    const missing = join(dir, 'nope.jsonl');
    const r = await run({ traceFiles: [missing, dir] });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${missing}: cannot read the trace file: no such file or directory`);
    expect(r.err).toContain(`${dir}: is a directory: pass the recorded files themselves`);
  });

  it('warns about spans the decoder left out and about an empty file, and still reports', async () => {
    const zeroTrace = jsonl('zero.jsonl', [makeBatch([startSpan({ traceId: id('00000000000000000000000000000000') })], frontend)]);
    const empty = file('empty.jsonl', '\n\n');
    const rep = await report([zeroTrace, empty], checkoutYaml);
    expect(rep.warnings).toEqual([
      `${zeroTrace}:1: warning: 1 span rejected: traceId must be 32 hex digits (16 bytes) and not all zero (first at resourceSpans[0].scopeSpans[0].spans[0]); left out of the test`,
      `${empty}: warning: holds no OTLP/JSON request (the file is empty)`,
    ]);
    expect(rep.summary.attempts).toBe(0);
  });
});

describe('journey definitions', () => {
  it('exits 1 with every issue at file:line:col, sorted, and reads no traces', async () => {
    const broken = join(fixtures, 'broken');
    const r = await run({ journeysPath: broken, traceFiles: [join(dir, 'never-read.jsonl')] });
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    const file = join(broken, 'checkout.yaml');
    expect(r.out.split('\n')).toEqual([
      `${file}:6:3: metadata: unknown key "descripton" (did you mean "description"?)`,
      `${file}:11:11: spec.start.kind: must be one of server, client, internal, producer, consumer, got "srever" (did you mean "server"?)`,
      `${file}:18:19: spec.success.max_duration: "2 seconds" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h`,
      `${broken}: 3 errors; nothing was tested`,
    ]);
    const json = await run({ journeysPath: broken, traceFiles: [], format: 'json' });
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.out) as { valid: boolean; issues: Array<{ file: string; line: number; col: number; severity: string }> };
    expect(parsed.valid).toBe(false);
    expect(parsed.issues.map((i) => `${i.line}:${i.col}:${i.severity}`)).toEqual(['6:3:error', '11:11:error', '18:19:error']);
  });

  it('notes a step that matched no span, a segment that never had a value, and near misses of kind and where', async () => {
    const journeys = file(
      'notes.yaml',
      [
        'apiVersion: pulse/v1',
        'kind: Journey',
        'metadata: { name: checkout, owner: team-payments }',
        'spec:',
        '  start: { service: frontend, span: "POST /api/checkout", kind: server, where: { http.request.method: POST } }',
        '  steps:',
        '    - { name: charge, service: payments, span: "charge card", kind: server }',
        '  segments: [customer.teir]',
        '---',
        'apiVersion: pulse/v1',
        'kind: Journey',
        'metadata: { name: refund, owner: team-payments }',
        'spec:',
        '  start: { service: frontend, span: "POST /api/refund", kind: server, where: { http.request.method: POST } }',
        '',
      ].join('\n'),
    );
    const traces = jsonl('notes.jsonl', [
      makeBatch(
        [
          startSpan(),
          startSpan({ traceId: id('0af7651916cd43dd8448eb211c800002'), name: 'POST /api/refund', kind: SpanKind.CLIENT }),
          startSpan({ traceId: id('0af7651916cd43dd8448eb211c800003'), name: 'POST /api/refund', attributes: toAttributes({ 'http.request.method': 'GET' }) }),
        ],
        frontend,
      ),
      makeBatch([chargeSpan({ kind: SpanKind.CLIENT })], payments),
    ]);
    const rep = await report([traces], journeys);
    expect(rep.notes.map((n) => [n.journey, n.kind, n.message])).toEqual([
      [
        'checkout',
        'step_never_matched',
        'step charge of journey checkout matched no span in its 1 attempt — check its selector (service "payments", span "charge card", kind server): 1 span with kind client instead of server',
      ],
      [
        'checkout',
        'segment_never_set',
        'segment customer.teir of journey checkout has no value in any of its 1 attempt: no start span, its resource or a step span has the attribute "customer.teir"',
      ],
      [
        'refund',
        'no_attempts',
        'no attempts for journey refund — check its start selector (service "frontend", span "POST /api/refund", kind server, where http.request.method == "POST"): ' +
          '1 span with kind client instead of server; 1 span where http.request.method == "POST" does not hold',
      ],
    ]);
  });

  it('ignores journey.* tags already in the recording and tags with the definitions under test', async () => {
    const stale = makeSpan({ traceId: T1, name: 'GET /health', attributes: toAttributes({ 'journey.name': 'checkout', 'journey.step': 'start' }) });
    const rep = await report([jsonl('stale.jsonl', [makeBatch([stale, startSpan()], frontend)])], checkoutYaml);
    expect(rep.summary).toMatchObject({ spans: 2, journeySpans: 1, attempts: 1, retaggedSpans: 1, duplicateSpans: 0 });
    expect(only(rep.traces[0]!).start.name).toBe('POST /api/checkout');
  });

  it('reports each start of a trace as its own attempt, and counts a span recorded twice once', async () => {
    const retry = startSpan({
      spanId: id('b000000000000009'),
      startTimeUnixNano: BASE_TIME_NS + 1_000_000_000n,
      endTimeUnixNano: BASE_TIME_NS + 1_100_000_000n,
      statusCode: StatusCode.ERROR,
    });
    const twice = makeBatch([startSpan(), retry], frontend);
    const rep = await report([jsonl('retry.jsonl', [twice, makeBatch([startSpan()], frontend)])], checkoutYaml);
    const t = rep.traces[0]!;
    expect(t.attempts.map((a) => [a.start.spanId, a.outcome, a.reasons.join(',')])).toEqual([
      ['b000000000000001', 'failure', 'missing_step:charge'],
      ['b000000000000009', 'failure', 'error:start,missing_step:charge'],
    ]);
    expect(rep.summary.duplicateSpans).toBe(1);
  });
});

describe('the journeys command line', () => {
  async function command(positionals: string[], values: CommandValues) {
    const err: string[] = [];
    const code = await journeysCommand({ positionals, values: { format: 'text', ...values } }, { out: () => undefined, err: (t) => err.push(t) });
    return { code, err: err.join('\n') };
  }

  it('exits 2 with usage for a missing or unknown subcommand, missing flags, a stray word or a bad format', async () => {
    const cases: Array<[string[], CommandValues, string]> = [
      [[], {}, 'no subcommand given'],
      [['tset'], {}, 'unknown subcommand "tset"'],
      [['test'], { traces: ['a.jsonl'] }, '--journeys <dir|file> is required'],
      [['test'], { journeys: definitions }, '--traces <file...> is required'],
      [['test', 'a.jsonl'], { journeys: definitions }, 'unexpected argument "a.jsonl" (trace files follow --traces)'],
      [['test'], { journeys: definitions, traces: ['a.jsonl'], format: 'yaml' }, '--format must be text or json, got "yaml"'],
    ];
    for (const [positionals, values, message] of cases) {
      const r = await command(positionals, values);
      expect(r.code, message).toBe(2);
      expect(r.err).toContain(message);
      expect(r.err).toContain('Usage: pulse journeys test --journeys <dir|file> --traces <file...> [--format text|json]');
    }
  });

  it('takes the words after --traces as more trace files, in order', async () => {
    const out: string[] = [];
    const code = await journeysCommand(
      { positionals: ['test', lateStart], values: { journeys: definitions, traces: [recorded], format: 'json' } },
      { out: (t) => out.push(t), err: () => undefined },
    );
    expect(code).toBe(0);
    expect((JSON.parse(out.join('')) as JourneyTestReport).inputs.map((i) => i.file)).toEqual([recorded, lateStart]);
  });
});
