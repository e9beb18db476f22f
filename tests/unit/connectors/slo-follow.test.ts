/**
 * `slo.clickhouse.follow`: one evaluator reading the partial SLI rows and attempts that several gateways write, from
 * a fake table that behaves as ClickHouse does for these reads (sums per window over every row written so far;
 * attempts by decision second, newest first). What a user would notice: alerts count every gateway's attempts
 * exactly once, however often a window is read again, a poll that fails loses nothing, and suspects come from the
 * attempts in the table.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateSettings } from '../../../src/core/component.js';
import { Handover, type HandoverSlot } from '../../../src/core/handover.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import type { AlertEvent } from '../../../src/alerts/model.js';
import { fingerprintOf } from '../../../src/alerts/lifecycle.js';
import { sloConnectorConfigSchema } from '../../../src/connectors/slo/config.js';
import { SloConnector } from '../../../src/connectors/slo/connector.js';
import type { HistorySource } from '../../../src/connectors/slo/history.js';
import { SliDeltas } from '../../../src/connectors/slo/follow.js';
import type { RestoredAlert } from '../../../src/alerts/lifecycle.js';
import { loadConfigText } from '../../../src/config/load.js';
import { defaultRegistry } from '../../../src/components.js';
import type { AttemptRecord, JourneySnapshot, SliWindow } from '../../../src/journeys/model.js';
import { silentLogger, snapshot } from '../journeys/runtime/support.js';
import { T0, attemptRecord, batchOf, journeyWith, row } from '../alerts/support.js';

/** What the gateways wrote: partial SLI rows and attempt rows, read back the way ClickHouseHistory reads them. */
class FakeTables implements HistorySource {
  readonly sli: SliWindow[] = [];
  readonly attempts: AttemptRecord[] = [];
  alerts: RestoredAlert[] = [];
  down = false;
  readonly attemptReads: Array<[number, number]> = [];

