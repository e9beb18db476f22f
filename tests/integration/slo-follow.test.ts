/**
 * One evaluator for two gateways, with real processes and a real ClickHouse (Debian's 18.16): two `bin/pulse start`
 * gateways (journeys → clickhouse, no slo connector) each receive half of the checkouts, as trace-id routing would
 * split them, and a third Pulse runs only the `slo` connector with `clickhouse.follow`, recording its alert events.
 *
 * What a user would notice: the evaluator's alerts count both gateways' attempts, exactly (never more: a window is
 * read again at every poll), and its suspects come from the attempts both wrote. Gateway B serves the gold
 * customers, whose checkouts all fail; gateway A the free ones, whose checkouts all succeed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { freePort, waitFor } from '../support/net.js';
import { attemptsByOutcome, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { CHECKOUT_JOURNEY, postCheckouts, pulseConfig, writeJourneys } from './clickhouse-support.js';

let ch: TestClickHouse;
let work: string;
const running: PulseProcess[] = [];

beforeAll(async () => {
  ch = await startTestClickHouse();
  work = mkdtempSync(join(tmpdir(), 'pulse-slo-follow-'));
}, 300_000);

afterAll(async () => {
  for (const p of running) await p.stop(5000);
  await ch?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The evaluator's copy of the checkout journey: the same journey, with alert windows of seconds. */
function evaluatorJourneys(): string {
  const dir = join(work, 'evaluator-journeys');
  mkdirSync(dir, { recursive: true });
  const fast = [
    '  objective: { target: 99%, window: 1h }',
    '  alerts:',
    '    burn_rates:',
    '      - { severity: page, long: 60s, short: 20s, factor: 10 }',
    '    segments: { min_attempts: 10 }',
    '    heartbeat: false',
    '    release: false',
    '    repeat_interval: 3s',
    '',
  ].join('\n');
  const text = CHECKOUT_JOURNEY.replace('  objective:\n    target: 99.5%\n    window: 28d\n', fast);
  expect(text).toContain('repeat_interval: 3s');
  writeFileSync(join(dir, 'checkout.yaml'), text);
  return dir;
}

interface RecordedAlert {
  kind: string;
  status: string;
  attempts: number;
  failures: number;
  segment?: { key: string; value: string };
  suspects: Array<{ dimension: string; value: string }>;
}

function recorded(path: string): RecordedAlert[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RecordedAlert);
}

describe('one slo evaluator over two gateways (clickhouse.follow)', () => {
  it('alerts on both gateways\' attempts, each counted once, with suspects from their attempt rows', async () => {
    const gatewayPorts = [await freePort(), await freePort()];
    const gateways = await Promise.all(
      gatewayPorts.map((otlpPort, i) => startPulse(pulseConfig({ otlpPort, journeysDir: writeJourneys(join(work, `gateway-${i}`)), clickhouseUrl: ch.url }))),
    );
    running.push(...gateways);
    // The gateways create the tables; the evaluator reads them.
    await waitFor(async () => (await ch.query("SELECT count() FROM system.tables WHERE database = 'pulse'")).trim() === '3', 20_000, 'tables');

    const alertsPath = join(work, 'alerts.jsonl');
    const evaluator = await startPulse(`
connectors:
  slo:
    directory: ${evaluatorJourneys()}
    evaluation_interval: 1s
    sli_delay: 5s
    clickhouse:
      endpoint: ${ch.url}
      follow: { interval: 1s, lookback: 2m, attempts_delay: 2s }
exporters:
  debug/alerts: { path: ${alertsPath} }
service:
  pipelines:
    alerts: { receivers: [slo], exporters: [debug/alerts] }
`);
    running.push(evaluator);

    // 10 s of traffic: every 500 ms, 6 checkouts to each gateway.
    const perGateway = 120;
    for (let i = 0; i < perGateway / 6; i++) {
      await postCheckouts(gatewayPorts[0]!, Array.from({ length: 6 }, () => ({ tier: 'free', ok: true })));
      await postCheckouts(gatewayPorts[1]!, Array.from({ length: 6 }, () => ({ tier: 'gold', ok: false })));
      await new Promise((r) => setTimeout(r, 500));
    }
    // Each gateway decided its half.
    await waitFor(async () => (await attemptsByOutcome(gateways[0]!)).success === perGateway, 20_000, 'gateway A decided its attempts');
    await waitFor(async () => (await attemptsByOutcome(gateways[1]!)).failure === perGateway, 20_000, 'gateway B decided its attempts');

    // The burn-rate alert repeats every 3 s while it fires; once every window of the traffic is behind the data
    // time, its long window holds all of it.
    const full = await waitFor(
      () => recorded(alertsPath).find((a) => a.kind === 'burn_rate' && a.status === 'firing' && a.attempts === 2 * perGateway),
      60_000,
      `a burn_rate event over all ${2 * perGateway} attempts (recorded: ${JSON.stringify(recorded(alertsPath).map((a) => [a.kind, a.status, a.attempts, a.failures]))})`,
    );
    expect(full.failures).toBe(perGateway);
    expect(full.suspects[0]).toMatchObject({ dimension: 'customer.tier', value: 'gold' });
    const events = recorded(alertsPath);
    for (const e of events.filter((a) => a.kind === 'burn_rate')) expect(e.attempts).toBeLessThanOrEqual(2 * perGateway);
    expect(events.find((a) => a.kind === 'segment')?.segment).toEqual({ key: 'customer.tier', value: 'gold' });

    const metrics = await evaluator.metrics();
    expect(metrics).toMatch(/pulse_slo_follow_polls_total\{connector="slo",result="ok"\} [1-9]/);
    // Every attempt both gateways wrote was read once (those decided in the last attempts_delay are not yet due).
    const read = Number(/pulse_slo_attempts_total\{connector="slo"\} (\d+)/.exec(metrics)?.[1]);
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThanOrEqual(2 * perGateway);
  }, 180_000);
});
