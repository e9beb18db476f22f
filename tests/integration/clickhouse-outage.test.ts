/**
 * Durability of the clickhouse exporter with a real ClickHouse and a real `bin/pulse start`, fed OTLP checkouts
 * through the journeys connector:
 * - ClickHouse stopped for 30 s while traffic flows, then started again: every attempt and SLI row arrives, once;
 * - Pulse killed with SIGKILL, first while its rows wait on disk for a ClickHouse that is down, then while the
 *   restarted Pulse is inserting them: after the second restart nothing is lost and nothing counts twice.
 *
 * The SIGKILL boundary (README, "Exactly once"): attempts still being assembled and SLI windows not yet emitted
 * live in memory and die with the process. The test therefore kills Pulse only after every attempt and SLI row has
 * been handed to the exporter's disk queue (their files are counted) — and again mid-insert.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { freePort, waitFor } from '../support/net.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { postCheckouts, pulseConfig, queuedItems, rows, scalar, writeJourneys, type Checkout } from './clickhouse-support.js';

let ch: TestClickHouse;
let work: string;
const running: PulseProcess[] = [];

beforeAll(async () => {
  ch = await startTestClickHouse();
  work = mkdtempSync(join(tmpdir(), 'pulse-ch-outage-'));
}, 300_000);

afterAll(async () => {
  for (const p of running) await p.stop(2000);
  await ch?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const q = (sql: string): Promise<string> => ch.query(sql);

/** What a database should hold for the checkouts sent: per tier, attempts and successes. */
class Expected {
  readonly byTier = new Map<string, { total: number; ok: number }>();
  total = 0;
  ok = 0;
  add(cs: readonly Checkout[]): void {
    for (const c of cs) {
      const tier = c.tier ?? '__unset__';
      const t = this.byTier.get(tier) ?? { total: 0, ok: 0 };
      t.total++;
      this.total++;
      if (c.ok) {
        t.ok++;
        this.ok++;
      }
      this.byTier.set(tier, t);
    }
  }
}

const TIERS = ['gold', 'silver', 'free', null] as const;
function checkouts(n: number, seed: number, at?: number): Checkout[] {
  return Array.from({ length: n }, (_, i) => {
    const k = seed + i;
    return { tier: TIERS[k % 4]!, ok: k % 7 !== 0 && (k % 4 !== 2 || k % 3 !== 0), ...(at !== undefined ? { at } : {}) };
  });
}

/** Every attempt once, SLI rows summing to the same totals per tier, and the raw row counts (duplicates before FINAL). */
async function expectExactlyOnce(db: string, want: Expected): Promise<{ rawAttempts: number; rawSli: number }> {
  expect(await scalar(q, `SELECT count() FROM ${db}.journey_attempts FINAL`)).toBe(want.total);
  expect(await scalar(q, `SELECT uniqExact(trace_id) FROM ${db}.journey_attempts FINAL`)).toBe(want.total);
  expect(await scalar(q, `SELECT countIf(outcome = 'success') FROM ${db}.journey_attempts FINAL`)).toBe(want.ok);
  const all = await rows<{ total: string; ok: string }>(q, `SELECT sum(attempts) AS total, sum(successes) AS ok FROM ${db}.journey_sli FINAL WHERE segment_key = ''`);
  expect([Number(all[0]!.total), Number(all[0]!.ok)]).toEqual([want.total, want.ok]);
  const tiers = await rows<{ segment_value: string; total: string; ok: string }>(
    q,
    `SELECT segment_value, sum(attempts) AS total, sum(successes) AS ok FROM ${db}.journey_sli FINAL WHERE segment_key = 'customer.tier' GROUP BY segment_value`,
  );
  expect(Object.fromEntries(tiers.map((t) => [t.segment_value, { total: Number(t.total), ok: Number(t.ok) }]))).toEqual(Object.fromEntries(want.byTier));
  return {
    rawAttempts: await scalar(q, `SELECT count() FROM ${db}.journey_attempts`),
    rawSli: await scalar(q, `SELECT count() FROM ${db}.journey_sli`),
  };
}

async function sliTotal(db: string): Promise<number> {
  return scalar(q, `SELECT sum(attempts) FROM ${db}.journey_sli FINAL WHERE segment_key = ''`).catch(() => -1);
}

