/**
 * The journeys connector split across two threads: the main side's `SpanRelay` (collect captures, one message per
 * batch, bounded in-flight spans), the worker side's `unpackRelayed`, and `Assembler.addRecord`, which files the
 * relayed captures with the same decisions `Assembler.add` makes for the spans themselves, also across a reload.
 */
import { describe, expect, it } from 'vitest';
import type { ThreadLink } from '../../../src/core/component.js';
import { RetryableError, type PulseError } from '../../../src/core/errors.js';
import { StatusCode, type AnyValue, type Span } from '../../../src/core/model.js';
import { SpanRelay, relayedCount, unpackRelayed, type RelayMessage } from '../../../src/connectors/journeys/relay.js';
import type { AttemptRecord, CompiledJourney } from '../../../src/journeys/model.js';
import { Assembler, type AssemblerEvents, type AssemblerOptions } from '../../../src/journeys/runtime/assembler.js';
import { START_ROLE, type Candidate } from '../../../src/journeys/runtime/matcher-index.js';
import { captureSpan, SpanRecord } from '../../../src/journeys/runtime/span-record.js';
import { BASE_TIME_NS, toAttributes } from '../../support/traces.js';
import { FRONTEND, NOTIFIER, PAYMENTS, checkoutJourney, checkoutSpans, journey, span, traceId } from '../journeys/runtime/support.js';

const NOW = 1_000_000;

/** The main side's view of the worker: records posts, and lets the test answer through `listen`. */
class FakeLink implements ThreadLink {
  readonly side = 'main' as const;
  readonly posted: Array<{ to: string; message: unknown }> = [];
  private readonly listeners = new Map<string, (m: unknown) => void>();
  post(to: string, message: unknown): void {
    this.posted.push({ to, message });
  }
  listen(id: string, handler: (m: unknown) => void): () => void {
    this.listeners.set(id, handler);
    return () => {
      if (this.listeners.get(id) === handler) this.listeners.delete(id);
    };
  }
  /** A message from the worker side to `id`. */
  answer(id: string, message: unknown): void {
    this.listeners.get(id)?.(message);
  }
  /** The last message posted, structured-cloned as crossing the thread does. */
  lastCloned(): RelayMessage {
    return structuredClone(this.posted.at(-1)!.message) as RelayMessage;
  }
}

/** The candidate a matcher index would report: `role` is START_ROLE or a step index. */
function candidate(journey: CompiledJourney, journeyOrder: number, role: number): Candidate {
  return {
    journey,
    journeyOrder,
    role,
    stepName: role === START_ROLE ? 'start' : journey.steps[role]!.name,
    selector: role === START_ROLE ? journey.start : journey.steps[role]!.selector,
  };
}

function stepRole(journey: CompiledJourney, name: string): number {
  if (name === 'start') return START_ROLE;
  const i = journey.steps.findIndex((s) => s.name === name);
  if (i < 0) throw new Error(`no step ${name} in ${journey.name}`);
  return i;
}

/** A plain record: `spanId`, role (start by default), the rest at simple defaults. */
function record(spanId: string, role: number = START_ROLE): SpanRecord {
  return new SpanRecord(spanId, '', role, BASE_TIME_NS, BASE_TIME_NS + 1n, 0, 'svc', '', undefined, []);
}

// ---- SpanRelay (main side) -------------------------------------------------------------------------------------

