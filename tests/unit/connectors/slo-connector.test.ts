import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateSettings } from '../../../src/core/component.js';
import type { Consumer } from '../../../src/core/consumer.js';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import { Handover, type HandoverSlot } from '../../../src/core/handover.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import type { AlertEvent } from '../../../src/alerts/model.js';
import { fingerprintOf } from '../../../src/alerts/lifecycle.js';
import { sloConnectorConfigSchema } from '../../../src/connectors/slo/config.js';
import { SloConnector } from '../../../src/connectors/slo/connector.js';
import { sloConnectorFactory } from '../../../src/connectors/slo/factory.js';
import type { HistorySource } from '../../../src/connectors/slo/history.js';
import type { JourneySource } from '../../../src/connectors/journeys/connector.js';
import { defaultRegistry } from '../../../src/components.js';
import { fanout } from '../../../src/service/fanout.js';
import type { CompiledJourney, JourneySnapshot } from '../../../src/journeys/model.js';
import { silentLogger, snapshot } from '../journeys/runtime/support.js';
import { T0, attemptRecord, batchOf, journeyWith, rowsFor } from '../alerts/support.js';

class FakeSource implements JourneySource {
  listeners: Array<(s: JourneySnapshot) => void> = [];
  released = 0;
  constructor(public snap: JourneySnapshot) {}
  start() {
    return Promise.resolve();
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

const PAGE = (factor: number) => `burn_rates:\n  - { severity: page, long: 60s, short: 10s, factor: ${factor} }\nheartbeat: false\nrelease: false\nrepeat_interval: 1m`;

const running: SloConnector[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.shutdown();
});

function setup(
  opts: {
    journeys?: CompiledJourney[];
    history?: HistorySource;
    answer?: (events: AlertEvent[]) => Promise<void>;
    config?: Record<string, unknown>;
    /** The alerts output instead of the recording one. */
    alerts?: Consumer<AlertEvent[]>;
    handover?: HandoverSlot;
  } = {},
) {
  const clock = { now: T0 };
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = {
    id: 'slo',
    kind: 'connector',
    logger: silentLogger(),
    metrics,
    dataDir: '/tmp/pulse-test',
    ...(opts.handover && { handover: opts.handover }),
  };
  const config = sloConnectorConfigSchema.parse({ directory: 'config/journeys', sli_delay: '2s', ...opts.config });
  const got: AlertEvent[][] = [];
  const answer = { fn: opts.answer ?? (() => Promise.resolve()) };
  const source = new FakeSource(snapshot(opts.journeys ?? [journeyWith({ alerts: PAGE(14.4) })]));
  let ids = 0;
  const connector = new SloConnector(
    settings,
    config,
    {
      alerts: opts.alerts ?? {
        mutatesData: false,
        consume: (events) => {
          got.push(events);
          return answer.fn(events);
        },
      },
    },
    { openSource: () => source, history: opts.history, now: () => clock.now, newId: () => `event-${++ids}`, timer: false },
  );
  running.push(connector);
  /** Feeds `seconds` of traffic (attempts at once, 1 s rows 2 s late), evaluating every 10 s. */
  const traffic = async (seconds: number, perSecond: () => ReturnType<typeof batchOf>) => {
    for (let s = 0; s < seconds; s++) {
      const t = clock.now;
      const attempts = perSecond();
      await connector.inputs.attempts.consume(attempts.map((a) => attemptRecord(a, t)));
      clock.now += 1000;
      // rows of the second that ended 2 s ago
      await connector.inputs.journey_metrics.consume(rowsFor('checkout', t - 2000, 1, attempts, ['customer.tier']));
      if ((clock.now - T0) % 10_000 === 0) await connector.evaluate();
    }
  };
  const metric = (name: string, labels: Record<string, string> = {}) => metrics.find(name)?.get({ connector: 'slo', ...labels }) ?? 0;
  return { connector, source, clock, got, answer, traffic, metric, flat: () => got.flat() };
}

describe('slo connector config and factory', () => {
  it('has the documented defaults and is registered as a connector from journey_metrics and attempts to alerts', () => {
    expect(sloConnectorConfigSchema.parse({ directory: 'j' })).toEqual({
      directory: 'j',
      evaluation_interval: 10_000,
      reload_poll_interval: 2000,
      sli_delay: 'auto',
      history: { max: 7 * 86_400_000, max_series: 2000 },
      recent_attempts: 20_000,
      exemplars: 5,
      max_suspects: 5,
      max_pending_events: 10_000,
    });
    expect(sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: 'http://127.0.0.1:8123' } }).clickhouse).toEqual({
      endpoint: 'http://127.0.0.1:8123',
      database: 'pulse',
      username: 'default',
      password: '',
      timeout: 10_000,
      sli_table: 'journey_sli',
      alerts_table: 'journey_alerts',
      attempts_table: 'journey_attempts',
    });
    expect(sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: 'http://127.0.0.1:8123', follow: {} } }).clickhouse?.follow).toEqual({
      interval: 5000,
      lookback: 600_000,
      attempts_delay: 15_000,
      max_attempts: 50_000,
    });
    expect(sloConnectorConfigSchema.safeParse({}).success).toBe(false);
    expect(sloConnectorConfigSchema.safeParse({ directory: 'j', evaluation_interval: '0s' }).success).toBe(false);
    expect(sloConnectorConfigSchema.safeParse({ directory: 'j', clickhouse: { endpoint: 'ftp://x' } }).success).toBe(false);
    expect(sloConnectorConfigSchema.safeParse({ directory: 'j', evaluaton_interval: '5s' }).success).toBe(false);
    const registered = defaultRegistry().connectors.get('slo');
    expect(registered).toBe(sloConnectorFactory);
    expect(sloConnectorFactory.inputs).toEqual(['journey_metrics', 'attempts']);
    expect(sloConnectorFactory.outputs).toEqual(['alerts']);
  });
});

