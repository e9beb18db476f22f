import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SpanKind, StatusCode, type TraceBatch } from '../../../../src/core/model.js';
import type { JourneyRuntime } from '../../../../src/journeys/runtime/journey-runtime.js';
import type { SliWindow } from '../../../../src/journeys/model.js';
import { decodeTraceRequest, encodeTraceRequest } from '../../../../src/otlp/index.js';
import {
  FRONTEND,
  NOTIFIER,
  PAYMENTS,
  attr,
  batch,
  checkoutJourney,
  checkoutSpans,
  journey,
  makeRuntime,
  span,
  traceId,
} from './support.js';
import { BASE_TIME_NS } from '../../../support/traces.js';
import { MAX_OVERLOAD_EXTENSIONS, MAX_SPANS_PER_GROUP } from '../../../../src/journeys/runtime/assembler.js';

const NOW = 1_000_000;

/** SLI rows' `abandoned` counts by `key=value` (`''`: the all-traffic row), rows without any left out. */
function abandonedBySegment(rows: readonly SliWindow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) {
    expect(r.attempts).toBe(0);
    if (r.abandoned > 0) out[r.segmentKey === '' ? '' : `${r.segmentKey}=${r.segmentValue}`] = r.abandoned;
  }
  return out;
}

describe('tagging', () => {
  it('tags matching spans with journey.name and journey.step in place, and leaves the rest alone', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const t = traceId(1);
    const { start, charge, confirm } = checkoutSpans(t);
    const other = span({ trace: t, name: 'SELECT orders' });
    const b = batch([FRONTEND, [start, other]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]);
    expect(runtime.process(b, NOW)).toBe(3);
    expect(attr(start.attributes, 'journey.name')).toBe('checkout');
    expect(attr(start.attributes, 'journey.step')).toBe('start');
    expect(attr(charge.attributes, 'journey.step')).toBe('charge');
    expect(attr(confirm.attributes, 'journey.step')).toBe('confirm');
    expect(other.attributes).toEqual([]);
    expect(metric('pulse_journey_spans_tagged_total')).toBe(3);
    expect(metric('pulse_journey_spans_matched_total', { journey: 'checkout' })).toBe(3);
  });

  it('tags a span that matches several journeys with aligned string arrays', () => {
    const { runtime } = makeRuntime([
      journey({ name: 'checkout', start: { service: 'frontend', span: 'POST /api/checkout' }, steps: [{ name: 'pay', service: 'payments', span: 'charge card' }] }),
      journey({ name: 'payment', start: { service: 'payments', span: 'charge card' } }),
    ]);
    const s = span({ trace: traceId(2), name: 'charge card' });
    runtime.process(batch([PAYMENTS, [s]]), NOW);
    expect(attr(s.attributes, 'journey.name')).toEqual(['checkout', 'payment']);
    expect(attr(s.attributes, 'journey.step')).toEqual(['pay', 'start']);
  });

  it('forgets the request a batch came as once it tags a span in it, and only then', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const received = { protobuf: new Uint8Array([10, 0]), gzip: undefined };
    const untouched = batch([FRONTEND, [span({ trace: traceId(3), name: 'GET /health' })]]);
    untouched.received = received;
    expect(runtime.process(untouched, NOW)).toBe(0);
    expect(untouched.received).toBe(received);
    const tagged = batch([FRONTEND, [checkoutSpans(traceId(4)).start]]);
    tagged.received = received;
    expect(runtime.process(tagged, NOW)).toBe(1);
    expect(tagged.received).toBeUndefined();
  });

  it('with tagSpans false, matches and assembles as usual but changes no span, so the request stays as it came', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { tagSpans: false });
    const t = traceId(5);
    const { start, charge, confirm } = checkoutSpans(t);
    const b = batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]);
    const received = { protobuf: new Uint8Array([10, 0]), gzip: undefined };
    b.received = received;
    expect(runtime.process(b, NOW)).toBe(3);
    expect(b.received).toBe(received);
    for (const s of [start, charge, confirm]) expect(attr(s.attributes, 'journey.name')).toBeUndefined();
    expect(metric('pulse_journey_spans_tagged_total')).toBe(0);
    expect(metric('pulse_journey_spans_matched_total', { journey: 'checkout' })).toBe(3);
    runtime.flush(NOW + 1000);
    expect(runtime.takeAttempts().map((a) => [a.journey, a.outcome])).toEqual([['checkout', 'success']]);
  });
});

