import { afterEach, describe, expect, it } from 'vitest';
import type { CreateSettings, ThreadLink } from '../../../src/core/component.js';
import type { Consumer } from '../../../src/core/consumer.js';
import { PermanentError, PulseError, RetryableError } from '../../../src/core/errors.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { Handover, type HandoverSlot } from '../../../src/core/handover.js';
import { OverloadRefusals } from '../../../src/core/overload.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { journeysConnectorConfigSchema } from '../../../src/connectors/journeys/config.js';
import { JourneysConnector, type JourneySource } from '../../../src/connectors/journeys/connector.js';
import type { AttemptRecord, CompiledJourney, JourneySnapshot, SliWindow } from '../../../src/journeys/model.js';
import { FRONTEND, NOTIFIER, PAYMENTS, attr, batch, checkoutJourney, checkoutSpans, journey, silentLogger, snapshot, traceId } from '../journeys/runtime/support.js';

/** A consumer that records what it is given and answers with `answer` (resolve by default). */
interface Recorder<T> {
  got: T[];
  answer: (data: T) => Promise<void>;
  consumer: Consumer<T>;
}

function recorder<T>(): Recorder<T> {
  const r: Recorder<T> = {
    got: [],
    answer: () => Promise.resolve(),
    consumer: {
      mutatesData: false,
      consume(data: T): Promise<void> {
        r.got.push(data);
        return r.answer(data);
      },
    },
  };
  return r;
}

class FakeSource implements JourneySource {
  listeners: Array<(s: JourneySnapshot) => void> = [];
  released = 0;
  fail: Error | undefined;
  constructor(public snap: JourneySnapshot) {}
  start() {
    return this.fail ? Promise.reject(this.fail) : Promise.resolve();
  }
  current() {
    return this.snap;
  }
  onChange(l: (s: JourneySnapshot) => void) {
    this.listeners.push(l);
    return () => (this.listeners = this.listeners.filter((x) => x !== l));
  }
  release() {
    this.released++;
  }
  reload(journeys: CompiledJourney[]) {
    this.snap = snapshot(journeys, this.snap.generation + 1);
    for (const l of this.listeners) l(this.snap);
  }
}

/** 2025-11-22T10:00:00Z + a bit: the span fixtures' start time, so event-time windows are near the clock. */
const T0 = 1_763_805_600_000;

const running: JourneysConnector[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.shutdown();
});

function setup(
  opts: {
    journeys?: CompiledJourney[];
    config?: Record<string, unknown>;
    outputs?: Array<'traces' | 'attempts' | 'journey_metrics'>;
    overload?: OverloadRefusals;
    thread?: ThreadLink;
    tickIntervalMs?: number;
    handover?: HandoverSlot;
  } = {},
) {
  const clock = { now: T0 };
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = {
    id: 'journeys',
    kind: 'connector',
    logger: silentLogger(),
    metrics,
    dataDir: '/tmp/pulse-test',
    ...(opts.overload && { overload: opts.overload }),
    ...(opts.thread && { thread: opts.thread }),
    ...(opts.handover && { handover: opts.handover }),
  };
  const config = journeysConnectorConfigSchema.parse({ directory: 'config/journeys', ...opts.config });
  const traces = recorder<TraceBatch>();
  const attempts = recorder<AttemptRecord[]>();
  const windows = recorder<SliWindow[]>();
  const wanted = opts.outputs ?? ['traces', 'attempts', 'journey_metrics'];
  const source = new FakeSource(snapshot(opts.journeys ?? [checkoutJourney()]));
  const connector = new JourneysConnector(
    settings,
    config,
    {
      ...(wanted.includes('traces') ? { traces: traces.consumer } : {}),
      ...(wanted.includes('attempts') ? { attempts: attempts.consumer } : {}),
      ...(wanted.includes('journey_metrics') ? { journey_metrics: windows.consumer } : {}),
    },
    { openSource: () => source, now: () => clock.now, tickIntervalMs: opts.tickIntervalMs ?? 3_600_000 },
  );
  running.push(connector);
  const at = async (ms: number) => {
    clock.now = T0 + ms;
    connector.tick();
    await new Promise((r) => setImmediate(r));
  };
  const metric = (name: string, labels: Record<string, string> = {}) => metrics.find(name)?.get({ connector: 'journeys', ...labels }) ?? 0;
  return { connector, source, traces, attempts, windows, clock, at, metric, metrics };
}

const flat = <T>(xs: T[][]) => xs.flat();

