/**
 * Every SQL statement of deploy/grafana/dashboards/pulse-journeys.json (panels, annotations, variables), with the
 * dashboard's variables and the ClickHouse plugin's macros expanded as the plugin does (tests/unit/deploy/
 * dashboard-sql.ts), runs on ClickHouse 26.9's engine against tables Pulse's exporter created and filled. A
 * function the server lacks, a setting it enforces, or a type mismatch only real rows show, fails here instead of in
 * an empty panel. (Not on Debian's 18.16: the plugin's `$__timeInterval` expands to toStartOfInterval, which 18.16
 * does not have; the grafana-clickhouse-datasource plugin is for current servers.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../src/core/telemetry.js';
import { configSchema } from '../../src/exporters/clickhouse/config.js';
import type { ClickHouseExporter } from '../../src/exporters/clickhouse/exporter.js';
import { clickhouseExporterFactory } from '../../src/exporters/clickhouse/factory.js';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { dashboardStatements, expandGrafana, type DashboardWithSql } from '../unit/deploy/dashboard-sql.js';
import { read } from '../unit/deploy/deploy-files.js';
import { host, makeSettings, tempDir, until } from '../unit/exporters/settings.js';
import { attempt, rows, sliRow } from './clickhouse-support.js';

const dashboard = JSON.parse(read('deploy/grafana/dashboards/pulse-journeys.json')) as DashboardWithSql;
const variables = new Set(dashboard.templating.list.map((v) => v.name));
const statements = dashboardStatements(dashboard).map((s) => ({ ...s, ...expandGrafana(s.sql, variables) }));
/** Inside the time range the expansion uses (toDateTime(1700000000) … +1 h). */
const IN_RANGE_MS = 1_700_000_600_000;

describe('the dashboard SQL on a current ClickHouse (26.9)', () => {
  let ch: TestClickHouse;
  let dir: { path: string; remove(): Promise<void> };

  beforeAll(async () => {
    ch = await startTestClickHouse({ engine: 'current' });
    dir = await tempDir();
    // Rows as Pulse writes them, for the journey and segment the expansion selects ('sample'), in its time range.
    const metrics = new MetricsRegistry();
    const cfg = configSchema.parse({ endpoint: ch.url, database: 'pulse', batch: { flush_timeout: '50ms' } });
    const attempts = clickhouseExporterFactory.create.attempts!(makeSettings(`${dir.path}/a`, 'clickhouse', metrics), cfg) as ClickHouseExporter<'attempts'>;
    const sli = clickhouseExporterFactory.create.journey_metrics!(makeSettings(`${dir.path}/s`, 'clickhouse', metrics), cfg) as ClickHouseExporter<'journey_metrics'>;
    await attempts.start(host);
    await sli.start(host);
    await attempts.consume(
      [1, 2, 3, 4].map((n) => ({
        ...attempt(n),
        journey: 'sample',
        startTimeUnixNano: BigInt(IN_RANGE_MS + n * 1000) * 1_000_000n,
        segments: { sample: 'sample' },
        ...(n === 4 ? { outcome: 'failure' as const, reasons: ['error:charge'], failingStep: { step: 'charge', service: 'payments', version: '2.5.0' } } : {}),
      })),
    );
    await sli.consume(['', 'sample'].map((v) => ({ ...sliRow(v, 4, 3), journey: 'sample', windowStartMs: IN_RANGE_MS, segmentKey: v === '' ? '' : 'sample' })));
    const sent = (signal: string): number => metrics.find('pulse_exporter_sent_items_total')?.get({ exporter: `clickhouse@${signal}` }) ?? 0;
    await until(() => sent('attempts') === 4 && sent('journey_metrics') === 2, 20_000, 'rows written');
    await attempts.shutdown();
    await sli.shutdown();
  }, 300_000);

  afterAll(async () => {
    await ch?.close();
    await dir?.remove();
  });

  it('the expansion leaves nothing unexpanded', () => {
    expect(statements.length).toBeGreaterThan(10);
    for (const s of statements) expect(s.problems, s.where).toEqual([]);
  });

  it.each(statements.map((s) => [s.where, s] as const))('%s runs', async (_where, s) => {
    // Runs and returns rows in the plugin's format; data-dependent panels return some.
    await expect(rows(ch.query, s.sql)).resolves.toBeInstanceOf(Array);
  });

  it('the panels over the SLI rows find the rows written', async () => {
    const over = statements.filter((s) => /journey_sli/.test(s.sql) && !/journey_alerts/.test(s.sql) && s.where.startsWith('panel'));
    expect(over.length).toBeGreaterThan(3);
    let withRows = 0;
    for (const s of over) if ((await rows(ch.query, s.sql)).length > 0) withRows++;
    expect(withRows).toBeGreaterThan(over.length / 2);
  });
});