describe('attempt assembly', () => {
  it('assembles steps that arrive before their start, across batches, and decides after the settle delay', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const t = traceId(3);
    const { start, charge, confirm } = checkoutSpans(t, { tier: 'enterprise' });
    runtime.process(batch([NOTIFIER, [confirm]]), NOW);
    runtime.process(batch([PAYMENTS, [charge]]), NOW + 100);
    runtime.tick(NOW + 5000);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.process(batch([FRONTEND, [start]]), NOW + 6000);
    runtime.tick(NOW + 6400);
    expect(runtime.takeAttempts()).toEqual([]); // still settling
    runtime.tick(NOW + 6500);
    const [a, ...rest] = runtime.takeAttempts();
    expect(rest).toEqual([]);
    expect(a).toMatchObject({
      journey: 'checkout',
      traceId: t,
      startSpanId: start.spanId,
      startTimeUnixNano: BASE_TIME_NS,
      durationMs: 120,
      outcome: 'success',
      reasons: [],
      signals: [],
      segments: { 'customer.tier': 'enterprise', 'cloud.region': 'eu-west-1', release: '5.0.1' },
      services: [
        { service: 'frontend', version: '5.0.1' },
        { service: 'payments', version: '2.8.0' },
        { service: 'notifier', version: '7.1.0' },
      ],
      failingStep: undefined,
      decidedBy: 'complete',
      decidedAtMs: NOW + 6500,
    });
    expect(a!.spans.map((s) => [s.step, s.spanId, s.service])).toEqual([
      ['start', start.spanId, 'frontend'],
      ['charge', charge.spanId, 'payments'],
      ['confirm', confirm.spanId, 'notifier'],
    ]);
    expect(runtime.pendingAttempts).toBe(0);
    expect(metric('pulse_journey_attempts_total', { journey: 'checkout', outcome: 'success', decided_by: 'complete' })).toBe(1);
  });

  it('catches an optional step arriving within the settle delay', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const { start, charge, confirm } = checkoutSpans(traceId(4));
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    runtime.process(batch([NOTIFIER, [confirm]]), NOW + 300);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()[0]!.spans.map((s) => s.step)).toEqual(['start', 'charge', 'confirm']);
  });

  it('decides by timeout trace_wait after the start ARRIVED, failing with missing_step for a required step', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const { start, confirm } = checkoutSpans(traceId(5));
    runtime.process(batch([FRONTEND, [start]], [NOTIFIER, [confirm]]), NOW);
    runtime.tick(NOW + 9_999);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.tick(NOW + 10_000);
    const [a] = runtime.takeAttempts();
    expect(a).toMatchObject({
      outcome: 'failure',
      reasons: ['missing_step:charge'],
      failingStep: { step: 'charge', service: 'payments', version: '' },
      decidedBy: 'timeout',
      decidedAtMs: NOW + 10_000,
      // Span time, never arrival time.
      startTimeUnixNano: BASE_TIME_NS,
    });
  });

  it('counts decided attempts by journey, outcome and what decided them', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney(), checkoutJourney({ name: 'checkout-copy' })]);
    // Each journey: 2 complete successes, 1 complete failure (charge errored), 3 timeouts (no charge step).
    for (const [n, chargeError] of [[40, false], [41, false], [42, true]] as const) {
      const { start, charge, confirm } = checkoutSpans(traceId(n), { chargeError });
      runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW);
    }
    for (const n of [43, 44, 45]) runtime.process(batch([FRONTEND, [checkoutSpans(traceId(n)).start]]), NOW);
    runtime.tick(NOW + 10_000);
    const attempts = runtime.takeAttempts();
    expect(attempts).toHaveLength(12); // each span matches both journeys
    const count = (journey: string, outcome: string, decided_by: string) => metric('pulse_journey_attempts_total', { journey, outcome, decided_by });
    for (const journey of ['checkout', 'checkout-copy']) {
      expect(count(journey, 'success', 'complete')).toBe(2);
      expect(count(journey, 'failure', 'complete')).toBe(1);
      expect(count(journey, 'failure', 'timeout')).toBe(3);
      expect(count(journey, 'success', 'timeout')).toBe(0);
    }
  });

  it('reports errors, slow starts and broken success conditions as reasons, with the failing step and its version', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const { start, charge, confirm } = checkoutSpans(traceId(6), { chargeError: true, status: 503n, durationMs: 2500 });
    start.statusCode = StatusCode.ERROR;
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW);
    runtime.tick(NOW + 500);
    const [a] = runtime.takeAttempts();
    expect(a!.reasons).toEqual(['error:start', 'error:charge', 'slow', 'where:http.response.status_code < 500']);
    expect(a!.failingStep).toEqual({ step: 'start', service: 'frontend', version: '5.0.1' });
  });

  it('names the first failing step in definition order with the service and version that failed', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const { start, charge } = checkoutSpans(traceId(7), { chargeError: true });
    const confirm = span({ trace: traceId(7), name: 'send sms', error: true });
    runtime.process(batch([FRONTEND, [start]], [{ ...PAYMENTS, 'service.version': '2.9.0-rc1' }, [charge]], [NOTIFIER, [confirm]]), NOW);
    runtime.tick(NOW + 500);
    const [a] = runtime.takeAttempts();
    expect(a!.reasons).toEqual(['error:charge', 'error:confirm']);
    expect(a!.failingStep).toEqual({ step: 'charge', service: 'payments', version: '2.9.0-rc1' });
  });

  it('with no_errors: start, ignores errors of steps', () => {
    const { runtime } = makeRuntime([checkoutJourney({ noErrors: 'start' })]);
    const { start, charge } = checkoutSpans(traceId(8), { chargeError: true });
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()[0]).toMatchObject({ outcome: 'success', reasons: [], failingStep: undefined });
  });

  it('signals duplicate calls above max_calls without failing the attempt', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const t = traceId(9);
    const { start, charge } = checkoutSpans(t);
    const again = span({ trace: t, name: 'charge card', parent: start.spanId, atMs: 60 });
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge, again]]), NOW);
    runtime.tick(NOW + 500);
    const [a] = runtime.takeAttempts();
    expect(a).toMatchObject({ outcome: 'success', signals: ['duplicate_calls:charge'] });
    expect(a!.spans.filter((s) => s.step === 'charge')).toHaveLength(2);
  });

  it('ignores a span re-sent with the same span id while pending (no false duplicate call)', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start, charge } = checkoutSpans(traceId(10));
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    runtime.process(batch([PAYMENTS, [{ ...charge, attributes: [] }]]), NOW + 100);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()[0]!.signals).toEqual([]);
    expect(metric('pulse_journey_duplicate_spans_total', { journey: 'checkout' })).toBe(1);
  });

  it('looks segments up on the start span, then its resource, then the other spans', () => {
    const j = journey({
      name: 'signup',
      start: { service: 'web', span: 'signup' },
      steps: [{ name: 'create', service: 'users', span: 'create user' }],
      segments: ['customer.tier', 'cloud.region', 'plan', 'feature.flag', 'missing'],
    });
    const { runtime } = makeRuntime([j]);
    const t = traceId(11);
    const start = span({ trace: t, name: 'signup', attributes: { 'cloud.region': 'us-east-1', 'feature.flag': true } });
    const step = span({ trace: t, name: 'create user', attributes: { 'customer.tier': 'pro', 'cloud.region': 'ignored', plan: 42n } });
    runtime.process(batch([{ 'service.name': 'web', 'customer.tier': 'free', 'cloud.region': 'eu-west-1' }, [start]], [{ 'service.name': 'users' }, [step]]), NOW);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()[0]!.segments).toEqual({
      'customer.tier': 'free', // start resource before other spans
      'cloud.region': 'us-east-1', // start span before its resource
      plan: '42', // other spans last; bigint as decimal
      'feature.flag': 'true',
    });
  });

  it('drops and counts orphan steps whose start never arrives within trace_wait of their arrival', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { charge, confirm } = checkoutSpans(traceId(12));
    runtime.process(batch([PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW);
    expect(runtime.pendingAttempts).toBe(1);
    runtime.tick(NOW + 10_000);
    expect(runtime.takeAttempts()).toEqual([]);
    expect(runtime.pendingAttempts).toBe(0);
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(2);
  });

  it('counts late spans for a decided attempt, and a re-sent start as late rather than a new attempt', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const t = traceId(13);
    const { start, charge, confirm } = checkoutSpans(t);
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()).toHaveLength(1);
    runtime.process(batch([NOTIFIER, [confirm]], [FRONTEND, [{ ...start, attributes: [...start.attributes] }]]), NOW + 2000);
    expect(confirm.attributes.length).toBeGreaterThan(0); // still tagged
    expect(metric('pulse_journey_late_spans_total', { journey: 'checkout' })).toBe(2);
    expect(runtime.pendingAttempts).toBe(0);
    runtime.tick(NOW + 20_000);
    expect(runtime.takeAttempts()).toEqual([]);
  });

  it('treats a new start span in an already decided trace as a new attempt', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const t = traceId(14);
    const first = checkoutSpans(t);
    runtime.process(batch([FRONTEND, [first.start]], [PAYMENTS, [first.charge]]), NOW);
    runtime.tick(NOW + 500);
    const retry = checkoutSpans(t);
    runtime.process(batch([FRONTEND, [retry.start]], [PAYMENTS, [retry.charge]]), NOW + 3000);
    runtime.tick(NOW + 3500);
    expect(runtime.takeAttempts().map((a) => a.startSpanId)).toEqual([first.start.spanId, retry.start.spanId]);
  });

  it('lets go of attempts decided early instead of holding them until their trace_wait deadline', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    // 5,000 complete attempts, each decided settle_delay after it arrived, long before trace_wait (10 s) runs out.
    for (let i = 0; i < 5000; i++) {
      const { start, charge, confirm } = checkoutSpans(traceId(100_000 + i));
      runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW + i);
      if (i % 100 === 99) runtime.tick(NOW + i);
    }
    runtime.tick(NOW + 6000);
    expect(runtime.takeAttempts()).toHaveLength(5000);
    expect(runtime.pendingAttempts).toBe(0);
    // Without compaction every one of them would still sit in the trace_wait queue (5,000 entries) until NOW + 15 s.
    expect(runtime.queuedDeadlines).toBeLessThanOrEqual(2048);
  });

  it('does not grow with the number of attempts it has decided (no old Map tables kept alive)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { runtime } = makeRuntime([checkoutJourney()], { maxPendingAttempts: 2000 });
    let n = 0;
    const churn = (attempts: number): number => {
      for (let i = 0; i < attempts; i++, n++) {
        const { start, charge, confirm } = checkoutSpans(traceId(1_000_000 + n));
        runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW + n);
        if (n % 100 === 99) {
          runtime.tick(NOW + n);
          runtime.takeAttempts();
          runtime.takeWindows();
        }
      }
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const warm = churn(20_000);
    const after = churn(80_000);
    // An idle Map iterator used to pin every hash table the pending map outgrew, with the groups they held:
    // ~20 MB more here. What stays is bounded: pending groups, recent decisions and SLI state.
    expect(after - warm).toBeLessThan(4 * 2 ** 20);
  });

  it('decides the oldest attempts early when max_pending_attempts is exceeded', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { maxPendingAttempts: 3 });
    const starts = [1, 2, 3, 4, 5].map((n) => checkoutSpans(traceId(100 + n)).start);
    for (const [i, s] of starts.entries()) runtime.process(batch([FRONTEND, [s]]), NOW + i);
    expect(runtime.pendingAttempts).toBe(3);
    const evicted = runtime.takeAttempts();
    expect(evicted.map((a) => a.startSpanId)).toEqual([starts[0]!.spanId, starts[1]!.spanId]);
    expect(evicted.every((a) => a.decidedBy === 'evicted' && a.reasons[0] === 'missing_step:charge')).toBe(true);
    expect(metric('pulse_journey_evicted_attempts_total', { journey: 'checkout' })).toBe(2);
    expect(metric('pulse_journey_decision_delay_seconds', { decided_by: 'evicted' })).toBe(2);
    runtime.tick(NOW + 20_000);
    expect(runtime.takeAttempts().map((a) => a.decidedBy)).toEqual(['timeout', 'timeout', 'timeout']);
    expect(metric('pulse_journey_decision_delay_seconds', { decided_by: 'timeout' })).toBe(3);
  });

  it('flush decides everything pending and drops orphans', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    runtime.process(batch([FRONTEND, [checkoutSpans(traceId(15)).start]], [PAYMENTS, [checkoutSpans(traceId(16)).charge]]), NOW);
    runtime.flush(NOW + 1);
    expect(runtime.takeAttempts().map((a) => a.decidedBy)).toEqual(['flush']);
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(1);
    expect(runtime.pendingAttempts).toBe(0);
  });

  it('keeps pending attempts on the definition they started with after a reload', () => {
    const { runtime } = makeRuntime([checkoutJourney()]);
    const t = traceId(17);
    const { start, charge } = checkoutSpans(t);
    runtime.process(batch([FRONTEND, [start]]), NOW);
    // v2: charge no longer required, and renamed span; the pending attempt still needs charge as v1 defined it.
    runtime.setJourneys([
      checkoutJourney({ steps: [{ name: 'charge', service: 'payments', span: 'charge card v2', required: false }] }),
    ]);
    const other = checkoutSpans(traceId(18));
    runtime.process(batch([FRONTEND, [other.start]]), NOW + 1);
    runtime.tick(NOW + 501);
    // The new-definition attempt has no required step: complete at once.
    expect(runtime.takeAttempts().map((a) => [a.startSpanId, a.outcome])).toEqual([[other.start.spanId, 'success']]);
    // A span matched by the new definition joins the old attempt under its step name.
    const v2charge = { ...charge, name: 'charge card v2' };
    runtime.process(batch([PAYMENTS, [v2charge]]), NOW + 600);
    runtime.tick(NOW + 1100);
    const [a] = runtime.takeAttempts();
    expect(a).toMatchObject({ startSpanId: start.spanId, outcome: 'success', decidedBy: 'complete' });
  });
});