describe('SpanRelay', () => {
  const j = checkoutJourney();
  const r1 = record('span-1');
  const r2 = record('span-2', 0);

  it('posts nothing for a batch that captured nothing', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    relay.send(1, NOW);
    expect(link.posted).toEqual([]);
    expect(relay.pending).toBe(0);
  });

  it('tells the worker of requests refused for overload: with the next captures, or alone when nothing was captured', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    relay.captured(candidate(j, 0, START_ROLE), 'trace-a', r1);
    relay.send(1, NOW, 3);
    expect(link.lastCloned().refusals).toBe(3);
    relay.send(1, NOW + 1, 3); // nothing captured, nothing new
    expect(link.posted).toHaveLength(1);
    relay.send(1, NOW + 2, 5); // nothing captured, but 2 more refusals: the worker must know now
    expect(link.posted).toHaveLength(2);
    expect(link.lastCloned()).toMatchObject({ refusals: 5, nowMs: NOW + 2, spans: [] });
    expect(relay.pending).toBe(1);
  });

  it('posts one message per batch, to its own id, with the generation, the arrival time and every capture', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys/eu');
    relay.captured(candidate(j, 0, START_ROLE), 'trace-a', r1);
    relay.captured(candidate(j, 0, 0), 'trace-a', r2);
    relay.send(7, NOW);
    expect(link.posted).toHaveLength(1);
    expect(link.posted[0]!.to).toBe('journeys/eu');
    const message = link.lastCloned();
    expect(message.generation).toBe(7);
    expect(message.nowMs).toBe(NOW);
    expect(relayedCount(message)).toBe(2);
    expect(relay.pending).toBe(2);

    // The next batch starts empty: nothing is sent twice.
    relay.send(7, NOW + 1);
    expect(link.posted).toHaveLength(1);
    relay.captured(candidate(j, 0, 0), 'trace-b', record('span-3', 0));
    relay.send(8, NOW + 2);
    expect(link.posted).toHaveLength(2);
    const second = link.lastCloned();
    expect(relayedCount(second)).toBe(1);
    expect(second.generation).toBe(8);
    expect(relay.pending).toBe(3);
  });

  it('refuses new batches with a retryable PULSE_ERR_BUSY once maxInFlight spans are unacknowledged, and admits again after acks', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys', 3);
    relay.admit();
    relay.captured(candidate(j, 0, START_ROLE), 't', r1);
    relay.captured(candidate(j, 0, 0), 't', r2);
    relay.send(1, NOW);
    relay.admit(); // 2 < 3
    relay.captured(candidate(j, 0, 1), 't', record('span-3', 1));
    relay.send(1, NOW);
    expect(relay.pending).toBe(3);

    let thrown: unknown;
    try {
      relay.admit();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RetryableError);
    expect((thrown as PulseError).code).toBe('PULSE_ERR_BUSY');
    // Pulse's own overload, not a failing destination: 429 / RESOURCE_EXHAUSTED, and the receivers shed load
    expect((thrown as RetryableError).resourceExhausted).toBe(true);
    expect((thrown as PulseError).message).toContain('journeys');

    link.answer('journeys', { ack: 1 });
    expect(relay.pending).toBe(2);
    expect(() => relay.admit()).not.toThrow();
  });

  it('never counts below zero when more is acknowledged than was sent', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys', 2);
    relay.captured(candidate(j, 0, START_ROLE), 't', r1);
    relay.send(1, NOW);
    link.answer('journeys', { ack: 5 });
    expect(relay.pending).toBe(0);
    relay.captured(candidate(j, 0, START_ROLE), 't', r1);
    relay.captured(candidate(j, 0, 0), 't', r2);
    relay.send(1, NOW);
    expect(relay.pending).toBe(2);
    expect(() => relay.admit()).toThrow(RetryableError);
  });

  it('stops listening for acks after close()', () => {
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    relay.captured(candidate(j, 0, START_ROLE), 't', r1);
    relay.send(1, NOW);
    relay.close();
    link.answer('journeys', { ack: 1 });
    expect(relay.pending).toBe(1);
  });
});

// ---- unpackRelayed (worker side) -------------------------------------------------------------------------------

interface Unpacked {
  journey: CompiledJourney;
  stepName: string;
  traceId: string;
  record: SpanRecord;
  nowMs: number;
}

function unpack(message: RelayMessage, journeys: readonly CompiledJourney[]): Unpacked[] {
  const out: Unpacked[] = [];
  unpackRelayed(message, journeys, (journey, stepName, traceId, record, nowMs) => out.push({ journey, stepName, traceId, record, nowMs }));
  return out;
}

