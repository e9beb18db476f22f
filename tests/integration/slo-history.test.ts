/**
 * The `slo` connector's history (`slo.clickhouse`): what a restarted Pulse reads back from the tables its exporter
 * wrote — SLI rows summed per window, and the alerts whose last event is `firing` — on both dialects: Debian's
 * ClickHouse 18.16 and ClickHouse 26.9's engine. (The unit test fakes the server; this one runs the real SQL, which
 * is how the alert query was found failing on current servers.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sloConnectorConfigSchema } from '../../src/connectors/slo/config.js';
import { ClickHouseHistory } from '../../src/connectors/slo/history.js';
import { createDatabaseSql, createTableSql, featuresOf } from '../../src/exporters/clickhouse/schema.js';
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
    const sli = (id: number, start: number, value: string, attempts: number, failures: number, abandoned = 0): string =>
      `(${id}, 'checkout', toDateTime(${start}), 10, '${value === '' ? '' : 'customer.tier'}', '${value}', ${attempts}, ${attempts - failures}, ${failures}, ${abandoned})`;
    // Two partial rows of one window (two processes) add up; an old window is left out by `since`.
    await ch.query(
      `INSERT INTO pulse.journey_sli (row_id, journey, window_start, window_seconds, segment_key, segment_value, attempts, successes, failures, abandoned) VALUES ${[
        sli(1, now - 60, '', 10, 1, 2),
        sli(2, now - 60, '', 5, 2, 1),
        sli(3, now - 60, 'gold', 4, 0),
        sli(4, now - 7200, '', 99, 99),
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

  it('reads a table from before the abandoned column as well, with none abandoned', async () => {
    const config = sloConnectorConfigSchema.parse({ directory: 'j', clickhouse: { endpoint: ch.url, database: 'older' } }).clickhouse!;
    const rows = await new ClickHouseHistory(config).loadSli((now - 3600) * 1000, ['checkout']);
    expect(rows).toEqual([expect.objectContaining({ attempts: 7, failures: 1, abandoned: 0 })]);
  });

  it('restores only the alerts whose last event is firing, with when they started', async () => {
    const alerts = await history.loadFiringAlerts((now - 3600) * 1000);
    expect(alerts).toEqual([
      { fingerprint: 'still-firing', journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: (now - 600) * 1000, lastEventMs: (now - 300) * 1000 },
    ]);
  });
});
