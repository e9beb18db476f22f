/**
 * The clickhouse exporter against a fake ClickHouse HTTP interface (answers version(), system.columns, DDL and
 * INSERTs as scripted), for what a real server cannot be made to do on demand: Too many parts, parse errors,
 * dropped tables, wrong passwords, hanging answers. tests/integration/clickhouse-*.test.ts use the real server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptRecord, SliWindow } from '../../../src/journeys/model.js';
import { LATENCY_BOUNDS_MS } from '../../../src/journeys/runtime/sli.js';
import { configSchema } from '../../../src/exporters/clickhouse/config.js';
import { classifyFailure, clickHouseCode, messageOf } from '../../../src/exporters/clickhouse/errors.js';
import { MAX_SPLIT_INSERTS, type ClickHouseExporter } from '../../../src/exporters/clickhouse/exporter.js';
import { clickhouseExporterFactory } from '../../../src/exporters/clickhouse/factory.js';
import { expectedColumns, featuresOf, type TableSignal } from '../../../src/exporters/clickhouse/schema.js';
import { freePort } from '../../support/net.js';
import { id } from '../../support/traces.js';
import { delay, host, makeSettings, metric, tempDir, until, type TestSettings } from './settings.js';

interface Answer {
  status: number;
  body: string;
  /** Wait this long before answering. */
  delayMs?: number;
}

/** A scripted ClickHouse: tables are column maps; INSERT answers come from `insertAnswers` (then 200). */
class FakeClickHouse {
  readonly statements: string[] = [];
  readonly inserts: Array<{ table: string; body: string }> = [];
  insertAnswers: Answer[] = [];
  /** After the scripted answers: an INSERT holding a row this matches is refused as ClickHouse refuses a bad value (27). */
  refuseRow: ((row: string) => boolean) | undefined;
  /** INSERT statements received, refused ones included. */
  insertStatements = 0;
  versionAnswer: Answer | undefined;
  readonly tables = new Map<string, Map<string, string>>();
  private server: Server | undefined;
  port = 0;

  constructor(readonly version = '18.16.1') {}