describe("Pulse's own overload (spans it refused, which senders send again)", () => {
  it('gives an attempt missing a step one more trace_wait, and the step sent again then completes it', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start, charge, confirm } = checkoutSpans(traceId(40));
    runtime.process(batch([FRONTEND, [start]], [NOTIFIER, [confirm]]), NOW);
    runtime.overloaded(NOW + 5); // the request carrying charge was refused
    runtime.tick(NOW + 10_000);
    expect(runtime.takeAttempts()).toEqual([]);
    expect(runtime.pendingAttempts).toBe(1);
    expect(metric('pulse_journey_extended_waits_total', { journey: 'checkout' })).toBe(1);
    runtime.process(batch([PAYMENTS, [charge]]), NOW + 15_000); // resent 15 s later, past trace_wait
    runtime.tick(NOW + 15_500);
    expect(runtime.takeAttempts().map((a) => [a.outcome, a.reasons, a.decidedBy])).toEqual([['success', [], 'complete']]);
  });

  it('after the extra wait, fails it with missing_step if the refusals had stopped', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    runtime.process(batch([FRONTEND, [checkoutSpans(traceId(41)).start]]), NOW);
    runtime.overloaded(NOW + 9_000);
    runtime.tick(NOW + 10_000);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.tick(NOW + 19_999);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.tick(NOW + 20_000);
    expect(runtime.takeAttempts().map((a) => [a.outcome, a.reasons, a.decidedBy, a.decidedAtMs])).toEqual([
      ['failure', ['missing_step:charge'], 'timeout', NOW + 20_000],
    ]);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'overload' })).toBe(0);
  });

  it('waits again while the refusals go on, then abandons it, counted; its spans sent later are late, not orphans', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const t = traceId(42);
    const { start, charge } = checkoutSpans(t);
    runtime.process(batch([FRONTEND, [start]]), NOW);
    runtime.overloaded(NOW + 1);
    runtime.tick(NOW + 10_000);
    runtime.overloaded(NOW + 12_000);
    runtime.tick(NOW + 20_000);
    expect(runtime.pendingAttempts).toBe(1);
    expect(metric('pulse_journey_extended_waits_total', { journey: 'checkout' })).toBe(MAX_OVERLOAD_EXTENSIONS);
    runtime.overloaded(NOW + 29_000);
    runtime.tick(NOW + 30_000);
    expect(runtime.takeAttempts()).toEqual([]);
    expect(runtime.pendingAttempts).toBe(0);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'overload' })).toBe(1);
    runtime.process(batch([PAYMENTS, [charge]]), NOW + 35_000);
    expect(metric('pulse_journey_late_spans_total', { journey: 'checkout' })).toBe(1);
    expect(runtime.pendingAttempts).toBe(0);
    runtime.flush(NOW + 60_000);
    expect(runtime.takeAttempts()).toEqual([]);
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(0);
    // its SLI window says an attempt started there that Pulse could not judge
    expect(abandonedBySegment(runtime.takeWindows())).toEqual({ '': 1, 'customer.tier=__unset__': 1, 'cloud.region=eu-west-1': 1, 'release=5.0.1': 1 });
  });

  it('gives as many extra waits as overloadExtraWaits says, 0 abandoning at the first trace_wait', () => {
    for (const extra of [0, 3]) {
      const { runtime, metric } = makeRuntime([checkoutJourney()], { overloadExtraWaits: extra });
      runtime.process(batch([FRONTEND, [checkoutSpans(traceId(44)).start]]), NOW);
      for (let k = 0; k <= extra; k++) {
        runtime.overloaded(NOW + k * 10_000 + 5_000); // refusals go on through every wait
        runtime.tick(NOW + (k + 1) * 10_000);
      }
      expect(metric('pulse_journey_extended_waits_total', { journey: 'checkout' })).toBe(extra);
      expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'overload' })).toBe(1);
      expect(runtime.takeAttempts()).toEqual([]);
    }
  });

  it('gives orphan steps one more trace_wait for a start that was refused', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start, charge, confirm } = checkoutSpans(traceId(43));
    runtime.process(batch([PAYMENTS, [charge]], [NOTIFIER, [confirm]]), NOW);
    runtime.overloaded(NOW);
    runtime.tick(NOW + 10_000);
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(0);
    runtime.process(batch([FRONTEND, [start]]), NOW + 12_000);
    runtime.tick(NOW + 12_500);
    expect(runtime.takeAttempts().map((a) => a.outcome)).toEqual(['success']);
  });

  it('drops orphan steps still without a start after the extra waits of a long overload; their start is then abandoned', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start, charge } = checkoutSpans(traceId(47));
    runtime.process(batch([PAYMENTS, [charge]]), NOW);
    for (let k = 0; k <= MAX_OVERLOAD_EXTENSIONS; k++) {
      runtime.overloaded(NOW + k * 10_000 + 5_000);
      runtime.tick(NOW + (k + 1) * 10_000);
    }
    expect(runtime.pendingAttempts).toBe(0);
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(1);
    // an attempt from it would miss charge: it is abandoned, once however often it is sent
    runtime.process(batch([FRONTEND, [start]]), NOW + 40_000);
    runtime.process(batch([FRONTEND, [{ ...start, attributes: [...start.attributes] }]]), NOW + 41_000);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'overload' })).toBe(1);
    expect(metric('pulse_journey_late_spans_total', { journey: 'checkout' })).toBe(1);
    runtime.tick(NOW + 60_000);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.flush(NOW + 60_000);
    expect(abandonedBySegment(runtime.takeWindows())).toEqual({ '': 1, 'customer.tier=__unset__': 1, 'cloud.region=eu-west-1': 1, 'release=5.0.1': 1 });
  });

  it('counts an attempt abandoned at shutdown in its SLI window, under the segment values its spans had', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start } = checkoutSpans(traceId(49), { tier: 'pro' });
    runtime.process(batch([{ ...FRONTEND, 'cloud.region': 'eu-west-1', 'service.version': '1.2.3' }, [start]]), NOW);
    runtime.flush(NOW + 1000, 'abandon');
    expect(runtime.takeAttempts()).toEqual([]);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'shutdown' })).toBe(1);
    expect(abandonedBySegment(runtime.takeWindows())).toEqual({ '': 1, 'customer.tier=pro': 1, 'cloud.region=eu-west-1': 1, 'release=1.2.3': 1 });
  });

  it('gives up on, rather than fails, an incomplete attempt evicted by max_pending_attempts while Pulse refuses spans', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { maxPendingAttempts: 1 });
    runtime.process(batch([FRONTEND, [checkoutSpans(traceId(48)).start]]), NOW);
    runtime.overloaded(NOW + 1);
    runtime.process(batch([FRONTEND, [checkoutSpans(traceId(49)).start]]), NOW + 2); // evicts the first
    expect(runtime.takeAttempts()).toEqual([]);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'overload' })).toBe(1);
    expect(metric('pulse_journey_evicted_attempts_total', { journey: 'checkout' })).toBe(0);
  });

  it('counts a step refused shortly before its start arrived, and ignores refusals older than trace_wait', () => {
    const recent = makeRuntime([checkoutJourney()]).runtime;
    recent.overloaded(NOW - 3_000); // charge's request, shed before the start's came in
    recent.process(batch([FRONTEND, [checkoutSpans(traceId(44)).start]]), NOW);
    recent.tick(NOW + 10_000);
    expect(recent.takeAttempts()).toEqual([]);

    const old = makeRuntime([checkoutJourney()]).runtime;
    old.overloaded(NOW - 10_001);
    old.process(batch([FRONTEND, [checkoutSpans(traceId(45)).start]]), NOW);
    old.tick(NOW + 10_000);
    expect(old.takeAttempts().map((a) => a.reasons)).toEqual([['missing_step:charge']]);
  });

  it('decides complete attempts as usual while Pulse refuses spans', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()]);
    const { start, charge } = checkoutSpans(traceId(46));
    runtime.overloaded(NOW);
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    runtime.overloaded(NOW + 100);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts().map((a) => a.outcome)).toEqual(['success']);
    expect(metric('pulse_journey_extended_waits_total', { journey: 'checkout' })).toBe(0);
  });
});