describe('journeys connector config', () => {
  it('has the documented defaults, derives allowed_lateness from trace_wait, and rejects contradictions', () => {
    expect(journeysConnectorConfigSchema.parse({ directory: 'j' })).toEqual({
      directory: 'j',
      trace_wait: 10_000,
      settle_delay: 500,
      max_pending_attempts: 100_000,
      max_remembered_requests: 1_000_000,
      overload_extra_waits: 2,
      reload_poll_interval: 2000,
      sli: { window: 10_000, allowed_lateness: 12_000, max_segment_values: 100 },
      tag_spans: true,
    });
    expect(journeysConnectorConfigSchema.parse({ directory: 'j', trace_wait: '30s' }).sli.allowed_lateness).toBe(32_000);
    expect(journeysConnectorConfigSchema.parse({ directory: 'j', sli: { allowed_lateness: '1s' } }).sli.allowed_lateness).toBe(1000);
    expect(journeysConnectorConfigSchema.safeParse({}).success).toBe(false);
    expect(journeysConnectorConfigSchema.safeParse({ directory: 'j', settle_delay: '10s' }).success).toBe(false);
    expect(journeysConnectorConfigSchema.safeParse({ directory: 'j', sli: { window: '1500ms' } }).success).toBe(false);
    expect(journeysConnectorConfigSchema.safeParse({ directory: 'j', sli: { windw: '10s' } }).success).toBe(false);
    expect(journeysConnectorConfigSchema.parse({ directory: 'j', max_remembered_requests: 0 }).max_remembered_requests).toBe(0);
    expect(journeysConnectorConfigSchema.safeParse({ directory: 'j', max_remembered_requests: -1 }).success).toBe(false);
  });
});

