/**
 * The clickhouse exporter against ClickHouse in both dialects Pulse writes (schema.ts): Debian's 18.16 server, and
 * ClickHouse 26.9's engine behind a minimal HTTP layer (tests/support/clickhouse.ts, engine `current`):
 * - a shop instrumented with the OpenTelemetry SDK sends checkouts to `bin/pulse start`; attempts and SLI rows land,
 *   and the README's "Querying journey data" queries (run as written) give the right ratios, reasons, latencies and
 *   trace drill-down;
 * - an INSERT whose answer comes after the exporter's timeout is retried: the rows are then in the table twice, and
 *   FINAL counts them once;
 * - schema drift at start: the error names the ALTER TABLE to run, which works on the server; with create_schema
 *   the missing column is added;
 * - a lone UTF-16 surrogate in a segment value, version or alert summary is stored as U+FFFD, and the merged INSERT
 *   that holds it lands whole (ClickHouse refuses the escape `\ud83d`, and with it every row of the INSERT);
 * - a merged INSERT holding rows ClickHouse refuses (the old `\ud83d` escape, written by hand) is split: every
 *   other row lands, the refused ones are dropped and counted;
 * - `pulse validate` rejects a malformed exporter config with file:line:col.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateSettings } from '../../src/core/component.js';
import { MetricsRegistry } from '../../src/core/telemetry.js';
import { configSchema } from '../../src/exporters/clickhouse/config.js';
import { MAX_SPLIT_INSERTS, createClickHouseExporter, type ClickHouseExporter } from '../../src/exporters/clickhouse/exporter.js';
import { encodeSliWindows } from '../../src/exporters/clickhouse/rows.js';
import type { SliWindow } from '../../src/journeys/model.js';
import { clickhouseExporterFactory } from '../../src/exporters/clickhouse/factory.js';
import { createTableSql, featuresOf } from '../../src/exporters/clickhouse/schema.js';
import { createShop } from '../../scripts/shop.mjs';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { freePort, waitFor } from '../support/net.js';
import { PULSE_BIN, ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { attempt, pulseConfig, readmeQueries, rows, scalar, sliRow, writeJourneys } from './clickhouse-support.js';
import { segmentAlert } from '../unit/exporters/kafka-fixtures.js';

let ch: TestClickHouse;
let work: string;
/** `work/<engine>`: each engine's exporters get their own queue dirs. */
let dataRoot: string;
const host = { reportFatalError: (err: Error): void => void err };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'pulse-ch-it-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function settings(name: string, metrics = new MetricsRegistry()): CreateSettings & { metrics: MetricsRegistry } {
  return { id: 'clickhouse', kind: 'exporter', logger: pino({ level: 'silent' }), metrics, dataDir: join(dataRoot, name) };
}

/**
 * A config whose one queue consumer merges every consume() made within 300 ms into one INSERT per table, and
 * retries quickly: for the tests of what one merged INSERT does with rows from several requests.
 */
function mergingConfig(database: string) {
  return configSchema.parse({
    endpoint: ch.url,
    database,
    batch: { flush_timeout: '300ms' },
    sending_queue: { num_consumers: 1 },
    retry_on_failure: { initial_interval: '50ms', max_interval: '100ms' },
  });
}

