import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClickHouseHistory, historyBucketMs } from '../../../src/connectors/slo/history.js';
import { TieredCounts } from '../../../src/alerts/tiered-counts.js';
import { sloConnectorConfigSchema } from '../../../src/connectors/slo/config.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A stand-in for the ClickHouse HTTP interface: answers each query with `answer(sql)` as JSONEachRow. */
async function fakeClickHouse(answer: (sql: string, headers: Record<string, unknown>) => { status?: number; rows?: object[]; text?: string }) {
  const queries: string[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      queries.push(body);
      const a = answer(body, req.headers);
      res.writeHead(a.status ?? 200);
      res.end(a.text ?? (a.rows ?? []).map((r) => JSON.stringify(r)).join('\n') + '\n');
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: `http://127.0.0.1:${port}`, username: 'pulse', password: 's3cret' } }).clickhouse!;
  return { history: new ClickHouseHistory(config), queries };
}

describe('ClickHouse history', () => {
  it('reads journey_sli summed per window (FINAL) and the last event per alert, keeping only firing ones', async () => {
    let auth: unknown;
    const { history, queries } = await fakeClickHouse((sql, headers) => {
      auth = [headers['x-clickhouse-user'], headers['x-clickhouse-key']];
      if (sql.includes('system.columns')) return { rows: [{ name: 'abandoned' }] };
      if (sql.includes('journey_sli')) {
        return {
          rows: [{ journey: 'checkout', segment_key: '', segment_value: '', ws: 1_763_805_600, window_seconds: 10, attempts: '120', successes: '100', failures: '20', abandoned_attempts: '4' }],
        };
      }
      return {
        rows: [
          { fingerprint: 'a', last_journey: 'checkout', last_kind: 'burn_rate', last_severity: 'page', last_status: 'firing', last_segment_key: '', last_segment_value: '', last_starts_at: 1_763_805_000, last_event: 1_763_805_500 },
          { fingerprint: 'b', last_journey: 'checkout', last_kind: 'segment', last_severity: 'ticket', last_status: 'resolved', last_segment_key: 'customer.tier', last_segment_value: 'pro', last_starts_at: 1, last_event: 2 },
          { fingerprint: 'c', last_journey: 'checkout', last_kind: 'segment', last_severity: 'ticket', last_status: 'firing', last_segment_key: 'customer.tier', last_segment_value: 'enterprise', last_starts_at: 1, last_event: 2 },
        ],
      };
    });
    const rows = await history.loadSli(1_763_800_000_000, ['checkout', "o'brien"]);
    expect(rows).toEqual([
      expect.objectContaining({ journey: 'checkout', windowStartMs: 1_763_805_600_000, windowSeconds: 10, segmentKey: '', attempts: 120, successes: 100, failures: 20, abandoned: 4 }),
    ]);
    expect(queries[0]).toMatch(/FROM system\.columns WHERE database = 'pulse' AND table = 'journey_sli' AND name = 'abandoned'/);
    expect(queries[1]).toMatch(/FROM `pulse`\.`journey_sli` FINAL/);
    expect(queries[1]).toContain('sum(abandoned) AS abandoned_attempts');
    expect(queries[1]).toContain("journey IN ('checkout', 'o\\'brien')");
    expect(queries[1]).toContain('window_start >= toDateTime(1763800000)');
    const alerts = await history.loadFiringAlerts(0);
    expect(alerts).toEqual([
      { fingerprint: 'a', journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: 1_763_805_000_000, lastEventMs: 1_763_805_500_000 },
      { fingerprint: 'c', journey: 'checkout', kind: 'segment', severity: 'ticket', segment: { key: 'customer.tier', value: 'enterprise' }, startsAtMs: 1000, lastEventMs: 2000 },
    ]);
    expect(queries[2]).toMatch(/FROM system\.columns WHERE database = 'pulse' AND table = 'journey_alerts' AND name = 'starts_at_ms'/);
    expect(queries[3]).toMatch(/FROM `pulse`\.`journey_alerts` FINAL/);
    expect(auth).toEqual(['pulse', 's3cret']);
  });

  it('reports an error answer or an unreachable server with a PULSE_ERR_SLO_HISTORY error', async () => {
    const { history } = await fakeClickHouse(() => ({ status: 500, text: 'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded' }));
    await expect(history.loadSli(0, ['checkout'])).rejects.toMatchObject({ code: 'PULSE_ERR_SLO_HISTORY', message: expect.stringMatching(/answered 500: Code: 241/) as string });
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: 'http://127.0.0.1:1', timeout: '2s' } }).clickhouse!;
    await expect(new ClickHouseHistory(config).loadFiringAlerts(0)).rejects.toMatchObject({ code: 'PULSE_ERR_SLO_HISTORY', message: expect.stringMatching(/unreachable/) as string });
  });
});

describe('history read in coarser buckets (historyBucketMs)', () => {
  it('gives the engine the same window sums as the stored rows, for every window it reads', () => {
    const nowMs = 1_763_805_600_000;
    const historyMs = 3 * 86_400_000;
    const coarser = { nowMs, rawFromMs: nowMs - 2 * 3_600_000 };
    const stored = new TieredCounts(historyMs);
    const bucketed = new TieredCounts(historyMs);
    const buckets = new Map<number, { attempts: number; failures: number }>();
    let rows = 0;
    // Three days of 10 s windows with uneven traffic.
    for (let t = nowMs - historyMs; t < nowMs; t += 10_000) {
      const attempts = 1 + ((t / 10_000) % 17);
      const failures = (t / 10_000) % 5 === 0 ? 1 : 0;
      stored.add(t, attempts, failures, 10_000);
      rows++;
      const size = historyBucketMs(t, coarser);
      const start = size === 0 ? t : Math.floor(t / size) * size;
      const b = buckets.get(start) ?? { attempts: 0, failures: 0 };
      b.attempts += attempts;
      b.failures += failures;
      buckets.set(start, b);
    }
    for (const [start, b] of buckets) bucketed.add(start, b.attempts, b.failures, 10_000);
    stored.trim(nowMs);
    bucketed.trim(nowMs);
    expect(buckets.size).toBeLessThan(rows / 10);
    // The windows of the default rules (28d objective, scaled) and the heartbeat's, ending at a data time 30 s ago.
    const to = nowMs - 30_000;
    for (const windowMs of [60_000, 280_000, 1_680_000, 3_360_000, 6_720_000, 20_160_000, 40_320_000, 80_640_000, 241_920_000]) {
      expect(bucketed.sum(to - windowMs, to, nowMs), `window ${windowMs / 1000} s`).toEqual(stored.sum(to - windowMs, to, nowMs));
    }
  });
});