describe('relay round trip through structuredClone', () => {
  it('delivers every SpanRecord field intact, with its journey, step name, trace id and arrival time', () => {
    const checkout = checkoutJourney();
    const signup = journey({ name: 'signup', start: { service: 'frontend', span: 'POST /api/signup' }, steps: [{ name: 'verify' }] });
    const records: Array<[Candidate, string, SpanRecord]> = [
      // A start span with a failed success.where, segments with holes, times above 2^53.
      [
        candidate(checkout, 0, START_ROLE),
        'trace-1',
        new SpanRecord('s-start', '', START_ROLE, BASE_TIME_NS + 123n, BASE_TIME_NS + 987_654_321n, StatusCode.OK, 'frontend', '5.0.1', [undefined, 'eu-west-1', undefined], [
          'http.response.status_code < 500',
          'http.request.method == POST',
        ]),
      ],
      // A step without segments and without failures.
      [candidate(checkout, 0, 0), 'trace-1', new SpanRecord('s-charge', 's-start', 0, BASE_TIME_NS, BASE_TIME_NS + 50n, StatusCode.ERROR, 'payments', '', undefined, [])],
      // The second step of the same journey; segments set at the last dimension only.
      [candidate(checkout, 0, 1), 'trace-1', new SpanRecord('s-confirm', 's-start', 1, 1n, 2n, StatusCode.UNSET, 'notifier', '7.1.0', [undefined, undefined, 'gold'], [])],
      // Another journey of the snapshot (journeyOrder 1), another trace.
      [candidate(signup, 1, 0), 'trace-2', new SpanRecord('s-verify', 'p', 0, 0n, 18_446_744_073_709_551_615n, 0, 'auth', '1', ['x'], [])],
    ];
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    for (const [c, t, r] of records) relay.captured(c, t, r);
    relay.send(3, NOW + 42);

    const message = link.lastCloned();
    expect(relayedCount(message)).toBe(4);
    const got = unpack(message, [checkout, signup]);
    expect(got.map((u) => [u.journey, u.stepName, u.traceId, u.nowMs])).toEqual([
      [checkout, 'start', 'trace-1', NOW + 42],
      [checkout, 'charge', 'trace-1', NOW + 42],
      [checkout, 'confirm', 'trace-1', NOW + 42],
      [signup, 'verify', 'trace-2', NOW + 42],
    ]);
    expect(got.map((u) => u.journey)[3]).toBe(signup);
    for (let i = 0; i < records.length; i++) {
      const sent = records[i]![2];
      const received = got[i]!.record;
      expect(received).toBeInstanceOf(SpanRecord);
      expect(received).toStrictEqual(sent);
      expect(typeof received.startNs).toBe('bigint');
    }
    expect(got[0]!.record.segments).toHaveLength(3);
    expect(got[0]!.record.whereFailures).toEqual(['http.response.status_code < 500', 'http.request.method == POST']);
    expect(got[1]!.record.segments).toBeUndefined();
    expect(got[1]!.record.whereFailures).toEqual([]);
  });

  it('round-trips what captureSpan records from real spans', () => {
    const checkout = checkoutJourney();
    const t = traceId(101);
    const { start, charge } = checkoutSpans(t, { tier: 'enterprise', status: 503n });
    const startRecord = captureSpan(checkout, START_ROLE, start, toAttributes(FRONTEND), 'frontend', '5.0.1');
    const chargeRecord = captureSpan(checkout, 0, charge, toAttributes(PAYMENTS), 'payments', '2.8.0');
    expect(startRecord.whereFailures).toEqual(['http.response.status_code < 500']);
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    relay.captured(candidate(checkout, 0, START_ROLE), t, startRecord);
    relay.captured(candidate(checkout, 0, 0), t, chargeRecord);
    relay.send(1, NOW);
    const got = unpack(link.lastCloned(), [checkout]);
    expect(got.map((u) => u.record)).toStrictEqual([startRecord, chargeRecord]);
    expect(got.map((u) => u.traceId)).toEqual([t, t]);
  });

  it('skips spans of a journey the given snapshot does not have, and hands over the rest', () => {
    const a = journey({ name: 'a', start: {} });
    const b = journey({ name: 'b', start: {} });
    const link = new FakeLink();
    const relay = new SpanRelay(link, 'journeys');
    relay.captured(candidate(a, 0, START_ROLE), 't', record('x'));
    relay.captured(candidate(b, 1, START_ROLE), 't', record('y'));
    relay.send(1, NOW);
    const message = link.lastCloned();
    const got = unpack(message, [a]);
    expect(got.map((u) => u.record.spanId)).toEqual(['x']);
    // Acknowledged are all spans of the message, used or not.
    expect(relayedCount(message)).toBe(2);
  });
});