describe('ClickHouse down for 30 s while traffic flows', () => {
  it('every attempt and SLI row arrives exactly once after it comes back', async () => {
    const otlpPort = await freePort();
    const pulse = await startPulse(
      pulseConfig({ otlpPort, journeysDir: writeJourneys(join(work, 'outage')), clickhouseUrl: ch.url, exporterExtra: 'database: outage' }),
    );
    running.push(pulse);
    const want = new Expected();
    let seed = 0;
    const send = async (n: number): Promise<void> => {
      const cs = checkouts(n, seed);
      seed += n;
      await postCheckouts(otlpPort, cs);
      want.add(cs);
    };
    /** Sends 10 checkouts every 100 ms for `ms`. */
    const flow = async (ms: number): Promise<void> => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        await send(10);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    await flow(2000);
    await waitFor(async () => (await scalar(q, 'SELECT count() FROM outage.journey_attempts').catch(() => 0)) > 0, 10_000, 'first rows');
    await ch.stop();
    const outageStart = Date.now();
    await flow(30_000);
    expect(Date.now() - outageStart).toBeGreaterThanOrEqual(30_000);
    const heldDuringOutage = (await pulse.metrics()).match(/pulse_exporter_queue_size\{exporter="clickhouse@attempts"\} (\d+)/)?.[1];
    await ch.restart();
    await flow(2000);

    await waitFor(async () => (await scalar(q, 'SELECT count() FROM outage.journey_attempts FINAL')) === want.total, 30_000, `${want.total} attempts`);
    await waitFor(async () => (await sliTotal('outage')) === want.total, 30_000, `SLI rows for ${want.total} attempts`);
    const raw = await expectExactlyOnce('outage', want);
    expect(Number(heldDuringOutage)).toBeGreaterThan(0);
    expect(raw.rawAttempts).toBeGreaterThanOrEqual(want.total);
    expect(want.total).toBeGreaterThan(2000);
    const metrics = await pulse.metrics();
    expect(metrics).toMatch(/pulse_exporter_send_failed_items_total\{exporter="clickhouse@attempts",reason="permanent"\} 0/);
    expect(metrics).toMatch(/pulse_clickhouse_insert_errors_total\{exporter="clickhouse@attempts",code="connection"\} [1-9]/);
  }, 90_000);
});

describe('Pulse killed with SIGKILL', () => {
  it('loses nothing and doubles nothing: killed with rows on disk, then again with inserts in flight', async () => {
    const otlpPort = await freePort();
    const queueDir = join(work, 'kill-queue');
    const config = pulseConfig({
      otlpPort,
      journeysDir: writeJourneys(join(work, 'kill')),
      clickhouseUrl: ch.url,
      // Small inserts, one at a time: the second kill lands between two of them.
      exporterExtra: `database: kill\nsending_queue: { num_consumers: 1, storage: { directory: ${queueDir} } }\nbatch: { min_size: 200, max_size: 200, flush_timeout: 10ms }`,
    });
    const kill = async (p: PulseProcess): Promise<void> => {
      const exited = new Promise((resolve) => p.child.once('exit', resolve));
      p.child.kill('SIGKILL');
      await exited;
    };

    // ClickHouse is up at first so that the tables exist; then it goes down and traffic arrives.
    const first = await startPulse(config);
    running.push(first);
    await waitFor(async () => (await scalar(q, "SELECT count() FROM system.tables WHERE database = 'kill'").catch(() => 0)) === 3, 10_000, 'tables');
    await ch.stop();
    const want = new Expected();
    // Event times a minute ago: their SLI windows are past allowed_lateness, so rows are emitted at the next tick.
    const at = Date.now() - 60_000;
    // Spread over ticks, so that the queue holds many small batches rather than one large one.
    for (let i = 0; i < 30; i++) {
      const cs = checkouts(100, i * 100, at + i * 10);
      await postCheckouts(otlpPort, cs);
      want.add(cs);
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => queuedItems(join(queueDir, 'attempts')) === want.total, 20_000, `${want.total} attempts on disk`);
    // SLI rows follow the attempts at the next tick (50 ms); wait until their count stops changing.
    let last = -1;
    await waitFor(
      async () => {
        const n = queuedItems(join(queueDir, 'journey_metrics'));
        const settled = n > 0 && n === last;
        last = n;
        if (!settled) await new Promise((r) => setTimeout(r, 300));
        return settled;
      },
      20_000,
      'SLI rows on disk',
    );
    await kill(first); // #1: everything is on disk, nothing was sent

    await ch.restart();
    const second = await startPulse(config);
    running.push(second);
    await waitFor(async () => (await scalar(q, 'SELECT count() FROM kill.journey_attempts')) > 0, 20_000, 'first inserts after restart');
    const beforeKill = await scalar(q, 'SELECT count() FROM kill.journey_attempts');
    await kill(second); // #2: mid-stream; the batch in flight may have landed without being deleted from disk

    const third = await startPulse(config);
    running.push(third);
    await waitFor(async () => (await scalar(q, 'SELECT count() FROM kill.journey_attempts FINAL')) === want.total, 30_000, `${want.total} attempts`);
    await waitFor(async () => (await sliTotal('kill')) === want.total, 30_000, `SLI rows for ${want.total} attempts`);
    await waitFor(() => queuedItems(join(queueDir, 'attempts')) + queuedItems(join(queueDir, 'journey_metrics')) === 0, 10_000, 'queue drained');
    await expectExactlyOnce('kill', want);
    expect(beforeKill).toBeLessThan(want.total); // the second kill did interrupt the inserts
  }, 90_000);
});