describe('journeys connector', () => {
  it('tags spans and forwards the same batch downstream at once, then emits attempts and SLI rows from the tick', async () => {
    const { connector, traces, attempts, windows, at, metric } = setup();
    await connector.start({ reportFatalError() {} });
    const t = traceId(1);
    const { start, charge, confirm } = checkoutSpans(t, { tier: 'enterprise' });
    const b = batch([FRONTEND, [start]], [PAYMENTS, [charge]], [NOTIFIER, [confirm]]);
    await connector.inputs.traces!.consume(b);
    expect(traces.got).toEqual([b]);
    expect(traces.got[0]).toBe(b);
    expect(attr(start.attributes, 'journey.name')).toBe('checkout');
    expect(attr(charge.attributes, 'journey.step')).toBe('charge');
    expect(connector.inputs.traces!.mutatesData).toBe(true);
    expect(metric('pulse_journey_pending_attempts')).toBe(1);

    await at(499);
    expect(attempts.got).toEqual([]);
    await at(500);
    const records = flat(attempts.got);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ journey: 'checkout', traceId: t, outcome: 'success', decidedBy: 'complete', decidedAtMs: T0 + 500 });
    expect(metric('pulse_journey_pending_attempts')).toBe(0);

    // The span's window [T0, T0+10s) closes at T0 + 10s + allowed_lateness (12s by default).
    await at(21_999);
    expect(windows.got).toEqual([]);
    await at(22_000);
    const rows = flat(windows.got);
    expect(rows.map((r) => [r.segmentKey, r.segmentValue, r.attempts, r.successes])).toEqual([
      ['', '', 1, 1],
      ['customer.tier', 'enterprise', 1, 1],
      ['cloud.region', 'eu-west-1', 1, 1],
      ['release', '5.0.1', 1, 1],
    ]);
    expect(rows[0]!.windowStartMs).toBe(T0);
    expect(metric('pulse_journey_attempts_total', { journey: 'checkout', outcome: 'success', decided_by: 'complete' })).toBe(1);
  });

  it("passes the traces output's refusal back to the sender", async () => {
    const { connector, traces } = setup();
    await connector.start({ reportFatalError() {} });
    const refusal = new RetryableError('PULSE_ERR_TEST', 'queue full');
    traces.answer = () => Promise.reject(refusal);
    await expect(connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(2)).start]]))).rejects.toBe(refusal);
  });

  it('works without any output for attempts or metrics', async () => {
    const { connector, traces, at, metric } = setup({ outputs: ['traces'] });
    await connector.start({ reportFatalError() {} });
    await connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(3)).start]]));
    await at(20_000);
    expect(traces.got).toHaveLength(1);
    expect(metric('pulse_journey_attempts_total', { journey: 'checkout', outcome: 'failure', decided_by: 'timeout' })).toBe(1);
  });

  it('rebuilds the index when the definitions change, keeping attempts in flight', async () => {
    const { connector, source, attempts, at } = setup();
    await connector.start({ reportFatalError() {} });
    const old = checkoutSpans(traceId(4));
    await connector.inputs.traces!.consume(batch([FRONTEND, [old.start]]));
    source.reload([checkoutJourney(), journey({ name: 'signup', start: { service: 'frontend', span: 'POST /api/signup' } })]);
    const signup = checkoutSpans(traceId(5)).start;
    signup.name = 'POST /api/signup';
    await connector.inputs.traces!.consume(batch([FRONTEND, [signup]], [PAYMENTS, [old.charge]]));
    expect(attr(signup.attributes, 'journey.name')).toBe('signup');
    await at(600);
    expect(flat(attempts.got).map((a) => [a.journey, a.outcome, a.decidedBy])).toEqual([
      ['signup', 'success', 'complete'],
      ['checkout', 'success', 'complete'],
    ]);
  });

  it('keeps refused attempt batches and retries them on the next tick; drops permanently rejected ones', async () => {
    const { connector, attempts, at, metric } = setup();
    await connector.start({ reportFatalError() {} });
    let refuse: Error | undefined = new RetryableError('PULSE_ERR_TEST', 'exporter queue full');
    attempts.answer = () => (refuse ? Promise.reject(refuse) : Promise.resolve());
    await connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(6)).start]]));
    await at(10_000);
    expect(attempts.got).toHaveLength(1);
    refuse = undefined;
    await at(10_100);
    expect(attempts.got).toHaveLength(2);
    expect(attempts.got[1]).toEqual(attempts.got[0]);

    refuse = new PermanentError('PULSE_ERR_TEST', 'bad data');
    await connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(7)).start]]));
    await at(20_100);
    await at(20_200);
    expect(attempts.got).toHaveLength(3);
    expect(metric('pulse_journey_output_dropped_total', { signal: 'attempts', reason: 'permanent' })).toBe(1);
  });

  it('never throws into the pipeline: a failing condition forwards the batch and is counted', async () => {
    const broken = checkoutJourney();
    const bad = journey({ name: 'bad', start: { service: 'frontend', span: 'POST /api/checkout' } });
    (bad.start.where as unknown[]).push({ key: 'x', source: 'x', test: () => { throw new Error('boom'); } });
    const { connector, traces, metric } = setup({ journeys: [broken, bad] });
    await connector.start({ reportFatalError() {} });
    const b = batch([FRONTEND, [checkoutSpans(traceId(8)).start]]);
    await connector.inputs.traces!.consume(b);
    expect(traces.got).toEqual([b]);
    expect(metric('pulse_journey_process_errors_total')).toBe(1);
  });

  it('fails to start when the definitions are invalid, and releases the store', async () => {
    const { connector, source } = setup();
    source.fail = new PulseError('PULSE_ERR_JOURNEYS', 'checkout.yaml:3:5: unknown key');
    await expect(connector.start({ reportFatalError() {} })).rejects.toThrow(/PULSE_ERR_JOURNEYS|unknown key/);
    expect(source.released).toBe(1);
  });

  it('on shutdown decides pending attempts (flush), emits every window, releases the store, and refuses later data', async () => {
    const { connector, source, attempts, windows, metric } = setup();
    await connector.start({ reportFatalError() {} });
    const { start, charge } = checkoutSpans(traceId(9));
    await connector.inputs.traces!.consume(batch([FRONTEND, [start]], [PAYMENTS, [charge]]));
    await connector.inputs.traces!.consume(batch([PAYMENTS, [checkoutSpans(traceId(10)).charge]]));
    await Promise.all([connector.shutdown(), connector.shutdown()]);
    expect(flat(attempts.got).map((a) => [a.decidedBy, a.outcome])).toEqual([['flush', 'success']]);
    expect(flat(windows.got).find((r) => r.segmentKey === '')).toMatchObject({ attempts: 1, successes: 1 });
    expect(metric('pulse_journey_orphan_steps_total', { journey: 'checkout' })).toBe(1);
    expect(source.released).toBe(1);
    expect(source.listeners).toHaveLength(0);
    await expect(connector.inputs.traces!.consume(batch())).rejects.toMatchObject({ code: 'PULSE_ERR_SHUTTING_DOWN' });
  });

  it('measures each decision from the first span of its attempt: settle_delay when complete, trace_wait on timeout', async () => {
    const { connector, clock, at, metrics } = setup({ config: { settle_delay: '1s', trace_wait: '5s' } });
    await connector.start({ reportFatalError() {} });
    const consume = async (ms: number, b: TraceBatch) => {
      clock.now = T0 + ms;
      await connector.inputs.traces!.consume(b);
    };
    // Complete at once: decided settle_delay (1 s) later.
    const a = checkoutSpans(traceId(21));
    await consume(0, batch([FRONTEND, [a.start]], [PAYMENTS, [a.charge]], [NOTIFIER, [a.confirm]]));
    // Its required charge never comes: decided trace_wait (5 s) after the start arrived.
    await consume(200, batch([FRONTEND, [checkoutSpans(traceId(22)).start]]));
    await at(1000);
    // A step arriving 1 s before its start: the delay counts from the step (2 s = 1 s wait + settle_delay).
    const d = checkoutSpans(traceId(23));
    await consume(2000, batch([PAYMENTS, [d.charge]]));
    await consume(3000, batch([FRONTEND, [d.start]], [NOTIFIER, [d.confirm]]));
    await at(4000);
    await at(5200);
    // Decided at shutdown, 300 ms after arrival.
    const f = checkoutSpans(traceId(24));
    await consume(7000, batch([FRONTEND, [f.start]], [PAYMENTS, [f.charge]]));
    clock.now = T0 + 7300;
    await connector.shutdown();

    const series = (by: string) =>
      metrics
        .render()
        .split('\n')
        .filter((l) => l.startsWith('pulse_journey_decision_delay_seconds_') && l.includes(`decided_by="${by}"`))
        .map((l) => l.replace(/connector="journeys",decided_by="\w+",?/, '').replace('{}', ''));
    expect(series('complete')).toEqual([
      ...['0.05', '0.1', '0.25', '0.5', '0.75'].map((le) => `pulse_journey_decision_delay_seconds_bucket{le="${le}"} 0`),
      'pulse_journey_decision_delay_seconds_bucket{le="1"} 1',
      'pulse_journey_decision_delay_seconds_bucket{le="1.5"} 1',
      ...['2.5', '5', '10', '15', '30', '60', '+Inf'].map((le) => `pulse_journey_decision_delay_seconds_bucket{le="${le}"} 2`),
      'pulse_journey_decision_delay_seconds_sum 3',
      'pulse_journey_decision_delay_seconds_count 2',
    ]);
    expect(series('timeout')).toEqual([
      ...['0.05', '0.1', '0.25', '0.5', '0.75', '1', '1.5', '2.5'].map((le) => `pulse_journey_decision_delay_seconds_bucket{le="${le}"} 0`),
      ...['5', '10', '15', '30', '60', '+Inf'].map((le) => `pulse_journey_decision_delay_seconds_bucket{le="${le}"} 1`),
      'pulse_journey_decision_delay_seconds_sum 5',
      'pulse_journey_decision_delay_seconds_count 1',
    ]);
    expect(series('flush').slice(-2)).toEqual(['pulse_journey_decision_delay_seconds_sum 0.3', 'pulse_journey_decision_delay_seconds_count 1']);
    expect(series('flush')).toContain('pulse_journey_decision_delay_seconds_bucket{le="0.5"} 1');
    expect(series('flush')).toContain('pulse_journey_decision_delay_seconds_bucket{le="0.25"} 0');
    // Bound up front: a decided_by that never happened is exposed at zero.
    expect(series('evicted').slice(-1)).toEqual(['pulse_journey_decision_delay_seconds_count 0']);
  });

  it('split across threads, tells the worker of overload refusals within a tick even when no batch gets through to carry them', async () => {
    const overload = new OverloadRefusals();
    const posted: Array<{ to: string; message: unknown }> = [];
    const thread: ThreadLink = { side: 'main', post: (to, message) => posted.push({ to, message }), listen: () => () => undefined };
    const { connector, clock } = setup({ overload, thread, tickIntervalMs: 5 });
    await connector.start({ reportFatalError() {} });
    await new Promise((r) => setTimeout(r, 30));
    expect(posted).toEqual([]); // nothing refused, nothing to say
    clock.now = T0 + 1000;
    overload.add(); // every request is shed: none reaches the connector
    overload.add();
    for (let waited = 0; posted.length === 0 && waited < 2000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20)); // and only once while the count stays
    expect(posted).toEqual([{ to: 'journeys', message: { generation: 1, nowMs: T0 + 1000, spans: [], refusals: 2 } }]);
  });

  it('when the receivers refused spans for overload, waits once more for a missing step instead of failing the attempt', async () => {
    const overload = new OverloadRefusals();
    overload.add(); // before this connector existed (an earlier graph): not its concern
    const { connector, attempts, at, metric, clock } = setup({ overload });
    await connector.start({ reportFatalError() {} });
    const { start, charge } = checkoutSpans(traceId(12));
    await connector.inputs.traces!.consume(batch([FRONTEND, [start]]));
    overload.add(); // the request with charge was shed
    await at(50);
    await at(10_000);
    expect(flat(attempts.got)).toEqual([]);
    expect(metric('pulse_journey_extended_waits_total', { journey: 'checkout' })).toBe(1);
    clock.now = T0 + 12_000;
    await connector.inputs.traces!.consume(batch([PAYMENTS, [charge]])); // sent again, 12 s later
    await at(12_600);
    expect(flat(attempts.got).map((a) => [a.outcome, a.decidedBy])).toEqual([['success', 'complete']]);

    // without a refusal, the same arrival order is a missing_step failure at trace_wait
    const quiet = setup({ overload: new OverloadRefusals() });
    await quiet.connector.start({ reportFatalError() {} });
    await quiet.connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(13)).start]]));
    await quiet.at(10_000);
    expect(flat(quiet.attempts.got).map((a) => a.reasons)).toEqual([['missing_step:charge']]);
  });

  describe('across a config reload (the runtime handed to the new instance)', () => {
    const key = 'connector/journeys:journeys';
    const host = { reportFatalError() {} };

    it('an attempt whose steps straddle the reload is assembled whole by the new instance and decided once, a success', async () => {
      const handover = new Handover();
      const first = setup({ handover: handover.slot(key) });
      await first.connector.start(host);
      const t = traceId(21);
      const { start, charge, confirm } = checkoutSpans(t, { tier: 'pro' });
      await first.connector.inputs.traces!.consume(batch([FRONTEND, [start]]));
      handover.expect(new Set([key]));
      await first.connector.shutdown();
      expect(flat(first.attempts.got)).toEqual([]);
      expect(first.metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'shutdown' })).toBe(0);

      const second = setup({ handover: handover.slot(key) });
      await second.connector.start(host);
      handover.settle(silentLogger());
      expect(second.metric('pulse_journey_pending_attempts')).toBe(1);
      await second.connector.inputs.traces!.consume(batch([PAYMENTS, [charge]], [NOTIFIER, [confirm]]));
      await second.at(600);
      const records = flat(second.attempts.got);
      expect(records.map((r) => [r.traceId, r.outcome, r.decidedBy])).toEqual([[t, 'success', 'complete']]);
      // Its SLI window was opened by the first instance and is closed, whole, by the second.
      await second.at(22_000);
      const all = flat(second.windows.got).filter((r) => r.segmentKey === '');
      expect(all.map((r) => [r.windowStartMs, r.attempts, r.successes])).toEqual([[T0, 1, 1]]);
    });

    it('decides what it held as at a shutdown when the reload changed its settings', async () => {
      const handover = new Handover();
      const first = setup({ handover: handover.slot(key) });
      await first.connector.start(host);
      await first.connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(22)).start]]));
      handover.expect(new Set([key]));
      await first.connector.shutdown();
      const second = setup({ handover: handover.slot(key), config: { trace_wait: '20s' } });
      await second.connector.start(host);
      expect(second.metric('pulse_journey_pending_attempts')).toBe(0);
      // Counted by the runtime that held it (one registry per process; one per instance in these tests).
      expect(first.metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'shutdown' })).toBe(1);
    });
  });

  it('on shutdown counts an attempt still waiting for its required step instead of failing it with missing_step', async () => {
    const { connector, attempts, windows, metric } = setup();
    await connector.start({ reportFatalError() {} });
    // A start whose required charge has not arrived yet (it may be in flight when a reload or deploy stops Pulse).
    await connector.inputs.traces!.consume(batch([FRONTEND, [checkoutSpans(traceId(11)).start]]));
    await connector.shutdown();
    expect(flat(attempts.got)).toEqual([]);
    expect(flat(windows.got).filter((r) => r.segmentKey === '' && r.failures > 0)).toEqual([]);
    expect(metric('pulse_journey_abandoned_attempts_total', { journey: 'checkout', reason: 'shutdown' })).toBe(1);
  });
});