// ---- Assembler.addRecord -----------------------------------------------------------------------------------------

const OPTIONS: AssemblerOptions = { traceWaitMs: 10_000, settleDelayMs: 500, maxPendingAttempts: 100 };

/** Everything the assembler reports, in order. */
function recordingAssembler(options: AssemblerOptions = OPTIONS) {
  const log: unknown[] = [];
  const decided: Array<{ journey: CompiledJourney; record: AttemptRecord }> = [];
  const events: AssemblerEvents = {
    decided: (journey, rec, delayMs) => {
      decided.push({ journey, record: rec });
      log.push(['decided', journey.name, rec, delayMs]);
    },
    orphanSteps: (j, n) => log.push(['orphanSteps', j, n]),
    abandoned: (j, n) => log.push(['abandoned', j, n]),
    abandonedAttempt: (j, start) => log.push(['abandonedAttempt', j.name, start.spanId]),
    waitExtended: (j) => log.push(['waitExtended', j]),
    lateSpan: (j) => log.push(['lateSpan', j]),
    evicted: (j, n) => log.push(['evicted', j, n]),
    duplicateSpan: (j) => log.push(['duplicateSpan', j]),
    overflowSpan: (j) => log.push(['overflowSpan', j]),
  };
  return { assembler: new Assembler(options, events), log, decided };
}

type Step =
  | { readonly span: Span; readonly resource: Record<string, AnyValue>; readonly journey: CompiledJourney; readonly order: number; readonly step: string; readonly atMs: number }
  | { readonly tick: number }
  | { readonly flush: number; readonly incomplete?: 'decide' | 'abandon' };

function serviceOf(resource: Record<string, AnyValue>): [string, string] {
  const service = resource['service.name'];
  const version = resource['service.version'];
  return [typeof service === 'string' ? service : '', typeof version === 'string' ? version : ''];
}

type Path = 'add' | 'addRecord' | 'relay';

/**
 * Feeds `steps` to a fresh assembler by one path: `add` (the span itself), `addRecord` (captured with the
 * matching definition, as the main thread does) or `relay` (captured, sent by a SpanRelay, structured-cloned,
 * unpacked with the snapshot `journeys`, then `addRecord`). Returns the assembler's event log.
 */
function drive(path: Path, steps: readonly Step[], journeys: readonly CompiledJourney[], options?: AssemblerOptions) {
  const rec = recordingAssembler(options);
  const { assembler } = rec;
  const link = new FakeLink();
  const relay = new SpanRelay(link, 'journeys');
  for (const s of steps) {
    if ('tick' in s) assembler.tick(s.tick);
    else if ('flush' in s) assembler.flush(s.flush, s.incomplete);
    else {
      const role = stepRole(s.journey, s.step);
      const c = candidate(s.journey, s.order, role);
      const attrs = toAttributes(s.resource);
      const [service, version] = serviceOf(s.resource);
      if (path === 'add') {
        assembler.add(c, s.span, attrs, service, version, s.atMs);
        continue;
      }
      const captured = captureSpan(s.journey, role, s.span, attrs, service, version);
      if (path === 'addRecord') {
        assembler.addRecord(s.journey, s.step, s.span.traceId, captured, s.atMs);
        continue;
      }
      relay.captured(c, s.span.traceId, captured);
      relay.send(1, s.atMs);
      const sent = link.lastCloned();
      unpackRelayed(sent, journeys, (j, stepName, t, r, nowMs) => assembler.addRecord(j, stepName, t, r, nowMs));
      link.answer('journeys', { ack: relayedCount(sent) });
    }
  }
  expect(relay.pending).toBe(0);
  return rec;
}

/** Runs every path and checks they report the same; returns the `add` path's report. */
function samePerPath(steps: readonly Step[], journeys: readonly CompiledJourney[], options?: AssemblerOptions) {
  const viaAdd = drive('add', steps, journeys, options);
  expect(drive('addRecord', steps, journeys, options).log).toEqual(viaAdd.log);
  expect(drive('relay', steps, journeys, options).log).toEqual(viaAdd.log);
  return viaAdd;
}