  async listen(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const body = Buffer.concat(chunks).toString('utf8');
    const sql = (url.searchParams.get('query') ?? body).trim();
    const answer = (a: Answer): void => {
      const send = (): void => void res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body);
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    };
    this.statements.push(sql.split('\n')[0]!);
    if (sql.startsWith('SELECT version()')) return answer(this.versionAnswer ?? { status: 200, body: JSON.stringify({ v: this.version }) + '\n' });
    const cols = /system\.columns WHERE database = '(\w+)' AND table = '(\w+)'/.exec(sql);
    if (cols) {
      const t = this.tables.get(`${cols[1]}.${cols[2]}`) ?? new Map();
      return answer({ status: 200, body: [...t].map(([name, type]) => JSON.stringify({ name, type }) + '\n').join('') });
    }
    const create = /^CREATE TABLE IF NOT EXISTS `(\w+)`\.`(\w+)`/.exec(sql);
    if (create) {
      const key = `${create[1]}.${create[2]}`;
      if (!this.tables.has(key)) {
        const signal = (['attempts', 'journey_metrics', 'alerts'] as TableSignal[]).find((s) => create[2]!.includes(s === 'journey_metrics' ? 'sli' : s));
        this.tables.set(key, new Map(expectedColumns(signal!, featuresOf(this.version)).map((c) => [c.name, c.type])));
      }
      return answer({ status: 200, body: '' });
    }
    const add = /^ALTER TABLE `(\w+)`\.`(\w+)` ADD COLUMN (\w+) (.+)$/.exec(sql);
    if (add) {
      this.tables.get(`${add[1]}.${add[2]}`)?.set(add[3]!, add[4]!);
      return answer({ status: 200, body: '' });
    }
    const insert = /^INSERT INTO `(\w+)`\.`(\w+)` FORMAT JSONEachRow/.exec(sql);
    if (insert) {
      this.insertStatements++;
      const next = this.insertAnswers.shift();
      if (next && next.status !== 200) return answer(next);
      const bad = this.refuseRow && body.split('\n').findIndex((row) => row !== '' && this.refuseRow!(row));
      if (typeof bad === 'number' && bad >= 0) {
        return answer({ status: 500, body: newError(27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', `Cannot parse input: expected '"' before: 'zz': (at row ${bad + 1})`) });
      }
      this.inserts.push({ table: `${insert[1]}.${insert[2]}`, body });
      return answer(next ?? { status: 200, body: '' });
    }
    return answer({ status: 200, body: '' }); // CREATE DATABASE and the like
  }
}

/** ClickHouse 18.x's exception text, and the newer one. */
const oldError = (code: number, text: string): string => `Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`;
const newError = (code: number, name: string, text: string): string => `Code: ${code}. DB::Exception: ${text}. (${name}) (version 24.8.4.13 (official build))\n`;

function attempt(n: number): AttemptRecord {
  const hex = n.toString(16).padStart(32, '0');
  return {
    journey: 'checkout',
    traceId: id(hex),
    startSpanId: id(hex.slice(16)),
    startTimeUnixNano: 1_763_805_600_000_000_000n + BigInt(n) * 1_000_000n,
    durationMs: 10 + n,
    outcome: n % 4 === 0 ? 'failure' : 'success',
    reasons: n % 4 === 0 ? ['error:charge'] : [],
    signals: [],
    segments: { 'customer.tier': n % 2 === 0 ? 'gold' : 'free' },
    services: [{ service: 'frontend', version: '1.8.0' }],
    failingStep: undefined,
    spans: [],
    decidedBy: 'complete',
    decidedAtMs: 1_763_805_610_000,
  };
}

function window(n: number): SliWindow {
  return {
    journey: 'checkout',
    windowStartMs: 1_763_805_600_000,
    windowSeconds: 10,
    segmentKey: '',
    segmentValue: '',
    attempts: n,
    successes: n,
    failures: 0,
    abandoned: 0,
    failuresByReason: {},
    latencyBoundsMs: LATENCY_BOUNDS_MS,
    latencyCounts: Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => (i === 0 ? n : 0)),
    latencySumMs: n,
  };
}

const attempts = (from: number, count: number): AttemptRecord[] => Array.from({ length: count }, (_, i) => attempt(from + i));

let dir: Awaited<ReturnType<typeof tempDir>>;
let settings: TestSettings;
let fake: FakeClickHouse;
const exporters: Array<ClickHouseExporter<TableSignal>> = [];
const ex = { exporter: 'clickhouse@attempts' };

beforeEach(async () => {
  dir = await tempDir();
  settings = makeSettings(join(dir.path, 'queue'), 'clickhouse');
  fake = await new FakeClickHouse().listen();
});

afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.shutdown(Date.now() + 200)));
  await fake.close();
  await dir.remove();
});

function config(over: Record<string, unknown> = {}) {
  return configSchema.parse({
    endpoint: fake.url,
    timeout: '1s',
    retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' },
    batch: { enabled: false },
    sending_queue: { num_consumers: 1 },
    ...over,
  });
}

function create(over: Record<string, unknown> = {}, s: TestSettings = settings): ClickHouseExporter<'attempts'> {
  const e = clickhouseExporterFactory.create.attempts!(s, config(over)) as ClickHouseExporter<'attempts'>;
  exporters.push(e as ClickHouseExporter<TableSignal>);
  return e;
}

async function started(over: Record<string, unknown> = {}): Promise<ClickHouseExporter<'attempts'>> {
  const e = create(over);
  await e.start(host);
  return e;
}

const rowsInserted = (): number => fake.inserts.reduce((n, i) => n + i.body.split('\n').filter(Boolean).length, 0);