  loadSli(sinceMs: number, journeys: readonly string[]): Promise<SliWindow[]> {
    if (this.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8123'));
    const sums = new Map<string, SliWindow>();
    // ClickHouse compares with toDateTime(whole seconds).
    const since = Math.floor(sinceMs / 1000) * 1000;
    for (const r of this.sli) {
      if (r.windowStartMs < since || !journeys.includes(r.journey)) continue;
      const key = `${r.journey}|${r.segmentKey}|${r.segmentValue}|${r.windowStartMs}`;
      const s = sums.get(key);
      sums.set(
        key,
        s === undefined
          ? { ...r }
          : { ...s, attempts: s.attempts + r.attempts, successes: s.successes + r.successes, failures: s.failures + r.failures, abandoned: s.abandoned + r.abandoned },
      );
    }
    return Promise.resolve([...sums.values()]);
  }

  loadFiringAlerts(): Promise<RestoredAlert[]> {
    return this.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8123')) : Promise.resolve(this.alerts);
  }

  loadAttempts(fromSec: number, toSec: number, journeys: readonly string[], limit: number): Promise<{ records: AttemptRecord[]; more: boolean }> {
    if (this.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8123'));
    this.attemptReads.push([fromSec, toSec]);
    const found = this.attempts
      .filter((a) => journeys.includes(a.journey) && Math.floor(a.decidedAtMs / 1000) >= fromSec && Math.floor(a.decidedAtMs / 1000) < toSec)
      .sort((a, b) => b.decidedAtMs - a.decidedAtMs);
    return Promise.resolve({ records: found.slice(0, limit), more: found.length > limit });
  }
}

const ALERTS = 'burn_rates:\n  - { severity: page, long: 60s, short: 10s, factor: 14.4 }\nsegments: false\nheartbeat: { min_successes: 1, per: 10s }\nrelease: false\nrepeat_interval: 1m';

const running: SloConnector[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.shutdown();
});

function evaluator(tables: FakeTables, follow: Record<string, unknown> = {}, handover?: HandoverSlot) {
  const clock = { now: T0 };
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = {
    id: 'slo',
    kind: 'connector',
    logger: silentLogger(),
    metrics,
    dataDir: '/tmp/pulse-test',
    ...(handover && { handover }),
  };
  // Rows are read 8 s behind the clock: every partial row of those windows has been written by then (below).
  const config = sloConnectorConfigSchema.parse({
    directory: 'config/journeys',
    sli_delay: '8s',
    clickhouse: { endpoint: 'http://127.0.0.1:8123', follow: { interval: '1s', lookback: '1m', attempts_delay: '3s', ...follow } },
  });
  const journeys: JourneySnapshot = snapshot([journeyWith({ alerts: ALERTS })]);
  const got: AlertEvent[] = [];
  const connector = new SloConnector(
    settings,
    config,
    { alerts: { mutatesData: false, consume: (events) => (got.push(...events), Promise.resolve()) } },
    {
      openSource: () => ({ start: () => Promise.resolve(), current: () => journeys, onChange: () => () => {}, release() {} }),
      history: tables,
      now: () => clock.now,
      newId: () => 'id',
      timer: false,
    },
  );
  running.push(connector);
  const metric = (name: string, labels: Record<string, string> = {}) => metrics.find(name)?.get({ connector: 'slo', ...labels }) ?? 0;
  return { connector, clock, got, metric };
}

/**
 * Two gateways writing `seconds` of checkout traffic into the tables, as the journeys connector and the clickhouse
 * exporter would, while the evaluator polls every second and evaluates every 10 s. Each 1 s window gets 20
 * attempts, 3 failed: gateway A writes 10 (3 failed) 2 s after the window; gateway B 6 then, and the 4 it decided
 * late as a second partial row 7 s after the window. Gateway A's failures are enterprise customers' (their attempt
 * rows say so); B's customers are on the free tier.
 */
async function twoGateways(e: ReturnType<typeof evaluator>, tables: FakeTables, seconds: number, during?: (second: number) => void) {
  for (let s = 0; s < seconds; s++) {
    const t = e.clock.now;
    during?.(s);
    tables.sli.push(row('checkout', t - 2000, 10, 3), row('checkout', t - 2000, 6, 0), row('checkout', t - 7000, 4, 0));
    for (const a of batchOf(10, 3, { segments: { 'customer.tier': 'enterprise' } })) tables.attempts.push(attemptRecord(a, t - 2000));
    for (const a of batchOf(10, 0, { segments: { 'customer.tier': 'free' } })) tables.attempts.push(attemptRecord(a, t - 2000));
    // Polls fall between whole seconds, as real ones do (the reads compare whole seconds); evaluations on them.
    e.clock.now += 400;
    await e.connector.poll();
    e.clock.now += 600;
    if ((e.clock.now - T0) % 10_000 === 0) await e.connector.evaluate();
  }
}

describe('slo connector following ClickHouse (clickhouse.follow)', () => {
  it('counts every gateway\'s partial rows exactly once, however often their window is read again', async () => {
    const tables = new FakeTables();
    const e = evaluator(tables);
    await e.connector.start({ reportFatalError() {} });
    await twoGateways(e, tables, 150);
    const burn = e.got.filter((ev) => ev.kind === 'burn_rate');
    expect(burn.map((ev) => [ev.status, ev.repeat])).toEqual([
      ['firing', false],
      ['firing', true],
      ['firing', true],
    ]);
    // Once 60 s of complete windows are behind the data time: 60 windows × 20 attempts, 3 failed each.
    for (const ev of burn.slice(1)) expect([ev.attempts, ev.failures]).toEqual([1200, 180]);
    for (const ev of burn) expect(ev.attempts).toBeLessThanOrEqual(1200);
    // Each window is read again for a minute, but handed to the engine only at the two polls it grew at (the
    // gateways' rows 2 s after it, B's late row 7 s after it), not at the ~60 it was read at.
    expect(e.metric('pulse_slo_follow_polls_total', { result: 'ok' })).toBe(151);
    expect(e.metric('pulse_slo_rows_total')).toBe(2 * 150);
    expect(e.metric('pulse_slo_follow_windows')).toBeGreaterThan(50);
    expect(e.metric('pulse_slo_follow_windows')).toBeLessThanOrEqual(62);
  });

  it('goes on from where it read across a config reload: no second announcement, every attempt still counted once', async () => {
    const tables = new FakeTables();
    const handover = new Handover();
    const key = 'connector/slo:slo';
    const first = evaluator(tables, {}, handover.slot(key));
    await first.connector.start({ reportFatalError() {} });
    await twoGateways(first, tables, 80);
    expect(first.got.filter((ev) => ev.kind === 'burn_rate').map((ev) => [ev.status, ev.repeat])[0]).toEqual(['firing', false]);
    handover.expect(new Set([key]));
    await first.connector.shutdown();

    const second = evaluator(tables, {}, handover.slot(key));
    second.clock.now = first.clock.now;
    await second.connector.start({ reportFatalError() {} });
    handover.settle(silentLogger());
    await twoGateways(second, tables, 70);
    const burn = second.got.filter((ev) => ev.kind === 'burn_rate');
    expect(burn.length).toBeGreaterThan(0);
    expect(burn.every((ev) => ev.status === 'firing' && ev.repeat)).toBe(true);
    // 60 complete windows of 20 attempts, 3 failed each: nothing read twice across the reload.
    for (const ev of burn) expect([ev.attempts, ev.failures]).toEqual([1200, 180]);
  });

  it('neither resolves nor pages while ClickHouse cannot be read, and catches up on everything written meanwhile', async () => {
    const tables = new FakeTables();
    const e = evaluator(tables);
    await e.connector.start({ reportFatalError() {} });
    // 85 s without a successful read: longer than lookback (1m).
    await twoGateways(e, tables, 200, (s) => {
      tables.down = s >= 40 && s < 125;
    });
    expect(e.metric('pulse_slo_follow_polls_total', { result: 'error' })).toBe(85);
    expect(e.metric('pulse_slo_follow_evaluations_skipped_total')).toBe(8);
    const burn = e.got.filter((ev) => ev.kind === 'burn_rate');
    // The repeat due during the outage goes out at the first evaluation after it, over windows all written while
    // ClickHouse could not be read: every one of them was read, once.
    expect(burn.map((ev) => [ev.status, ev.repeat, ev.attempts, ev.failures])).toEqual([
      ['firing', false, expect.any(Number), expect.any(Number)],
      ['firing', true, 1200, 180],
      ['firing', true, 1200, 180],
    ]);
    expect(e.got.filter((ev) => ev.kind !== 'burn_rate')).toEqual([]);
  });

  it('reads each attempt once, attempts_delay behind the clock, and ranks suspects from them', async () => {
    const tables = new FakeTables();
    const e = evaluator(tables);
    await e.connector.start({ reportFatalError() {} });
    await twoGateways(e, tables, 30);
    const reads = tables.attemptReads;
    // Consecutive, non-overlapping ranges of decision seconds, ending 3 s behind the clock of the last poll.
    for (let i = 1; i < reads.length; i++) expect(reads[i]![0]).toBe(reads[i - 1]![1]);
    expect(reads.at(-1)![1]).toBe(Math.floor((e.clock.now - 600 - 3000) / 1000));
    const readable = tables.attempts.filter((a) => a.decidedAtMs < reads.at(-1)![1] * 1000).length;
    expect(e.metric('pulse_slo_attempts_total')).toBe(readable);
    expect(e.got[0]).toMatchObject({ kind: 'burn_rate', status: 'firing' });
    expect(e.got[0]!.suspects[0]).toMatchObject({ dimension: 'customer.tier', value: 'enterprise' });
  });

  it('keeps the most recent attempts when more than max_attempts were decided since the last poll', async () => {
    const tables = new FakeTables();
    const e = evaluator(tables, { max_attempts: 15 });
    await e.connector.start({ reportFatalError() {} });
    await twoGateways(e, tables, 10);
    expect(e.metric('pulse_slo_follow_attempts_truncated_total')).toBeGreaterThan(0);
    // 20 decided per second, at most 15 read per poll.
    const decidedIn = ([from, to]: [number, number]) => tables.attempts.filter((a) => Math.floor(a.decidedAtMs / 1000) >= from && Math.floor(a.decidedAtMs / 1000) < to).length;
    expect(tables.attemptReads.some((r) => decidedIn(r) > 15)).toBe(true);
    expect(e.metric('pulse_slo_attempts_total')).toBe(tables.attemptReads.reduce((n, r) => n + Math.min(15, decidedIn(r)), 0));
  });

  it('rebuilds from history at its first successful poll when ClickHouse is down at start', async () => {
    const tables = new FakeTables();
    const fp = fingerprintOf({ journey: 'checkout', kind: 'burn_rate' });
    for (let t = T0 - 120_000; t < T0 - 8000; t += 1000) tables.sli.push(row('checkout', t, 20, 3));
    tables.alerts = [{ fingerprint: fp, journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: T0 - 90_000, lastEventMs: T0 - 30_000 }];
    tables.down = true;
    const e = evaluator(tables);
    await e.connector.start({ reportFatalError() {} });
    expect(e.metric('pulse_slo_follow_polls_total', { result: 'error' })).toBe(1);
    await twoGateways(e, tables, 40, (s) => {
      tables.down = s < 5;
    });
    // The alert that was firing before continues (a repeat at its repeat_interval), rather than paging again.
    expect(e.got.map((ev) => [ev.fingerprint, ev.status, ev.repeat, ev.startsAtMs])).toEqual([[fp, 'firing', true, T0 - 90_000]]);
  });
});

describe('SliDeltas', () => {
  it('hands over what a window gained since the last read, forgets windows past lookback, and skips sums that went down', () => {
    const d = new SliDeltas();
    d.remember([row('checkout', T0, 5, 1), row('checkout', T0 - 60_000, 9, 9)], T0 - 10_000);
    expect(d.size).toBe(1);
    expect(d.take([row('checkout', T0, 8, 1), row('checkout', T0 + 1000, 2, 0)], T0 - 10_000).map((r) => [r.windowStartMs, r.attempts, r.failures])).toEqual([
      [T0, 3, 0],
      [T0 + 1000, 2, 0],
    ]);
    expect(d.take([row('checkout', T0, 8, 1)], T0 - 10_000)).toEqual([]);
    expect(d.take([row('checkout', T0, 6, 1)], T0 - 10_000)).toEqual([]);
    expect(d.shrunk).toBe(1);
    d.take([], T0 + 500);
    expect(d.size).toBe(1);
  });
});

describe('config: a following slo connector', () => {
  const config = (feeds: boolean) =>
    [
      'receivers:',
      '  otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } }',
      'connectors:',
      '  journeys: { directory: config/journeys }',
      '  slo:',
      '    directory: config/journeys',
      '    clickhouse: { endpoint: http://127.0.0.1:8123, follow: { interval: 5s } }',
      'exporters:',
      '  debug: {}',
      'service:',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [journeys] }',
      `    journey_metrics: { receivers: [journeys], exporters: [${feeds ? 'slo, ' : ''}debug] }`,
      '    alerts: { receivers: [slo], exporters: [debug] }',
      '',
    ].join('\n');

  it('needs no pipeline to feed it, and refuses one that does: the rows would be counted twice', () => {
    const ok = loadConfigText(config(false), 'pulse.yaml', defaultRegistry());
    expect('issues' in ok ? ok.issues : []).toEqual([]);
    const bad = loadConfigText(config(true), 'pulse.yaml', defaultRegistry());
    expect('issues' in bad && bad.issues.map((i) => `${i.line}:${i.col}: ${i.message}`)).toEqual([
      '13:59: connector "slo" reads the SLI rows and attempts of every gateway from ClickHouse (clickhouse.follow at http://127.0.0.1:8123), so no pipeline may feed it as well (pipeline "journey_metrics" does): the same data would be counted twice; remove it from this pipeline\'s exporters, or change its config',
    ]);
  });
});