describe('Assembler.addRecord makes the decisions add() makes', () => {
  const checkout = checkoutJourney();
  const at = (span: Span, resource: Record<string, AnyValue>, step: string, atMs: number, j: CompiledJourney = checkout, order = 0): Step => ({
    span,
    resource,
    journey: j,
    order,
    step,
    atMs,
  });

  it('a complete attempt whose steps arrive before the start, decided after the settle delay, with segments', () => {
    const { start, charge, confirm } = checkoutSpans(traceId(201), { tier: 'enterprise' });
    const { decided } = samePerPath(
      [at(confirm, NOTIFIER, 'confirm', NOW), at(charge, PAYMENTS, 'charge', NOW + 100), { tick: NOW + 5000 }, at(start, FRONTEND, 'start', NOW + 6000), { tick: NOW + 6500 }],
      [checkout],
    );
    expect(decided.map((d) => d.record)).toMatchObject([
      {
        outcome: 'success',
        decidedBy: 'complete',
        segments: { 'customer.tier': 'enterprise', 'cloud.region': 'eu-west-1', release: '5.0.1' },
        startTimeUnixNano: BASE_TIME_NS,
      },
    ]);
    expect(decided[0]!.record.spans.map((s) => s.step)).toEqual(['start', 'charge', 'confirm']);
  });

  it('failures: a missing required step at timeout, an error, a broken success.where and a slow start', () => {
    const t1 = checkoutSpans(traceId(202), { status: 503n, durationMs: 3000 });
    const t2 = checkoutSpans(traceId(203), { chargeError: true });
    const { decided } = samePerPath(
      [
        at(t1.start, FRONTEND, 'start', NOW),
        at(t1.confirm, NOTIFIER, 'confirm', NOW),
        at(t2.start, FRONTEND, 'start', NOW + 1),
        at(t2.charge, PAYMENTS, 'charge', NOW + 2),
        { tick: NOW + 10_000 },
      ],
      [checkout],
    );
    expect(decided.map((d) => [d.record.traceId, d.record.outcome, d.record.reasons, d.record.decidedBy])).toEqual([
      [traceId(203), 'failure', expect.arrayContaining([expect.stringMatching(/error/)]), 'complete'],
      [traceId(202), 'failure', expect.arrayContaining(['missing_step:charge', 'slow', 'where:http.response.status_code < 500']), 'timeout'],
    ]);
  });

  it('duplicates, late spans, a retry after the decision and orphan steps', () => {
    const t = traceId(204);
    const first = checkoutSpans(t);
    const retry = span({ trace: t, name: 'POST /api/checkout', kind: first.start.kind, attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200n } });
    const orphan = checkoutSpans(traceId(205));
    const { log, decided } = samePerPath(
      [
        at(first.start, FRONTEND, 'start', NOW),
        at(first.start, FRONTEND, 'start', NOW + 1), // re-sent: duplicate
        at(first.charge, PAYMENTS, 'charge', NOW + 2),
        at(orphan.charge, PAYMENTS, 'charge', NOW + 3),
        { tick: NOW + 600 },
        at(first.confirm, NOTIFIER, 'confirm', NOW + 700), // after the decision: late
        at(first.start, FRONTEND, 'start', NOW + 701), // the same start again: late
        at(retry, FRONTEND, 'start', NOW + 702), // a new start in a decided trace: a new attempt
        { flush: NOW + 800 },
      ],
      [checkout],
    );
    expect(log.filter((e) => (e as unknown[])[0] !== 'decided')).toEqual([
      ['duplicateSpan', 'checkout'],
      ['lateSpan', 'checkout'],
      ['lateSpan', 'checkout'],
      ['orphanSteps', 'checkout', 1],
    ]);
    expect(decided.map((d) => [d.record.startSpanId, d.record.decidedBy])).toEqual([
      [first.start.spanId, 'complete'],
      [retry.spanId, 'flush'],
    ]);
  });

  it('two journeys of one snapshot, and eviction past max_pending_attempts', () => {
    const payment = journey({ name: 'payment', start: { service: 'payments', span: 'charge card' }, segments: ['service.version'] });
    const a = checkoutSpans(traceId(206));
    const b = checkoutSpans(traceId(207));
    const { log } = samePerPath(
      [
        at(a.start, FRONTEND, 'start', NOW),
        at(a.charge, PAYMENTS, 'charge', NOW + 1),
        at(a.charge, PAYMENTS, 'start', NOW + 1, payment, 1),
        at(b.start, FRONTEND, 'start', NOW + 2), // third pending group: the oldest trace is decided at once
        { flush: NOW + 3, incomplete: 'abandon' },
      ],
      [checkout, payment],
      { ...OPTIONS, maxPendingAttempts: 2 },
    );
    expect(log.map((e) => (e as unknown[]).slice(0, 2))).toEqual([
      // The oldest trace is evicted with every journey's attempt in it.
      ['evicted', 'checkout'],
      ['decided', 'checkout'],
      ['evicted', 'payment'],
      ['decided', 'payment'],
      ['abandoned', 'checkout'],
      ['abandonedAttempt', 'checkout'], // for its SLI window
    ]);
  });
});

