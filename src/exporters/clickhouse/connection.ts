/**
 * The exporter's only contact with ClickHouse: a thin wrapper around @clickhouse/client (HTTP interface, keep-alive
 * pool). Checked against Debian's 18.16 and current servers: the client sends no settings by default, so old
 * servers accept its requests; its own console logging is switched off (the exporter logs, rate-limited), and every
 * call takes an `AbortSignal` so the exporter's per-attempt `timeout` applies.
 *
 * Rows go in as `INSERT INTO db.table FORMAT JSONEachRow` with the batch's pre-encoded body streamed as is
 * (`exec`), so a queued batch is never decoded or re-encoded on its way out.
 */
import { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { PulseError, errorMessage } from '../../core/errors.js';
import type { ClickHouseConfig } from './config.js';

/** Generous fallback for the client's own request timeout; the exporter's AbortSignal normally fires first. */
const CLIENT_TIMEOUT_SLACK_MS = 5000;

export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
}

export class ClickHouseConnection {
  private client: ClickHouseClient | undefined;

  constructor(private readonly cfg: ClickHouseConfig) {}

  /** Creates the client (reads TLS files: a missing file fails start). Sends nothing. */
  async open(): Promise<void> {
    if (this.client) return;
    const tls = await this.loadTls();
    this.client = createClient({
      url: this.cfg.endpoint!,
      username: this.cfg.username,
      password: this.cfg.password,
      application: 'pulse',
      request_timeout: this.cfg.timeout + CLIENT_TIMEOUT_SLACK_MS,
      max_open_connections: this.cfg.sending_queue.num_consumers + 1,
      log: { level: ClickHouseLogLevel.OFF },
      ...(tls ? { tls } : {}),
    });
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close();
  }

  /** `SELECT version()`. */
  async version(signal: AbortSignal): Promise<string> {
    const rows = await this.query<{ v: string }>('SELECT version() AS v', signal);
    return rows[0]?.v ?? '';
  }

  /** Runs a statement that returns nothing (DDL). */
  async command(sql: string, signal: AbortSignal): Promise<void> {
    await this.get().command({ query: sql, abort_signal: signal });
  }

  /** Columns of `database.table` in definition order; empty when the table does not exist. */
  async columns(database: string, table: string, signal: AbortSignal): Promise<ColumnInfo[]> {
    // Names are validated identifiers (config.ts), so inlining them is safe; 18.x has no query parameters.
    return this.query<ColumnInfo>(
      `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}'`,
      signal,
    );
  }

  /** Inserts a JSONEachRow body into `qualifiedTable`; resolves once the server has written it. */
  async insert(qualifiedTable: string, bodies: readonly Buffer[], signal: AbortSignal): Promise<void> {
    const result = await this.get().exec({
      query: `INSERT INTO ${qualifiedTable} FORMAT JSONEachRow`,
      // The pieces streamed one after the other (a merged batch is not joined into one buffer first).
      values: Readable.from(bodies, { objectMode: false }),
      abort_signal: signal,
    });
    // The answer to an INSERT is empty; reading it to the end returns the socket to the pool.
    for await (const chunk of result.stream) void chunk;
  }

  private async query<T>(sql: string, signal: AbortSignal): Promise<T[]> {
    const rs = await this.get().query({ query: sql, format: 'JSONEachRow', abort_signal: signal });
    return rs.json<T>();
  }

  private get(): ClickHouseClient {
    if (!this.client) throw new PulseError('PULSE_ERR_NOT_STARTED', 'the ClickHouse connection is not open');
    return this.client;
  }

  private async loadTls(): Promise<{ ca_cert: Buffer; cert?: Buffer; key?: Buffer } | undefined> {
    const t = this.cfg.tls;
    if (t.ca_file === undefined) return undefined;
    const ca_cert = await readTlsFile(t.ca_file, 'tls.ca_file');
    if (t.cert_file === undefined || t.key_file === undefined) return { ca_cert };
    return { ca_cert, cert: await readTlsFile(t.cert_file, 'tls.cert_file'), key: await readTlsFile(t.key_file, 'tls.key_file') };
  }
}

async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new PulseError('PULSE_ERR_TLS_FILE', `cannot read ${field} ${path}: ${errorMessage(err)}; fix the path or its permissions`, { cause: err });
  }
}