describe('config', () => {
  it('defaults to a persistent queue that retries until rows land, batching, and database pulse', () => {
    const c = configSchema.parse({ endpoint: 'http://clickhouse:8123' });
    expect(c).toMatchObject({ database: 'pulse', username: 'default', create_schema: true, ttl_days: 0 });
    expect(c.tables).toEqual({ attempts: 'journey_attempts', journey_metrics: 'journey_sli', alerts: 'journey_alerts' });
    expect(c.sending_queue).toMatchObject({ persistent: true, num_consumers: 2, queue_size: 10_000 });
    expect(c.retry_on_failure.max_elapsed_time).toBe(0);
    expect(c.batch).toMatchObject({ enabled: true, min_size: 10_000, max_size: 100_000, flush_timeout: 1000 });
  });

  it('refuses what would produce wrong SQL or a wrong URL, saying what to write', () => {
    const issues = (over: Record<string, unknown>): string[] =>
      configSchema.safeParse({ endpoint: 'http://c:8123', ...over }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ endpoint: undefined })).toEqual(['endpoint: set endpoint: the ClickHouse HTTP interface, e.g. http://clickhouse:8123']);
    expect(issues({ endpoint: 'clickhouse:8123' })[0]).toMatch(/^endpoint: .*not an http/);
    expect(issues({ endpoint: 'http://c:8123/pulse' })[0]).toMatch(/has a path .* set database instead/);
    expect(issues({ endpoint: 'http://u:p@c:8123' })[0]).toMatch(/username\/password/);
    expect(issues({ database: 'pulse; DROP TABLE x' })[0]).toMatch(/^database: .*not a plain ClickHouse name/);
    expect(issues({ tables: { attempts: 'a-b' } })[0]).toMatch(/^tables\.attempts: /);
    expect(issues({ tables: { attempts: 'x', journey_metrics: 'x' } })[0]).toMatch(/^tables: .*different names/);
    expect(issues({ ttl_days: -1 })[0]).toMatch(/^ttl_days/);
    expect(issues({ tls: { cert_file: 'c.pem', key_file: 'k.pem' } })[0]).toMatch(/^tls\.ca_file/);
  });
});