// The same tests on both dialects: Debian's 18.16 server and ClickHouse 26.9's engine (tests/support/clickhouse.ts).
describe.each(['debian', 'current'] as const)('on %s ClickHouse', (engine) => {
  beforeAll(async () => {
    ch = await startTestClickHouse({ engine });
    dataRoot = join(work, engine);
  }, 300_000);

  afterAll(async () => {
    await ch?.close();
  });

  describe('journey data from a running Pulse', () => {
    let pulse: PulseProcess | undefined;
    afterAll(async () => {
      await pulse?.stop();
    });

    it('lands in ClickHouse, and the README queries give the right ratio per segment, reasons, latencies and trace', async () => {
      const otlpPort = await freePort();
      pulse = await startPulse(pulseConfig({ otlpPort, journeysDir: writeJourneys(join(dataRoot, 'shop')), clickhouseUrl: ch.url }));
      const shop = createShop({ endpoints: { http: `http://127.0.0.1:${otlpPort}` }, scheduledDelayMillis: 60_000 });
      let failedTrace = '';
      // A start time with milliseconds (…789), to see what each dialect keeps of it.
      const failedAt = Math.floor(Date.now() / 1000) * 1000 - 3000 + 789;
      try {
        for (let i = 0; i < 7; i++) shop.checkout({ tier: 'gold' });
        for (let i = 0; i < 2; i++) failedTrace = shop.checkout({ tier: 'gold', chargeFails: true, at: failedAt }).traceId;
        shop.checkout({ tier: 'gold', durationMs: 2500 }); // slow: fails with reason "slow"
        for (let i = 0; i < 3; i++) shop.checkout({ tier: 'free' });
        for (let i = 0; i < 3; i++) shop.checkout({ tier: 'free', chargeFails: true });
        for (let i = 0; i < 4; i++) shop.checkout({ tier: null });
        await shop.flush(['payments', 'notifier', 'frontend']);
      } finally {
        await shop.shutdown();
      }

      const q = (sql: string): Promise<string> => ch.query(sql);
      await waitFor(async () => (await scalar(q, 'SELECT count() FROM pulse.journey_attempts FINAL')) === 20, 20_000, '20 attempts');
      await waitFor(
        async () => (await scalar(q, "SELECT sum(attempts) FROM pulse.journey_sli FINAL WHERE segment_key = ''")) === 20,
        20_000,
        'SLI rows for 20 attempts',
      );

      const [ratioSql, reasonsSql, whereSql, slowestSql, traceSql] = readmeQueries();
      expect(readmeQueries()).toHaveLength(5);

      const ratio = await rows<{ segment_key: string; segment_value: string; total: string; ok: string; success_ratio: number }>(q, ratioSql!);
      const bySegment = Object.fromEntries(ratio.map((r) => [`${r.segment_key}=${r.segment_value}`, [Number(r.total), Number(r.ok), r.success_ratio]]));
      expect(bySegment).toEqual({
        '=': [20, 14, 0.7],
        'customer.tier=gold': [10, 7, 0.7],
        'customer.tier=free': [6, 3, 0.5],
        'customer.tier=__unset__': [4, 4, 1],
        'release=1.8.0': [20, 14, 0.7],
      });

      const reasons = await rows<{ reason: string; failed_attempts: string }>(q, reasonsSql!);
      expect(reasons.map((r) => [r.reason, Number(r.failed_attempts)])).toEqual([
        ['error:charge', 5],
        ['where:http.response.status_code < 500', 5],
        ['slow', 1],
      ]);

      const where = await rows<{ reason: string; failing_step: string; failing_service: string; failing_version: string; failed_attempts: string }>(q, whereSql!);
      expect(where.map((r) => [r.reason, r.failing_step, r.failing_service, r.failing_version, Number(r.failed_attempts)])).toEqual([
        ['error:charge', 'charge', 'payments', '2.4.1', 5],
        ['where:http.response.status_code < 500', 'charge', 'payments', '2.4.1', 5],
        ['slow', '', '', '', 1],
      ]);

      const slowest = await rows<{ segment_key: string; segment_value: string; total: string; mean_ms: number; p95_at_most_ms: number }>(q, slowestSql!);
      expect(slowest[0]).toMatchObject({ segment_key: 'customer.tier', segment_value: 'gold', p95_at_most_ms: 4096 });
      expect(slowest.find((r) => r.segment_value === 'free')).toMatchObject({ p95_at_most_ms: 64, mean_ms: 40 });

      const trace = await rows<{ outcome: string; reasons: string[]; span_steps: string[]; span_services: string[]; span_status_codes: number[]; failing_step: string }>(
        q,
        traceSql!.replace('4bf92f3577b34da6a3ce929d0e0e4736', failedTrace),
      );
      expect(trace).toHaveLength(1);
      expect(trace[0]).toMatchObject({
        outcome: 'failure',
        reasons: ['error:charge', 'where:http.response.status_code < 500'],
        failing_step: 'charge',
        span_steps: ['start', 'charge'],
        span_services: ['frontend', 'payments'],
        span_status_codes: [0, 2],
      });

      // Pulse created the tables in this server's dialect (milliseconds and LowCardinality on current servers), and
      // the start times it wrote are the spans' own, to the millisecond where the column has them.
      const types = new Map(
        (await rows<{ name: string; type: string }>(q, "SELECT name, type FROM system.columns WHERE database = 'pulse' AND table = 'journey_attempts'")).map((c) => [c.name, c.type]),
      );
      expect(types.get('start_time')).toBe(featuresOf(ch.version).dateTime64 ? "DateTime64(3, 'UTC')" : "DateTime('UTC')");
      expect(types.get('journey')).toBe(featuresOf(ch.version).lowCardinality ? 'LowCardinality(String)' : 'String');
      const startMs = featuresOf(ch.version).dateTime64 ? 'toUnixTimestamp64Milli(start_time)' : 'toUnixTimestamp(start_time) * 1000';
      const [written] = await rows<{ start_ms: string }>(q, `SELECT toString(${startMs}) AS start_ms FROM pulse.journey_attempts FINAL WHERE trace_id = '${failedTrace}'`);
      expect(Number(written!.start_ms)).toBe(featuresOf(ch.version).dateTime64 ? failedAt : Math.floor(failedAt / 1000) * 1000);

      const metrics = await pulse.metrics();
      expect(metrics).toMatch(/pulse_exporter_sent_items_total\{exporter="clickhouse@attempts"\} 20/);
      expect(metrics).toMatch(/pulse_clickhouse_schema_ready\{exporter="clickhouse@journey_metrics"\} 1/);
    }, 60_000);

    it('says in the SLI rows how many attempts Pulse dropped undecided (here: still missing a step when it stopped)', async () => {
      await pulse?.stop();
      const otlpPort = await freePort();
      pulse = await startPulse(
        pulseConfig({ otlpPort, journeysDir: writeJourneys(join(dataRoot, 'abandoned')), clickhouseUrl: ch.url, exporterExtra: 'database: abandoned', traceWait: '60s' }),
      );
      const shop = createShop({ endpoints: { http: `http://127.0.0.1:${otlpPort}` }, scheduledDelayMillis: 60_000 });
      try {
        for (let i = 0; i < 3; i++) shop.checkout({ tier: 'gold' });
        shop.checkout({ tier: 'gold', charges: 0 }); // waits for its charge until Pulse stops
        await shop.flush(['payments', 'notifier', 'frontend']);
      } finally {
        await shop.shutdown();
      }
      await waitFor(async () => /^pulse_journey_pending_attempts\{[^}]*\} 1$/m.test(await pulse!.metrics()) && /outcome="success"[^}]*\} 3$/m.test(await pulse!.metrics()), 20_000, '3 decided, 1 pending');
      await pulse.stop(); // the pending attempt is abandoned, and its SLI row written on the way out
      pulse = undefined;

      const q = (sql: string): Promise<string> => ch.query(sql);
      const sli = await rows<{ segment_key: string; segment_value: string; attempts: string; abandoned: string }>(
        q,
        'SELECT segment_key, segment_value, sum(attempts) AS attempts, sum(abandoned) AS abandoned FROM abandoned.journey_sli FINAL GROUP BY segment_key, segment_value ORDER BY segment_key, segment_value',
      );
      expect(sli.map((r) => [`${r.segment_key}=${r.segment_value}`, Number(r.attempts), Number(r.abandoned)])).toEqual([
        ['=', 3, 1],
        ['customer.tier=gold', 3, 1],
        ['release=1.8.0', 3, 1],
      ]);
      expect(await scalar(q, 'SELECT count() FROM abandoned.journey_attempts FINAL')).toBe(3);
    }, 60_000);
  });

  describe('a batch retried after a timeout', () => {
    it('is in the table twice until merged, and counts once with FINAL', async () => {
      const proxy = await startDelayingProxy(ch.httpPort);
      const m = new MetricsRegistry();
      const cfg = configSchema.parse({
        endpoint: `http://127.0.0.1:${proxy.port}`,
        database: 'timeouts',
        timeout: '500ms',
        retry_on_failure: { initial_interval: '50ms', max_interval: '100ms' },
        batch: { enabled: false },
        sending_queue: { num_consumers: 1 },
      });
      const e = clickhouseExporterFactory.create.journey_metrics!(settings('timeouts', m), cfg) as ClickHouseExporter<'journey_metrics'>;
      try {
        await e.start(host);
        // Background merges would collapse the duplicate before we look; stop them to see it.
        await ch.query('SYSTEM STOP MERGES timeouts.journey_sli');
        proxy.holdNextAnswer(1500);
        await e.consume([sliRow('', 10, 7), sliRow('gold', 6, 6), sliRow('free', 4, 1)]);
        const q = (sql: string): Promise<string> => ch.query(sql);
        await waitFor(() => m.find('pulse_exporter_sent_items_total')?.get({ exporter: 'clickhouse@journey_metrics' }) === 3, 10_000, 'rows sent after the retry');
        expect(m.find('pulse_clickhouse_insert_errors_total')?.get({ exporter: 'clickhouse@journey_metrics', code: 'timeout' })).toBe(1);
        expect(await scalar(q, 'SELECT count() FROM timeouts.journey_sli')).toBe(6);
        expect(await scalar(q, 'SELECT count() FROM timeouts.journey_sli FINAL')).toBe(3);
        const ratio = await rows<{ segment_value: string; total: string; ok: string }>(
          q,
          'SELECT segment_value, sum(attempts) AS total, sum(successes) AS ok FROM timeouts.journey_sli FINAL GROUP BY segment_value ORDER BY segment_value',
        );
        expect(ratio.map((r) => [r.segment_value, Number(r.total), Number(r.ok)])).toEqual([
          ['', 10, 7],
          ['free', 4, 1],
          ['gold', 6, 6],
        ]);
      } finally {
        await ch.query('SYSTEM START MERGES timeouts.journey_sli').catch(() => undefined);
        await e.shutdown(Date.now() + 1000);
        await proxy.close();
      }
    }, 30_000);
  });

  describe('a lone UTF-16 surrogate (OTLP/JSON can carry "\\ud83d" into segment values, versions, summaries)', () => {
    it('is stored as U+FFFD, and the merged INSERT holding it lands with all its rows', async () => {
      const m = new MetricsRegistry();
      // Every consume() below is waited for and merged into one INSERT per table (by the one queue consumer).
      const cfg = mergingConfig('surrogates');
      const create = clickhouseExporterFactory.create;
      const sli = create.journey_metrics!(settings('surrogates-sli', m), cfg) as ClickHouseExporter<'journey_metrics'>;
      const attempts = create.attempts!(settings('surrogates-attempts', m), cfg) as ClickHouseExporter<'attempts'>;
      const alerts = create.alerts!(settings('surrogates-alerts', m), cfg) as ClickHouseExporter<'alerts'>;
      const all = [sli, attempts, alerts];
      try {
        for (const e of all) await e.start(host);
        const lone = { ...attempt(2), segments: { 'customer.tier': 'gold\ud83d' }, services: [{ service: 'frontend', version: '\ude00 1.8' }] };
        await Promise.all([
          sli.consume([sliRow('gold', 10, 9)]),
          sli.consume([sliRow('\ud83d', 5, 5), sliRow('free', 4, 1)]),
          sli.consume([sliRow('', 19, 15)]),
          attempts.consume([attempt(1)]),
          attempts.consume([lone, attempt(3)]),
          alerts.consume([segmentAlert({ summary: 'checkout failing for customer.tier=\ud83d', segment: { key: 'customer.tier', value: '\ud83d' } })]),
          alerts.consume([segmentAlert()]),
        ]);
        const sent = (signal: string): number | undefined => m.find('pulse_exporter_sent_items_total')?.get({ exporter: `clickhouse@${signal}` });
        await waitFor(() => sent('journey_metrics') === 4 && sent('attempts') === 3 && sent('alerts') === 2, 10_000, 'every row sent');
        // One INSERT per table: the rows of the three requests were merged, and none was dropped.
        for (const signal of ['journey_metrics', 'attempts', 'alerts']) {
          expect(m.find('pulse_clickhouse_inserts_total')?.get({ exporter: `clickhouse@${signal}` })).toBe(1);
          expect(m.find('pulse_exporter_send_failed_items_total')?.get({ exporter: `clickhouse@${signal}`, reason: 'permanent' }) ?? 0).toBe(0);
        }
        const q = (sql: string): Promise<string> => ch.query(sql);
        expect(await q("SELECT segment_value, hex(segment_value) FROM surrogates.journey_sli FINAL WHERE segment_value NOT IN ('', 'gold', 'free')")).toBe(
          '\ufffd\tEFBFBD\n',
        );
        expect(await scalar(q, 'SELECT count() FROM surrogates.journey_sli FINAL')).toBe(4);
        expect(await scalar(q, 'SELECT count() FROM surrogates.journey_attempts FINAL')).toBe(3);
        const [a] = await rows<{ segment_values: string[]; service_versions: string[] }>(
          q,
          "SELECT segment_values, service_versions FROM surrogates.journey_attempts FINAL WHERE has(segment_values, 'gold\ufffd')",
        );
        expect(a).toEqual({ segment_values: ['gold\ufffd'], service_versions: ['\ufffd 1.8'] });
        const alertRows = await rows<{ summary: string; segment_value: string }>(q, 'SELECT summary, segment_value FROM surrogates.journey_alerts FINAL ORDER BY segment_value');
        expect(alertRows).toEqual([
          { summary: 'checkout failing for customer.tier=enterprise: payments 2.5.0 (lift 3.1)', segment_value: 'enterprise' },
          { summary: 'checkout failing for customer.tier=\ufffd', segment_value: '\ufffd' },
        ]);
      } finally {
        for (const e of all) await e.shutdown(Date.now() + 1000);
      }
    }, 30_000);
  });

  describe('a merged INSERT holding rows ClickHouse refuses', () => {
    it('is split: the other requests\' rows all land, only the refused rows are dropped, and they are counted', async () => {
      const m = new MetricsRegistry();
      const cfg = mergingConfig('refused');
      // Rows whose segment value is REFUSED are written with the escape Pulse wrote before it wrote U+FFFD:
      // "\ud83d" alone, which ClickHouse refuses (code 25) with the whole INSERT.
      const encode = (rows: SliWindow[]) => {
        const b = encodeSliWindows(rows);
        return { rows: b.rows, bodies: b.bodies.map((body) => Buffer.from(body.toString('utf8').replaceAll('"REFUSED"', '"\\ud83d"'), 'utf8')) };
      };
      const e = createClickHouseExporter('journey_metrics', settings('refused', m), cfg, encode);
      const request = (from: number, count: number, refusedAt: number[] = []): SliWindow[] =>
        Array.from({ length: count }, (_, i) => sliRow(refusedAt.includes(i) ? 'REFUSED' : `v${from + i}`, 2, 1));
      try {
        await e.start(host);
        await Promise.all([e.consume(request(0, 40)), e.consume(request(40, 31, [17])), e.consume(request(71, 30, [29]))]);
        const ex = { exporter: 'clickhouse@journey_metrics' };
        const failed = (reason: string): number => m.find('pulse_exporter_send_failed_items_total')?.get({ ...ex, reason }) ?? 0;
        await waitFor(() => failed('rejected_by_destination') === 2, 10_000, 'the two refused rows counted');
        expect(m.find('pulse_exporter_sent_items_total')?.get(ex)).toBe(99);
        expect(failed('permanent')).toBe(0);
        const q = (sql: string): Promise<string> => ch.query(sql);
        expect(await scalar(q, 'SELECT count() FROM refused.journey_sli FINAL')).toBe(99);
        expect(await scalar(q, "SELECT count() FROM refused.journey_sli FINAL WHERE segment_value LIKE 'v%'")).toBe(99);
        // One INSERT refused (the merged batch of 101 rows), then the halves: a handful of INSERTs, not one per row.
        const inserts = m.find('pulse_clickhouse_inserts_total')?.get(ex) ?? 0;
        const refusedInserts = m.find('pulse_clickhouse_insert_errors_total')?.get({ ...ex, code: '25' }) ?? 0;
        expect(refusedInserts).toBeGreaterThanOrEqual(3);
        expect(inserts + refusedInserts).toBeLessThanOrEqual(1 + MAX_SPLIT_INSERTS);
        expect(inserts + refusedInserts).toBeLessThan(20);
      } finally {
        await e.shutdown(Date.now() + 1000);
      }
    }, 30_000);
  });

  // The file operators run when Pulse may not create tables: written for current servers (its header says what to
  // change for older ones), so it is run as written only there.
  describe.runIf(engine === 'current')('deploy/clickhouse/schema.sql', () => {
    it('runs as written, and the exporter writes into its tables with create_schema: false', async () => {
      const sql = readFileSync(join(ROOT, 'deploy', 'clickhouse', 'schema.sql'), 'utf8')
        .split('\n')
        .filter((line) => !line.startsWith('--'))
        .join('\n')
        .replaceAll('`pulse`', '`ops`');
      const statements = sql.split(/;\s*\n/).map((st) => st.trim()).filter(Boolean);
      expect(statements).toHaveLength(4);
      for (const st of statements) await ch.query(st);

      const m = new MetricsRegistry();
      const cfg = configSchema.parse({ endpoint: ch.url, database: 'ops', create_schema: false, batch: { flush_timeout: '50ms' } });
      const e = clickhouseExporterFactory.create.attempts!(settings('schema-sql', m), cfg) as ClickHouseExporter<'attempts'>;
      await e.start(host);
      await e.consume([attempt(11), attempt(12)]);
      await waitFor(() => m.find('pulse_exporter_sent_items_total')?.get({ exporter: 'clickhouse@attempts' }) === 2, 10_000, 'rows in the tables of schema.sql');
      await e.shutdown();
      expect(await scalar((q) => ch.query(q), 'SELECT count() FROM ops.journey_attempts FINAL')).toBe(2);
    }, 30_000);
  });

  describe('schema drift at start', () => {
    it('fails with the ALTER TABLE to run, which fixes it; create_schema adds a dropped column itself', async () => {
      const db = 'drift';
      const ddl = createTableSql('attempts', db, 'journey_attempts', featuresOf(ch.version), 0);
      // Each dialect has its own column types (Array(LowCardinality(String)) on current servers).
      const column = (name: string): string => new RegExp(`^\\s*(${name} .*?),?$`, 'm').exec(ddl)![1]!;
      const signals = column('signals');
      await ch.query(`CREATE DATABASE ${db}`);
      await ch.query(ddl.replace(`${signals},\n`, ''));
      const cfg = (createSchema: boolean) =>
        configSchema.parse({ endpoint: ch.url, database: db, create_schema: createSchema, batch: { flush_timeout: '50ms' } });

      const first = clickhouseExporterFactory.create.attempts!(settings('drift-1'), cfg(false)) as ClickHouseExporter<'attempts'>;
      const err = await first.start(host).then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
      await first.shutdown();
      expect(err?.code).toBe('PULSE_ERR_CLICKHOUSE_SCHEMA');
      const alter = /^\s+(ALTER TABLE .*);$/m.exec(err?.message ?? '')?.[1];
      expect(alter).toBe(`ALTER TABLE \`drift\`.\`journey_attempts\` ADD COLUMN ${signals}`);
      await ch.query(alter!);

      const m = new MetricsRegistry();
      const second = clickhouseExporterFactory.create.attempts!(settings('drift-2', m), cfg(false)) as ClickHouseExporter<'attempts'>;
      await second.start(host);
      await second.consume([attempt(1), attempt(2)]);
      await waitFor(() => m.find('pulse_exporter_sent_items_total')?.get({ exporter: 'clickhouse@attempts' }) === 2, 10_000, 'rows after the fix');
      await second.shutdown();

      await ch.query(`ALTER TABLE ${db}.journey_attempts DROP COLUMN span_steps`);
      const third = clickhouseExporterFactory.create.attempts!(settings('drift-3'), cfg(true)) as ClickHouseExporter<'attempts'>;
      await third.start(host);
      await third.shutdown();
      expect(await ch.query(`SELECT type FROM system.columns WHERE database = '${db}' AND table = 'journey_attempts' AND name = 'span_steps'`)).toBe(
        `${column('span_steps').replace(/^span_steps /, '').replace(/ CODEC\(.*\)$/, '')}\n`,
      );
    }, 30_000);
  });
});