describe('slo connector validateExternal', () => {
  it('reports alert rules that can never fire as warnings at their factor, and invalid journeys as errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-slo-'));
    try {
      const doc = (factor: number) =>
        [
          'apiVersion: pulse/v1',
          'kind: Journey',
          'metadata: { name: checkout }',
          'spec:',
          '  start: { service: frontend, span: "POST /api/checkout" }',
          '  objective: { target: 99%, window: 1d }',
          '  alerts:',
          '    burn_rates:',
          `      - { severity: page, long: 1h, short: 5m, factor: ${factor} }`,
          '',
        ].join('\n');
      writeFileSync(join(dir, 'checkout.yaml'), doc(150));
      const config = sloConnectorConfigSchema.parse({ directory: dir });
      expect(sloConnectorFactory.validateExternal!(config)).toEqual([
        expect.objectContaining({ severity: 'warning', line: 9, col: 56, message: expect.stringContaining('factor 150 can never fire') as string }),
      ]);
      writeFileSync(join(dir, 'checkout.yaml'), doc(0));
      const issues = sloConnectorFactory.validateExternal!(config);
      expect(issues).toEqual([expect.objectContaining({ line: 9, message: expect.stringContaining('must be greater than 0') as string })]);
      expect(issues[0]!.severity).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slo connector', () => {
  it('turns SLI rows and attempts into alert events on the alerts output, with metrics', async () => {
    const { connector, traffic, flat, metric } = setup();
    await connector.start({ reportFatalError() {} });
    await traffic(60, () => batchOf(10, 0));
    expect(flat()).toEqual([]);
    await traffic(40, () => batchOf(10, 3, { segments: { 'customer.tier': 'pro' } }));
    const events = flat();
    expect(events.map((e) => [e.kind, e.status, e.repeat])).toEqual([['burn_rate', 'firing', false]]);
    expect(events[0]!.id).toBe('event-1');
    expect(metric('pulse_slo_evaluations_total')).toBe(10);
    expect(metric('pulse_slo_events_total', { type: 'firing' })).toBe(1);
    expect(metric('pulse_slo_alerts_firing', { kind: 'burn_rate' })).toBe(1);
    expect(metric('pulse_slo_alerts_firing', { kind: 'segment' })).toBe(0);
    expect(metric('pulse_slo_rows_total')).toBeGreaterThan(100);
    expect(metric('pulse_slo_attempts_total')).toBe(1000);
  });

  it('applies reloaded journey definitions: new rules from the next evaluation', async () => {
    const { connector, source, traffic, flat } = setup({ journeys: [journeyWith({ alerts: PAGE(30) })] });
    await connector.start({ reportFatalError() {} });
    // 10% failures = burn 20: under factor 30
    await traffic(60, () => batchOf(10, 1));
    expect(flat()).toEqual([]);
    source.reload([journeyWith({ alerts: PAGE(10) })]);
    await traffic(10, () => batchOf(10, 1));
    expect(flat().map((e) => [e.kind, e.status])).toEqual([['burn_rate', 'firing']]);
    expect(flat()[0]!.burnRates[0]!.threshold).toBe(10);
  });

  it('keeps refused events and retries them in order at the next evaluation; drops permanently bad ones and counts them', async () => {
    let refuse = 1;
    const s = setup({
      answer: () => (refuse-- > 0 ? Promise.reject(new RetryableError('PULSE_ERR_TEST', 'kafka down')) : Promise.resolve()),
    });
    await s.connector.start({ reportFatalError() {} });
    await s.traffic(60, () => batchOf(10, 0));
    await s.traffic(20, () => batchOf(10, 5));
    // first send refused, the same event (same id) delivered at the next evaluation
    const firing = s.got.flat().filter((e) => e.status === 'firing');
    expect(firing.length).toBeGreaterThanOrEqual(2);
    expect(firing[0]!.id).toBe(firing[1]!.id);
    expect(s.metric('pulse_slo_events_dropped_total', { reason: 'permanent' })).toBe(0);

    const p = setup({ answer: () => Promise.reject(new PermanentError('PULSE_ERR_TEST', 'bad event')) });
    await p.connector.start({ reportFatalError() {} });
    await p.traffic(60, () => batchOf(10, 0));
    await p.traffic(20, () => batchOf(10, 5));
    expect(p.metric('pulse_slo_events_dropped_total', { reason: 'permanent' })).toBe(1);
    const before = p.got.length;
    await p.connector.evaluate();
    expect(p.got.length).toBe(before); // not retried
  });

  it('sends an event once to each alerts output: one refusing does not make the other receive it again', async () => {
    // The alerts pipeline's exporters: Kafka accepts everything; ClickHouse refuses three sends (queue full), then accepts.
    const kafka: AlertEvent[] = [];
    const clickhouse: AlertEvent[] = [];
    let refusals = 3;
    const s = setup({
      config: { evaluation_interval: '10s' },
      journeys: [journeyWith({ alerts: PAGE(14.4).replace('repeat_interval: 1m', 'repeat_interval: 20s') })],
      alerts: fanout('alerts', [
        {
          mutatesData: false,
          consume: (events) => {
            kafka.push(...events);
            return Promise.resolve();
          },
        },
        {
          mutatesData: false,
          consume: (events) => {
            if (refusals > 0) {
              refusals--;
              return Promise.reject(new RetryableError('PULSE_ERR_QUEUE_FULL', 'clickhouse@alerts: the sending queue is full'));
            }
            clickhouse.push(...events);
            return Promise.resolve();
          },
        },
      ]),
    });
    await s.connector.start({ reportFatalError() {} });
    await s.traffic(60, () => batchOf(10, 0));
    await s.traffic(60, () => batchOf(10, 5)); // fires, then repeats every 20 s
    await s.traffic(60, () => batchOf(10, 0)); // resolves
    const ids = (events: AlertEvent[]) => events.map((e) => e.id);
    expect(refusals).toBe(0);
    expect(kafka.map((e) => [e.status, e.repeat])).toEqual(expect.arrayContaining([['firing', false], ['firing', true], ['resolved', false]]));
    expect(new Set(ids(kafka)).size).toBe(kafka.length); // each event once
    expect(ids(clickhouse)).toEqual(ids(kafka)); // once each too, in the same order, after it recovered
    expect(s.metric('pulse_slo_events_total', { type: 'firing' }) + s.metric('pulse_slo_events_total', { type: 'repeat' }) + s.metric('pulse_slo_events_total', { type: 'resolved' })).toBe(kafka.length);
    expect(s.metric('pulse_slo_pending_events')).toBe(0);
  });

  it('rebuilds windows and firing alerts from history at start: an alert already firing continues as a repeat', async () => {
    const fp = fingerprintOf({ journey: 'checkout', kind: 'burn_rate' });
    const calls: Array<[number, readonly string[]]> = [];
    const history: HistorySource = {
      loadSli: (since, journeys) => {
        calls.push([since, journeys]);
        // the last 2 minutes: 30% failures
        const rows = [];
        for (let t = T0 - 120_000; t < T0 - 2000; t += 1000) rows.push(...rowsFor('checkout', t, 1, batchOf(10, 3), []));
        return Promise.resolve(rows);
      },
      loadFiringAlerts: () =>
        Promise.resolve([{ fingerprint: fp, journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: T0 - 90_000, lastEventMs: T0 - 30_000 }]),
    };
    const { connector, traffic, flat } = setup({ history });
    await connector.start({ reportFatalError() {} });
    expect(calls[0]![1]).toEqual(['checkout']);
    expect(calls[0]![0]).toBeLessThanOrEqual(T0 - 60_000);
    await connector.evaluate(); // still firing from history: nothing new, not yet time to repeat
    expect(flat()).toEqual([]);
    await traffic(40, () => batchOf(10, 3));
    const events = flat();
    expect(events.map((e) => [e.status, e.repeat, e.startsAtMs])).toEqual([['firing', true, T0 - 90_000]]);
  });

  describe('across a config reload (the engine handed to the new instance)', () => {
    const key = 'connector/slo:slo';
    const host = { reportFatalError() {} };

    /** A first instance with a burn-rate alert firing, shut down for a reload to a config that has it too. */
    async function firingThenReload(handover: Handover) {
      const first = setup({ handover: handover.slot(key) });
      await first.connector.start(host);
      await first.traffic(60, () => batchOf(10, 0));
      await first.traffic(40, () => batchOf(10, 3));
      expect(first.flat().map((e) => [e.kind, e.status, e.repeat])).toEqual([['burn_rate', 'firing', false]]);
      handover.expect(new Set([key]));
      await first.connector.shutdown();
      return first;
    }

    it('goes on with the windows and firing alerts: no second announcement, and it resolves when the fault ends', async () => {
      const handover = new Handover();
      const first = await firingThenReload(handover);
      const second = setup({ handover: handover.slot(key) });
      second.clock.now = first.clock.now;
      await second.connector.start(host);
      handover.settle(silentLogger());
      expect(second.metric('pulse_slo_alerts_firing', { kind: 'burn_rate' })).toBe(1);
      await second.traffic(30, () => batchOf(10, 3));
      expect(second.flat().filter((e) => e.status === 'firing' && !e.repeat)).toEqual([]);
      await second.traffic(120, () => batchOf(10, 0));
      const resolved = second.flat().filter((e) => e.status === 'resolved');
      expect(resolved.map((e) => [e.kind, e.startsAtMs])).toEqual([['burn_rate', first.flat()[0]!.startsAtMs]]);
    });

    it('starts afresh when the engine settings changed with the reload', async () => {
      const handover = new Handover();
      const first = await firingThenReload(handover);
      const second = setup({ handover: handover.slot(key), config: { recent_attempts: 5000 } });
      second.clock.now = first.clock.now;
      await second.connector.start(host);
      handover.settle(silentLogger());
      expect(second.metric('pulse_slo_alerts_firing', { kind: 'burn_rate' })).toBe(0);
      await second.traffic(30, () => batchOf(10, 3));
      expect(second.flat().map((e) => [e.kind, e.status, e.repeat])).toEqual([['burn_rate', 'firing', false]]);
    });
  });

  it('starts empty when history is unreachable', async () => {
    const history: HistorySource = {
      loadSli: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8123')),
      loadFiringAlerts: () => Promise.resolve([]),
    };
    const { connector, traffic, flat } = setup({ history });
    await connector.start({ reportFatalError() {} });
    await traffic(60, () => batchOf(10, 3));
    expect(flat().map((e) => e.kind)).toEqual(['burn_rate']);
  });

  it('shuts down idempotently: releases the store, refuses later data with a retryable error', async () => {
    const { connector, source } = setup();
    await connector.start({ reportFatalError() {} });
    await connector.shutdown();
    await connector.shutdown();
    expect(source.released).toBe(1);
    await expect(connector.inputs.journey_metrics.consume([])).rejects.toBeInstanceOf(RetryableError);
    await expect(connector.inputs.attempts.consume([])).rejects.toMatchObject({ code: 'PULSE_ERR_SHUTTING_DOWN' });
  });
});
