/**
 * The `slo` connector's history (`slo.clickhouse`): what a restarted Pulse reads back from the tables its exporter
 * wrote — SLI rows summed per window, and the alerts whose last event is `firing` — on both dialects: Debian's
 * ClickHouse 18.16 and ClickHouse 26.9's engine. (The unit test fakes the server; this one runs the real SQL, which
 * is how the alert query was found failing on current servers.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sloConnectorConfigSchema } from '../../src/connectors/slo/config.js';
import { ClickHouseHistory, historyBucketMs } from '../../src/connectors/slo/history.js';
import { createDatabaseSql, createTableSql, featuresOf } from '../../src/exporters/clickhouse/schema.js';
import { encodeAttempts } from '../../src/exporters/clickhouse/rows.js';
import type { AttemptRecord } from '../../src/journeys/model.js';
import { attempt } from './clickhouse-support.js';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';

describe.each(['debian', 'current'] as const)('slo history on %s ClickHouse', (engine) => {
  let ch: TestClickHouse;
  let history: ClickHouseHistory;
  const now = Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    ch = await startTestClickHouse({ engine });
    const f = featuresOf(ch.version);
    await ch.query(createDatabaseSql('pulse'));
    await ch.query(createTableSql('journey_metrics', 'pulse', 'journey_sli', f, 0));
    await ch.query(createTableSql('alerts', 'pulse', 'journey_alerts', f, 0));
    await ch.query(createTableSql('attempts', 'pulse', 'journey_attempts', f, 0));
    const minute = (sec: number) => Math.floor(sec / 60) * 60;
    const tenMinutes = (sec: number) => Math.floor(sec / 600) * 600;
    const hour = (sec: number) => Math.floor(sec / 3600) * 3600;
    const sli = (id: number, start: number, value: string, attempts: number, failures: number, abandoned = 0): string =>
      `(${id}, 'checkout', toDateTime(${start}), 10, '${value === '' ? '' : 'customer.tier'}', '${value}', ${attempts}, ${attempts - failures}, ${failures}, ${abandoned})`;
    // Two partial rows of one window (two processes) add up; an old window is left out by `since`.
    await ch.query(
      `INSERT INTO pulse.journey_sli (row_id, journey, window_start, window_seconds, segment_key, segment_value, attempts, successes, failures, abandoned) VALUES ${[
        sli(1, now - 60, '', 10, 1, 2),
        sli(2, now - 60, '', 5, 2, 1),
        sli(3, now - 60, 'gold', 4, 0),
        sli(4, now - 7200, '', 99, 99),
        // Older windows, read summed per minute (3 h ago), per 10 minutes (20 h ago) or per hour (6 days ago).
        sli(5, minute(now - 3 * 3600) + 10, '', 3, 1),
        sli(6, minute(now - 3 * 3600) + 20, '', 4, 0),
        sli(7, minute(now - 3 * 3600) + 70, '', 5, 0),
        sli(8, tenMinutes(now - 20 * 3600) + 10, '', 6, 2),
        sli(9, tenMinutes(now - 20 * 3600) + 550, '', 7, 0),
        sli(10, hour(now - 6 * 86_400) + 3000, '', 8, 8),
      ].join(', ')}`,
    );
    // A table from before the abandoned column (another database, the same rows without it)
    await ch.query(createDatabaseSql('older'));
    await ch.query(createTableSql('journey_metrics', 'older', 'journey_sli', f, 0));
    await ch.query('ALTER TABLE older.journey_sli DROP COLUMN abandoned');
    await ch.query(
      `INSERT INTO older.journey_sli (row_id, journey, window_start, window_seconds, segment_key, segment_value, attempts, successes, failures) VALUES (1, 'checkout', toDateTime(${now - 60}), 10, '', '', 7, 6, 1)`,
    );
    const alert = (id: number, fp: string, status: string, at: number, segment = ''): string =>
      `(${id}, '${fp}', 'checkout', '${segment === '' ? 'burn_rate' : 'segment'}', 'page', '${status}', toDateTime(${at}), toDateTime(${now - 600}), '${segment === '' ? '' : 'customer.tier'}', '${segment}')`;
    await ch.query(
      `INSERT INTO pulse.journey_alerts (row_id, fingerprint, journey, kind, severity, status, event_time, starts_at, segment_key, segment_value) VALUES ${[
        alert(1, 'still-firing', 'firing', now - 600),
        alert(2, 'still-firing', 'firing', now - 300), // a repeat
        alert(3, 'resolved', 'firing', now - 600, 'gold'),
        alert(4, 'resolved', 'resolved', now - 200, 'gold'),
        alert(5, 'tie', 'firing', now - 100),
        alert(6, 'tie', 'resolved', now - 100), // same second: resolved wins
      ].join(', ')}`,
    );
    // Written by this version: starts_at_ms keeps the milliseconds the events carried.
    await ch.query(
      `INSERT INTO pulse.journey_alerts (row_id, fingerprint, journey, kind, severity, status, event_time, starts_at, starts_at_ms) VALUES (7, 'exact', 'checkout', 'heartbeat', 'page', 'firing', toDateTime(${now - 50}), toDateTime(${now - 500}), ${(now - 500) * 1000 + 123})`,
    );
    // An alerts table from before starts_at_ms.
    await ch.query(createTableSql('alerts', 'older', 'journey_alerts', f, 0));
    await ch.query('ALTER TABLE older.journey_alerts DROP COLUMN starts_at_ms');
    await ch.query(
      `INSERT INTO older.journey_alerts (row_id, fingerprint, journey, kind, severity, status, event_time, starts_at, segment_key, segment_value) VALUES ${alert(1, 'still-firing', 'firing', now - 300)}`,
    );
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: ch.url } }).clickhouse!;
    history = new ClickHouseHistory(config);
  }, 300_000);

  afterAll(async () => {
    await ch?.close();
  });

  it('reads the SLI rows of the period summed per window and segment value', async () => {
    const rows = await history.loadSli((now - 3600) * 1000, ['checkout']);
    const by = new Map(rows.map((r) => [r.segmentValue, r]));
    expect(rows).toHaveLength(2);
    expect(by.get('')).toMatchObject({ journey: 'checkout', windowStartMs: (now - 60) * 1000, windowSeconds: 10, attempts: 15, successes: 12, failures: 3, abandoned: 3 });
    expect(by.get('gold')).toMatchObject({ segmentKey: 'customer.tier', attempts: 4, failures: 0, abandoned: 0 });
  });

  it('reads windows older than rawFromMs summed by minute, 10 minutes or hour, as historyBucketMs says', async () => {
    const nowMs = now * 1000;
    const coarser = { nowMs, rawFromMs: nowMs - 2 * 3_600_000 };
    const rows = await history.loadSli(nowMs - 7 * 86_400_000, ['checkout'], coarser);
    const allTraffic = rows
      .filter((r) => r.segmentKey === '')
      .map((r) => [r.windowStartMs / 1000, r.windowSeconds, r.attempts, r.failures])
      .sort((a, b) => a[0]! - b[0]!);
    const bucket = (sec: number) => {
      const size = historyBucketMs(sec * 1000, coarser) / 1000;
      return size === 0 ? sec : Math.floor(sec / size) * size;
    };
    const m = Math.floor((now - 3 * 3600) / 60) * 60;
    const t = Math.floor((now - 20 * 3600) / 600) * 600;
    const h = Math.floor((now - 6 * 86_400) / 3600) * 3600;
    expect(allTraffic).toEqual([
      [bucket(h + 3000), 10, 8, 8],
      [bucket(t + 10), 10, 13, 2],
      [bucket(m + 10), 10, 7, 1],
      [bucket(m + 70), 10, 5, 0],
      [now - 7200, 10, 99, 99],
      [now - 60, 10, 15, 3],
    ]);
    expect([bucket(h + 3000), bucket(t + 10), bucket(m + 10), bucket(m + 70)]).toEqual([h, t, m, m + 60]);
  });

  it('reads a journey table that does not exist yet as empty (the gateways create them; alerts may go to Kafka only)', async () => {
    await ch.query(createDatabaseSql('empty'));
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: ch.url, database: 'empty' } }).clickhouse!;
    const bare = new ClickHouseHistory(config);
    expect(await bare.loadSli((now - 3600) * 1000, ['checkout'])).toEqual([]);
    expect(await bare.loadFiringAlerts((now - 3600) * 1000)).toEqual([]);
    expect(await bare.loadAttempts(now - 60, now, ['checkout'], 10)).toEqual({ records: [], more: false });
  });

  it('reads a table from before the abandoned column as well, with none abandoned', async () => {
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: ch.url, database: 'older' } }).clickhouse!;
    const rows = await new ClickHouseHistory(config).loadSli((now - 3600) * 1000, ['checkout']);
    expect(rows).toEqual([expect.objectContaining({ attempts: 7, failures: 1, abandoned: 0 })]);
  });

  it('reads back the attempts decided in a range of seconds, as the exporter wrote them, newest first, each once', async () => {
    // Attempts decided 30, 20 and 10 s ago (the one 20 s ago written twice, as after an exporter retry), one outside
    // the range and one of another journey.
    const at = (n: number, agoSec: number, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
      ...attempt(n),
      startTimeUnixNano: BigInt((now - agoSec) * 1000 - 250) * 1_000_000n,
      decidedAtMs: (now - agoSec) * 1000,
      ...extra,
    });
    const failed = at(2, 20, {
      outcome: 'failure',
      reasons: ['error:charge'],
      segments: { 'customer.tier': 'enterprise', 'cloud.region': 'us-east-1' },
      services: [
        { service: 'frontend', version: '1.8.0' },
        { service: 'payments', version: '2.5.0' },
      ],
      failingStep: { step: 'charge', service: 'payments', version: '2.5.0' },
      decidedBy: 'timeout',
    });
    const records = [at(1, 30), failed, failed, at(3, 10), at(4, 100), at(5, 20, { journey: 'signup' })];
    const precision = featuresOf(ch.version).dateTime64 ? 'millis' : 'seconds';
    await ch.query(`INSERT INTO pulse.journey_attempts FORMAT JSONEachRow\n${encodeAttempts(records, precision).bodies.map(String).join('')}`);

    const all = await history.loadAttempts(now - 60, now, ['checkout'], 10);
    expect(all.more).toBe(false);
    expect(all.records.map((r) => r.traceId)).toEqual([records[3]!.traceId, failed.traceId, records[0]!.traceId]);
    const back = all.records[1]!;
    expect(back).toMatchObject({
      journey: 'checkout',
      startSpanId: failed.startSpanId,
      outcome: 'failure',
      reasons: ['error:charge'],
      segments: failed.segments,
      services: failed.services,
      failingStep: failed.failingStep,
      decidedBy: 'timeout',
      decidedAtMs: (now - 20) * 1000,
    });
    // Milliseconds where the column has them (DateTime64), whole seconds on 18.16.
    const startMs = (now - 20) * 1000 - 250;
    expect(Number(back.startTimeUnixNano / 1_000_000n)).toBe(precision === 'millis' ? startMs : Math.floor(startMs / 1000) * 1000);

    const newest = await history.loadAttempts(now - 60, now, ['checkout'], 1);
    expect([newest.records.map((r) => r.traceId), newest.more]).toEqual([[records[3]!.traceId], true]);
    expect((await history.loadAttempts(now - 20, now - 10, ['checkout'], 10)).records.map((r) => r.traceId)).toEqual([failed.traceId]);
  });

  it('restores only the alerts whose last event is firing, with when they started (to the millisecond where written)', async () => {
    const alerts = await history.loadFiringAlerts((now - 3600) * 1000);
    expect(alerts.sort((a, b) => a.fingerprint.localeCompare(b.fingerprint))).toEqual([
      { fingerprint: 'exact', journey: 'checkout', kind: 'heartbeat', severity: 'page', segment: undefined, startsAtMs: (now - 500) * 1000 + 123, lastEventMs: (now - 50) * 1000 },
      { fingerprint: 'still-firing', journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: (now - 600) * 1000, lastEventMs: (now - 300) * 1000 },
    ]);
    // A table without starts_at_ms (an older Pulse's, not yet altered): whole seconds, no error.
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: ch.url, database: 'older' } }).clickhouse!;
    expect(await new ClickHouseHistory(config).loadFiringAlerts((now - 3600) * 1000)).toEqual([
      { fingerprint: 'still-firing', journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: (now - 600) * 1000, lastEventMs: (now - 300) * 1000 },
    ]);
  });
});