describe('Assembler.addRecord across a reload', () => {
  // The definition a pending attempt started with…
  const before = checkoutJourney();
  // …and the reloaded one: steps in another order plus a new one, segments reordered, renamed and one dropped.
  const after = checkoutJourney({
    steps: [
      { name: 'confirm', service: 'notifier', span: { regex: '^send (email|sms)$' } },
      { name: 'refund', service: 'payments', span: 'refund' },
      { name: 'charge', service: 'payments', span: 'charge card', required: true, maxCalls: 1 },
    ],
    segments: [{ name: 'region', attribute: 'cloud.region' }, 'customer.tier'],
  });
  const FRONTEND_NO_REGION = { 'service.name': 'frontend', 'service.version': '5.0.1' };

  function reloadScenario() {
    const t = traceId(301);
    const { start, confirm } = checkoutSpans(t);
    const charge = span({ trace: t, name: 'charge card', parent: start.spanId, atMs: 10, attributes: { 'customer.tier': 'gold', 'cloud.region': 'us-east-1' } });
    const refund = span({ trace: t, name: 'refund', parent: start.spanId, atMs: 20 });
    return { t, start, confirm, charge, refund };
  }

  it('files a record captured with the new definition into the old attempt under the step of the same name, moving segments by attribute', () => {
    const { t, start, confirm, charge, refund } = reloadScenario();
    const { assembler, decided, log } = recordingAssembler();
    assembler.addRecord(before, 'start', t, captureSpan(before, START_ROLE, start, toAttributes(FRONTEND_NO_REGION), 'frontend', '5.0.1'), NOW);

    const chargeRecord = captureSpan(after, stepRole(after, 'charge'), charge, toAttributes(PAYMENTS), 'payments', '2.8.0');
    expect(chargeRecord.role).toBe(2);
    expect(chargeRecord.segments).toEqual(['us-east-1', 'gold']);
    assembler.addRecord(after, 'charge', t, chargeRecord, NOW + 10);
    assembler.addRecord(after, 'refund', t, captureSpan(after, 1, refund, toAttributes(PAYMENTS), 'payments', '2.8.0'), NOW + 20);
    assembler.addRecord(after, 'confirm', t, captureSpan(after, 0, confirm, toAttributes(NOTIFIER), 'notifier', '7.1.0'), NOW + 30);

    // Charge is the old definition's required step 0: the attempt is complete and decided early.
    assembler.tick(NOW + 510);
    expect(log.filter((e) => (e as unknown[])[0] !== 'decided')).toEqual([]);
    expect(decided).toHaveLength(1);
    const { journey: decidedWith, record: attempt } = decided[0]!;
    expect(decidedWith).toBe(before);
    expect(attempt).toMatchObject({ outcome: 'success', decidedBy: 'complete', reasons: [] });
    // The old definition has no `refund` step: it is not part of the attempt.
    expect(attempt.spans.map((s) => [s.step, s.spanId])).toEqual([
      ['start', start.spanId],
      ['charge', charge.spanId],
      ['confirm', confirm.spanId],
    ]);
    // Segments under the old definition's names: tier and region from the charge span (the start has neither).
    expect(attempt.segments).toEqual({ 'customer.tier': 'gold', 'cloud.region': 'us-east-1', release: '5.0.1' });
  });

  it('decides as add() does for the same spans matched by the new definition', () => {
    const { t, start, confirm, charge, refund } = reloadScenario();
    const viaAdd = recordingAssembler();
    const viaRecord = recordingAssembler();
    const feed: Array<[CompiledJourney, string, Span, Record<string, AnyValue>, number]> = [
      [before, 'start', start, FRONTEND_NO_REGION, NOW],
      [after, 'charge', charge, PAYMENTS, NOW + 10],
      [after, 'refund', refund, PAYMENTS, NOW + 20],
      [after, 'confirm', confirm, NOTIFIER, NOW + 30],
    ];
    for (const [j, step, s, resource, atMs] of feed) {
      const role = stepRole(j, step);
      const [service, version] = serviceOf(resource);
      viaAdd.assembler.add(candidate(j, 0, role), s, toAttributes(resource), service, version, atMs);
      viaRecord.assembler.addRecord(j, step, t, captureSpan(j, role, s, toAttributes(resource), service, version), atMs);
    }
    viaAdd.assembler.tick(NOW + 510);
    viaRecord.assembler.tick(NOW + 510);
    expect(viaAdd.decided).toHaveLength(1);
    expect(viaRecord.log).toEqual(viaAdd.log);
  });

  it('files steps before the start by name too: an orphan step of the old definition joined by a start captured with the new one', () => {
    const { t, start, charge } = reloadScenario();
    const { assembler, decided } = recordingAssembler();
    assembler.addRecord(before, 'charge', t, captureSpan(before, 0, charge, toAttributes(PAYMENTS), 'payments', '2.8.0'), NOW);
    assembler.addRecord(after, 'start', t, captureSpan(after, START_ROLE, start, toAttributes(FRONTEND), 'frontend', '5.0.1'), NOW + 10);
    assembler.tick(NOW + 510);
    expect(decided.map((d) => [d.journey, d.record.outcome, d.record.decidedBy])).toEqual([[before, 'success', 'complete']]);
    // The start's region (by attribute `cloud.region`, dimension 0 in the new definition) is the old one's dimension 1.
    expect(decided[0]!.record.segments).toMatchObject({ 'cloud.region': 'eu-west-1', 'customer.tier': 'gold' });
  });

  // Documented difference (assembler.ts, addRecord): a start span captured under a newer definition keeps the
  // `success.where` verdict of the definition that matched it (the capture no longer has the attributes to judge it
  // again), while add() judges it by the definition the attempt started with. Only a start joining an attempt that
  // began before a reload is concerned.
  it('keeps the success.where verdict of the definition that matched a start joining an older attempt', () => {
    const stricter = checkoutJourney({ successWhere: { 'http.response.status_code': { lt: 400 } } });
    const t = traceId(302);
    const { start, charge } = checkoutSpans(t, { status: 450n });
    const viaAdd = recordingAssembler();
    const viaRecord = recordingAssembler();
    // The charge step arrives first under the old definition (status < 500 succeeds)…
    viaAdd.assembler.add(candidate(before, 0, 0), charge, toAttributes(PAYMENTS), 'payments', '2.8.0', NOW);
    viaRecord.assembler.addRecord(before, 'charge', t, captureSpan(before, 0, charge, toAttributes(PAYMENTS), 'payments', '2.8.0'), NOW);
    // …the start after a reload to the stricter one (status < 400).
    viaAdd.assembler.add(candidate(stricter, 0, START_ROLE), start, toAttributes(FRONTEND), 'frontend', '5.0.1', NOW + 10);
    viaRecord.assembler.addRecord(stricter, 'start', t, captureSpan(stricter, START_ROLE, start, toAttributes(FRONTEND), 'frontend', '5.0.1'), NOW + 10);
    viaAdd.assembler.tick(NOW + 510);
    viaRecord.assembler.tick(NOW + 510);
    expect(viaAdd.decided.map((d) => d.record.outcome)).toEqual(['success']);
    expect(viaRecord.decided.map((d) => d.record.reasons)).toEqual([['where:http.response.status_code < 400']]);
  });
});