describe('error classification', () => {
  it('reads the code from 18.x and current servers and from socket errors', () => {
    expect(clickHouseCode(new Error(oldError(252, 'Too many parts (300)')))).toBe(252);
    expect(clickHouseCode(Object.assign(new Error('Too many parts'), { code: '252', type: 'TOO_MANY_PARTS' }))).toBe(252);
    expect(clickHouseCode(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(messageOf(new Error(oldError(60, "Table pulse.x doesn't exist.")))).toBe("Code: 60, e.displayText() = DB::Exception: Table pulse.x doesn't exist.");
    expect(messageOf(Object.assign(new Error('Unknown table'), { code: '60', type: 'UNKNOWN_TABLE' }))).toBe('Code: 60. Unknown table (UNKNOWN_TABLE)');
  });

  it('retries overload, timeouts, auth and unknown codes; drops bad data; re-syncs a missing table', () => {
    const cls = (code: number): string => classifyFailure(new Error(oldError(code, 'x'))).class;
    for (const code of [252, 241, 159, 209, 210, 202, 319, 516, 193, 999]) expect(cls(code), `code ${code}`).toBe('retryable');
    for (const code of [27, 26, 6, 16, 117, 53, 62, 72]) expect(cls(code), `code ${code}`).toBe('permanent');
    for (const code of [60, 81]) expect(cls(code), `code ${code}`).toBe('schema_missing');
    expect(classifyFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({ class: 'retryable', label: 'connection' });
    // A failed TLS handshake is told apart (Node's verification codes; the server's alert as OpenSSL words it).
    expect(classifyFailure(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toMatchObject({ class: 'retryable', label: 'tls' });
    const alert = new Error('read ECONNRESET', { cause: new Error('error:0A00045C:SSL routines::tlsv13 alert certificate required') });
    expect(classifyFailure(Object.assign(alert, { code: 'ECONNRESET' }))).toMatchObject({ class: 'retryable', label: 'tls' });
  });
});

describe('start', () => {
  it('creates the database and the three tables, and inserts attempts', async () => {
    const e = await started();
    expect(fake.statements).toContain('CREATE DATABASE IF NOT EXISTS `pulse`');
    expect([...fake.tables.keys()].sort()).toEqual(['pulse.journey_alerts', 'pulse.journey_attempts', 'pulse.journey_sli']);
    await e.consume(attempts(0, 5));
    await until(() => metric(settings, 'pulse_exporter_sent_items_total', ex) === 5, 3000, 'rows inserted');
    expect(rowsInserted()).toBe(5);
    expect(fake.inserts[0]!.table).toBe('pulse.journey_attempts');
    expect(metric(settings, 'pulse_exporter_sent_items_total', ex)).toBe(5);
    expect(metric(settings, 'pulse_clickhouse_inserts_total', ex)).toBe(1);
    expect(metric(settings, 'pulse_clickhouse_schema_ready', ex)).toBe(1);
  });

  it('fails when a table lacks a column and create_schema is off, quoting the ALTER TABLE to run', async () => {
    const cols = new Map(expectedColumns('attempts', featuresOf('18.16.1')).map((c) => [c.name, c.type]));
    cols.delete('span_durations_ms');
    fake.tables.set('pulse.journey_attempts', cols);
    const e = create({ create_schema: false });
    await expect(e.start(host)).rejects.toThrow(
      /pulse\.journey_attempts does not match[\s\S]*ALTER TABLE `pulse`\.`journey_attempts` ADD COLUMN span_durations_ms Array\(Float64\);[\s\S]*create_schema: true/,
    );
  });

  it('adds a missing column when create_schema is on', async () => {
    const cols = new Map(expectedColumns('attempts', featuresOf('18.16.1')).map((c) => [c.name, c.type]));
    cols.delete('signals');
    fake.tables.set('pulse.journey_attempts', cols);
    await started();
    expect(fake.tables.get('pulse.journey_attempts')!.get('signals')).toBe('Array(String)');
    expect(settings.logs.some((l) => l.msg.includes('added it') && l.column === 'signals')).toBe(true);
  });

  it('fails on a column of the wrong type, and on a missing table with create_schema off', async () => {
    const cols = new Map(expectedColumns('attempts', featuresOf('18.16.1')).map((c) => [c.name, c.type]));
    cols.set('duration_ms', 'String');
    fake.tables.set('pulse.journey_attempts', cols);
    await expect(create().start(host)).rejects.toThrow(/column duration_ms is String but Pulse writes Float64/);
    await expect(create({ create_schema: false, tables: { attempts: 'nope' } }).start(host)).rejects.toThrow(
      /table pulse\.nope does not exist; create it with deploy\/clickhouse\/schema\.sql/,
    );
  });

  it('fails with a clear error when ClickHouse refuses the credentials', async () => {
    fake.versionAnswer = { status: 516, body: newError(516, 'AUTHENTICATION_FAILED', 'default: Authentication failed') };
    await expect(create({ password: 'wrong' }).start(host)).rejects.toThrow(/PULSE_ERR_CLICKHOUSE_AUTH|refused user "default".*check username and password/);
  });

  it('starts while ClickHouse is down, and delivers once it is up', async () => {
    const port = await freePort();
    await fake.close();
    const e = create({ endpoint: `http://127.0.0.1:${port}` });
    await e.start(host);
    expect(settings.logs.some((l) => l.msg.includes('starting anyway'))).toBe(true);
    await e.consume(attempts(0, 3));
    await delay(100);
    await fake.listen(port);
    await until(() => rowsInserted() === 3, 5000, 'rows after ClickHouse came up');
    expect(fake.statements).toContain('CREATE DATABASE IF NOT EXISTS `pulse`');
    expect(metric(settings, 'pulse_clickhouse_insert_errors_total', { ...ex, code: 'connection' })).toBeGreaterThan(0);
  });
});

describe('inserts', () => {
  it('retries "Too many parts" (252) and the batch lands once', async () => {
    fake.insertAnswers = [{ status: 500, body: oldError(252, 'Too many parts (300). Merges are processing significantly slower than inserts.') }];
    const e = await started();
    await e.consume(attempts(0, 4));
    await until(() => metric(settings, 'pulse_exporter_sent_items_total', ex) === 4, 3000, 'retried insert');
    expect(rowsInserted()).toBe(4);
    expect(metric(settings, 'pulse_exporter_retries_total', ex)).toBe(1);
    expect(metric(settings, 'pulse_clickhouse_insert_errors_total', { ...ex, code: '252' })).toBe(1);
    expect(metric(settings, 'pulse_exporter_sent_items_total', ex)).toBe(4);
  });

  it('drops a batch ClickHouse cannot parse (27), counts it, logs why, and goes on with the next', async () => {
    fake.refuseRow = () => true; // every row: the split finds none to insert
    const e = await started();
    await e.consume(attempts(0, 3));
    await until(() => metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' }) === 3, 3000, 'drop');
    const log = settings.logs.find((l) => l.code === 'PULSE_ERR_CLICKHOUSE_REJECTED');
    expect(log?.err).toMatch(/refused all 3 rows for `pulse`\.`journey_attempts` as invalid: Code: 27\. Cannot parse input.*they are dropped\. If every batch is refused so, the table may differ.*deploy\/clickhouse\/schema\.sql/);
    fake.refuseRow = undefined;
    await e.consume(attempts(10, 2));
    await until(() => rowsInserted() === 2, 3000, 'next batch');
  });

  it('splits a batch refused for one row\'s value: the other rows land, the refused row is dropped, counted and logged', async () => {
    const traceHex = (n: number): string => n.toString(16).padStart(32, '0');
    fake.refuseRow = (row) => row.includes(traceHex(37));
    const e = await started();
    await e.consume(attempts(0, 100));
    await until(() => metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'rejected_by_destination' }) === 1, 3000, 'split');
    expect(metric(settings, 'pulse_exporter_sent_items_total', ex)).toBe(99);
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' })).toBe(0);
    expect(rowsInserted()).toBe(99);
    expect(fake.inserts.some((i) => i.body.includes(traceHex(37)))).toBe(false);
    // At most two INSERTs per halving (7 for 100 rows) and the first: halves that went in are not split, and the
    // half next to one that went in is split without being tried whole.
    expect(fake.insertStatements).toBeLessThanOrEqual(1 + 2 * 7);
    expect(metric(settings, 'pulse_clickhouse_insert_errors_total', { ...ex, code: '27' })).toBeGreaterThanOrEqual(1);
    const log = settings.logs.find((l) => typeof l.destinationMessage === 'string');
    expect(log?.destinationMessage).toMatch(/^ClickHouse refused 1 of 100 rows for `pulse`\.`journey_attempts` as invalid \(Code: 27\. Cannot parse input.*\); they are dropped; the other rows were inserted$/);
  });

  it('spends at most MAX_SPLIT_INSERTS INSERTs splitting, and drops what it did not try with the refused rows', async () => {
    // Every third attempt (duration_ms 10 + n): 20 bad rows of 60, too many to find them all.
    fake.refuseRow = (row) => Number(/"duration_ms":(\d+),/.exec(row)![1]) % 3 === 0;
    const e = await started();
    await e.consume(attempts(0, 60));
    const rejected = (): number => metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'rejected_by_destination' });
    await until(() => rejected() > 0, 3000, 'split');
    expect(fake.insertStatements).toBe(1 + MAX_SPLIT_INSERTS);
    expect(rowsInserted()).toBeGreaterThan(0);
    expect(rowsInserted() + rejected()).toBe(60);
    expect(metric(settings, 'pulse_exporter_sent_items_total', ex)).toBe(rowsInserted());
    const log = settings.logs.find((l) => typeof l.destinationMessage === 'string');
    expect(log?.destinationMessage).toMatch(/refused \d+ of 60 rows .* with \d+ rows not tried once 48 INSERTs were spent splitting the batch/);
  });

  it('does not split a batch refused for the table rather than a row (62 syntax, 20 column count)', async () => {
    fake.insertAnswers = [{ status: 500, body: newError(20, 'NUMBER_OF_COLUMNS_DOESNT_MATCH', 'Number of columns doesn\'t match') }];
    const e = await started();
    await e.consume(attempts(0, 20));
    await until(() => metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' }) === 20, 3000, 'drop');
    expect(fake.insertStatements).toBe(1);
  });

  it('re-creates a table dropped while running (60) and retries the batch', async () => {
    const e = await started();
    fake.tables.delete('pulse.journey_attempts');
    fake.insertAnswers = [{ status: 404, body: oldError(60, "Table pulse.journey_attempts doesn't exist.") }];
    const createStatements = (): number => fake.statements.filter((s) => s.startsWith('CREATE TABLE IF NOT EXISTS `pulse`.`journey_attempts`')).length;
    const creates = createStatements();
    await e.consume(attempts(0, 2));
    await until(() => rowsInserted() === 2, 3000, 'insert after re-creation');
    expect(createStatements()).toBe(creates + 1);
    expect(fake.tables.has('pulse.journey_attempts')).toBe(true);
  });

  it('adds a column dropped while running (16) and retries the batch instead of dropping it', async () => {
    const e = await started();
    fake.tables.get('pulse.journey_attempts')!.delete('signals');
    fake.insertAnswers = [{ status: 400, body: oldError(16, 'There is no column signals in table') }];
    await e.consume(attempts(0, 2));
    await until(() => rowsInserted() === 2, 3000, 'insert after repair');
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' })).toBe(0);
    expect(fake.tables.get('pulse.journey_attempts')!.has('signals')).toBe(true);
  });

  it('re-sends the same bytes (the same row ids) after a timeout', async () => {
    fake.insertAnswers = [{ status: 200, body: '', delayMs: 1500 }];
    const e = await started({ timeout: '300ms' });
    await e.consume(attempts(0, 3));
    await until(() => fake.inserts.length === 2, 5000, 'original insert and its retry');
    expect(fake.inserts[1]!.body).toBe(fake.inserts[0]!.body);
    expect(metric(settings, 'pulse_clickhouse_insert_errors_total', { ...ex, code: 'timeout' })).toBe(1);
  });

  it('keeps unsent SLI rows on disk across a restart and sends the very bytes (row ids) written before it', async () => {
    const port = await freePort();
    await fake.close();
    const cfg = config({ endpoint: `http://127.0.0.1:${port}` });
    const first = clickhouseExporterFactory.create.journey_metrics!(settings, cfg) as ClickHouseExporter<'journey_metrics'>;
    exporters.push(first as ClickHouseExporter<TableSignal>);
    await first.start(host);
    await first.consume([window(7), window(3)]);
    await first.shutdown(Date.now() + 100);
    const files = readdirSync(settings.dataDir).filter((f) => f.endsWith('.batch'));
    expect(files).toHaveLength(1);
    const onDisk = readFileSync(join(settings.dataDir, files[0]!));

    await fake.listen(port);
    const second = clickhouseExporterFactory.create.journey_metrics!(makeSettings(settings.dataDir, 'clickhouse'), cfg) as ClickHouseExporter<'journey_metrics'>;
    exporters.push(second as ClickHouseExporter<TableSignal>);
    await second.start(host);
    await until(() => rowsInserted() === 2, 3000, 'rows from the previous run');
    expect(fake.inserts[0]!.table).toBe('pulse.journey_sli');
    expect(onDisk.includes(Buffer.from(fake.inserts[0]!.body))).toBe(true);
  });
});