describe('several starts in one trace', () => {
  const j = () =>
    journey({
      name: 'checkout',
      start: { service: 'frontend', span: 'POST /api/checkout', kind: SpanKind.SERVER },
      steps: [{ name: 'charge', service: 'payments', span: 'charge card', required: true }],
    });

  it('assigns a step to the start it descends from, then by time range, then to the nearest preceding start', () => {
    const { runtime } = makeRuntime([j()]);
    const t = traceId(20);
    const s1 = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: 0, durationMs: 100 });
    const s2 = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: 1000, durationMs: 100 });
    const s3 = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: 5000, durationMs: 100 });
    // Child of s1 by parent id although its time lies inside s2.
    const c1 = span({ trace: t, name: 'charge card', parent: s1.spanId, atMs: 1010 });
    // Unknown parent: inside s2's range.
    const c2 = span({ trace: t, name: 'charge card', parent: 'unknown!', atMs: 1050 });
    // Unknown parent, after s3 ended: nearest preceding start is s3.
    const c3 = span({ trace: t, name: 'charge card', atMs: 7000 });
    runtime.process(batch([PAYMENTS, [c1, c2, c3]]), NOW);
    runtime.process(batch([FRONTEND, [s3, s1, s2]]), NOW + 10);
    // With several starts, completeness is checked at the next tick; the settle delay runs from there.
    runtime.tick(NOW + 100);
    runtime.tick(NOW + 599);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.tick(NOW + 600);
    const attempts = runtime.takeAttempts();
    expect(attempts.map((a) => [a.startSpanId, a.spans.filter((s) => s.step === 'charge').map((s) => s.spanId)])).toEqual([
      [s1.spanId, [c1.spanId]],
      [s2.spanId, [c2.spanId]],
      [s3.spanId, [c3.spanId]],
    ]);
    expect(attempts.every((a) => a.outcome === 'success' && a.decidedBy === 'complete')).toBe(true);
  });

  it('waits for every start to be complete; the one without its step fails at timeout', () => {
    const { runtime } = makeRuntime([j()]);
    const t = traceId(21);
    const s1 = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: 0, durationMs: 100 });
    const s2 = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: 1000, durationMs: 100 });
    const c1 = span({ trace: t, name: 'charge card', parent: s1.spanId, atMs: 10 });
    runtime.process(batch([FRONTEND, [s1, s2]], [PAYMENTS, [c1]]), NOW);
    runtime.tick(NOW + 5000);
    expect(runtime.takeAttempts()).toEqual([]);
    runtime.tick(NOW + 10_000);
    expect(runtime.takeAttempts().map((a) => [a.startSpanId, a.outcome, a.decidedBy])).toEqual([
      [s1.spanId, 'success', 'timeout'],
      [s2.spanId, 'failure', 'timeout'],
    ]);
  });

  it('handles hundreds of starts in one trace, buffering at most MAX_SPANS_PER_GROUP spans and counting the rest', () => {
    const { runtime, metric } = makeRuntime([j()]);
    const t = traceId(22);
    const spans = [];
    for (let i = 0; i < 300; i++) {
      const s = span({ trace: t, name: 'POST /api/checkout', kind: SpanKind.SERVER, atMs: i * 100, durationMs: 50 });
      spans.push([s, span({ trace: t, name: 'charge card', parent: s.spanId, atMs: i * 100 + 10 })] as const);
    }
    runtime.process(batch([FRONTEND, spans.map(([s]) => s)], [PAYMENTS, spans.map(([, c]) => c)]), NOW);
    runtime.tick(NOW + 100);
    runtime.tick(NOW + 10_000);
    const attempts = runtime.takeAttempts();
    // 300 starts take 300 of the 512 slots; the first charges fill the rest, the others are counted and dropped.
    expect(attempts).toHaveLength(300);
    expect(attempts.filter((a) => a.outcome === 'success')).toHaveLength(MAX_SPANS_PER_GROUP - 300);
    expect(metric('pulse_journey_overflow_spans_total', { journey: 'checkout' })).toBe(600 - MAX_SPANS_PER_GROUP);
  });
});