/** A TCP proxy to ClickHouse that can hold back the next answer: the INSERT lands, its answer comes too late. */
async function startDelayingProxy(targetPort: number): Promise<{ port: number; holdNextAnswer(ms: number): void; close(): Promise<void> }> {
  let holdMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (holdMs > 0) {
        const ms = holdMs;
        holdMs = 0;
        upstream.pause();
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
          upstream.resume();
        }, ms);
        return;
      }
      if (!client.destroyed) client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    holdNextAnswer: (ms) => void (holdMs = ms),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}


describe('pulse validate', () => {
  it('rejects a malformed clickhouse exporter config with file:line:col and what to write', async () => {
    const dir = join(work, 'validate');
    const journeys = writeJourneys(dir);
    const file = join(dir, 'pulse.yaml');
    writeFileSync(
      file,
      pulseConfig({ otlpPort: 4318, journeysDir: journeys, clickhouseUrl: 'clickhouse:8123', exporterExtra: 'database: pulse-prod\nttl_days: -3\ncreate_schema: yes please' }),
    );
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [PULSE_BIN, 'validate', '--config', file], (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/pulse\.yaml:\d+:\d+: exporters\.clickhouse\.endpoint: "clickhouse:8123" is not an http:\/\/ or https:\/\/ URL/);
    expect(r.out).toMatch(/pulse\.yaml:\d+:\d+: exporters\.clickhouse\.database: "pulse-prod" is not a plain ClickHouse name/);
    expect(r.out).toMatch(/pulse\.yaml:\d+:\d+: exporters\.clickhouse\.ttl_days/);
    expect(r.out).toMatch(/pulse\.yaml:\d+:\d+: exporters\.clickhouse\.create_schema/);
  });
});