describe('requests received again (the sender resent a request Pulse took the spans of, then refused)', () => {
  /** One checkout attempt as a request, decoded anew each call, as a receiver would. */
  function checkoutRequest(n: number): () => TraceBatch {
    const { start, charge, confirm } = checkoutSpans(traceId(n));
    const bytes = encodeTraceRequest(batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]));
    return () => decodeTraceRequest(bytes).batch;
  }

  /** Processes and decides 1,000 other attempts: more than the decided keys kept at maxPendingAttempts 1000. */
  function decideOthers(runtime: JourneyRuntime, at: number): void {
    for (let i = 0; i < 1000; i++) runtime.process(checkoutRequest(5000 + i)(), at);
    runtime.tick(at + 600);
    expect(runtime.takeAttempts()).toHaveLength(1000);
  }

  it('tags a request received again but does not assemble it again, however long after its attempt was decided', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { maxPendingAttempts: 1000, maxRememberedRequests: 10_000 });
    const request = checkoutRequest(1);
    expect(runtime.process(request(), NOW)).toBe(3);
    runtime.tick(NOW + 600);
    expect(runtime.takeAttempts()).toHaveLength(1);
    decideOthers(runtime, NOW + 1000); // its key is no longer among the decided ones

    const again = request();
    expect(runtime.process(again, NOW + 60_000)).toBe(3);
    const spans = again.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    expect(spans.map((s) => attr(s.attributes, 'journey.step'))).toEqual(['start', 'charge', 'confirm']);
    expect(runtime.pendingAttempts).toBe(0);
    runtime.tick(NOW + 80_000);
    expect(runtime.takeAttempts()).toEqual([]);
    expect(metric('pulse_journey_resent_spans_total')).toBe(3);
    expect(metric('pulse_journey_spans_matched_total', { journey: 'checkout' })).toBe(3 * 1001); // not counted again
    expect(metric('pulse_journey_spans_tagged_total')).toBe(3 * 1002); // tagged again
    expect(metric('pulse_journey_late_spans_total', { journey: 'checkout' })).toBe(0);
    expect(runtime.rememberedRequests).toBe(1001);
  });

  it('without remembering requests, the same request counted its attempt again once its key was forgotten', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { maxPendingAttempts: 1000 });
    const request = checkoutRequest(2);
    runtime.process(request(), NOW);
    runtime.tick(NOW + 600);
    expect(runtime.takeAttempts()).toHaveLength(1);
    decideOthers(runtime, NOW + 1000);
    runtime.process(request(), NOW + 60_000);
    runtime.tick(NOW + 60_600);
    expect(runtime.takeAttempts().map((a) => a.traceId)).toEqual([traceId(2)]);
    expect(metric('pulse_journey_resent_spans_total')).toBe(0);
  });

  it('assembles a request with other spans as usual, even if it shares spans with one received before', () => {
    const { runtime, metric } = makeRuntime([checkoutJourney()], { maxRememberedRequests: 10_000 });
    const { start, charge, confirm } = checkoutSpans(traceId(3));
    runtime.process(batch([FRONTEND, [start]], [PAYMENTS, [charge]]), NOW);
    // the same start, batched with the step that was missing: another request, so assembled (the start is known)
    runtime.process(batch([FRONTEND, [{ ...start, attributes: [] }]], [NOTIFIER, [confirm]]), NOW + 100);
    runtime.tick(NOW + 700);
    const [attempt] = runtime.takeAttempts();
    expect(attempt).toMatchObject({ outcome: 'success' });
    expect(attempt!.spans.map((s) => s.step).sort()).toEqual(['charge', 'confirm', 'start']);
    expect(metric('pulse_journey_resent_spans_total')).toBe(0);
  });

  it('does not capture the spans of a request received again for an assembly thread either', () => {
    const captured: string[] = [];
    const { runtime } = makeRuntime([checkoutJourney()], {
      maxRememberedRequests: 10_000,
      capture: { captured: (c, trace) => captured.push(`${c.stepName}@${trace === traceId(4) ? 4 : '?'}`) },
    });
    const request = checkoutRequest(4);
    runtime.process(request(), NOW);
    runtime.process(request(), NOW + 5000);
    expect(captured).toEqual(['start@4', 'charge@4', 'confirm@4']);
  });
});
