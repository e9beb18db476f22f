/**
 * The `clickhouse` exporter, one instance per signal (attempts, journey_metrics, alerts), each writing one table:
 *
 *   consume(records) ──encode rows (ids fixed here)──▶ helper queue (disk by default) ──▶ INSERT … FORMAT JSONEachRow
 *
 * - **Start**: opens the client and syncs the schema (schema-sync.ts). A server that answers with a schema problem
 *   or refused credentials fails start with the fix; a server that does not answer (down, overloaded) does not:
 *   Pulse starts, queues, and syncs before the first insert — a restart during a ClickHouse outage must not stop
 *   the pipeline.
 * - **Send**: one INSERT per (merged) batch; failures are classified by errors.ts. An unknown table or database
 *   triggers a re-sync before the retry (re-creating it with `create_schema`); a missing column, with
 *   `create_schema`, is added and the batch retried; other invalid-data answers drop the batch (counted, logged) —
 *   except that when the answer is about a value in some row and the batch has several rows, the batch is split
 *   in halves, recursively, so that only the rows ClickHouse refuses are dropped (`insertAround`).
 *
 * Metrics carry `exporter="<id>@<signal>"` (e.g. `clickhouse@attempts`): one id serves several signals, and each
 * instance has its own queue, so the label must tell them apart.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ConsumingComponent, CreateSettings, Host } from '../../core/component.js';
import type { SignalData } from '../../core/consumer.js';
import { PermanentError, PulseError, RetryableError } from '../../core/errors.js';
import type { BoundCounter, BoundGauge, Counter } from '../../core/telemetry.js';
import { createQueuedExporter, isTlsFailure, tlsHint, type QueuedExporter, type SendResult } from '../exporterhelper/index.js';
import type { ClickHouseConfig } from './config.js';
import { ClickHouseConnection } from './connection.js';
import { AUTH_CODES, MISSING_COLUMN_CODES, ROW_VALUE_CODES, classifyFailure, clickHouseCode, messageOf, type ClickHouseFailure } from './errors.js';
import { indexRows, mergeRowBatches, rowBatchCodec, rowBatchSize, rowsOf, type RowBatch, type TimePrecision } from './rows.js';
import { qualified, type TableSignal } from './schema.js';
import { SchemaError, syncSchema, type SchemaState } from './schema-sync.js';

/** Turns a signal's records into encoded rows; `precision` is how the live table stores attempt start times. */
export type RowEncoder<S extends TableSignal> = (data: SignalData[S], precision: TimePrecision) => RowBatch;

export interface ClickHouseExporter<S extends TableSignal> extends ConsumingComponent<S> {
  shutdown(deadline?: number): Promise<void>;
  /** Batches queued (waiting or being sent). */
  readonly queueSize: number;
}

/**
 * INSERTs a split batch may make after the one refused. Finding one bad row among n costs about log2(n) + 1 (18
 * for 100,000 rows), so this finds two or three in the largest merged batch, more in smaller ones; rows not tried
 * when it runs out are dropped with the bad ones.
 */
export const MAX_SPLIT_INSERTS = 48;

/** A failed INSERT: what errors.ts makes of it, and the error itself. */
type Refusal = ClickHouseFailure & { readonly err: unknown };

/** Refused for a value in some row (`ROW_VALUE_CODES`): other rows of the batch may be fine. */
function aboutARow(f: Refusal): boolean {
  return f.class === 'permanent' && f.code !== undefined && ROW_VALUE_CODES.has(f.code);
}

export const CLICKHOUSE_METRIC = {
  inserts: 'pulse_clickhouse_inserts_total',
  insertErrors: 'pulse_clickhouse_insert_errors_total',
  schemaReady: 'pulse_clickhouse_schema_ready',
} as const;

export function createClickHouseExporter<S extends TableSignal>(
  signal: S,
  settings: CreateSettings,
  config: ClickHouseConfig,
  encode: RowEncoder<S>,
): ClickHouseExporter<S> {
  return new ClickHouseTableExporter(signal, settings, config, encode);
}

class ClickHouseTableExporter<S extends TableSignal> implements ClickHouseExporter<S> {
  readonly mutatesData = false;
  private readonly conn: ClickHouseConnection;
  private readonly queued: QueuedExporter<RowBatch>;
  private readonly table: string;
  private readonly label: string;
  private readonly logger: Logger;
  private schema: SchemaState | undefined;
  private syncing: Promise<SchemaState> | undefined;
  /** Kept across re-syncs, so rows encoded while a re-sync runs keep the table's precision. */
  private precision: TimePrecision = 'seconds';
  private readonly inserts: BoundCounter;
  private readonly errors: Counter;
  private readonly errorsByLabel = new Map<string, BoundCounter>();
  private readonly ready: BoundGauge;

  constructor(
    private readonly signal: S,
    settings: CreateSettings,
    private readonly cfg: ClickHouseConfig,
    private readonly encode: RowEncoder<S>,
  ) {
    this.label = `${settings.id}@${signal}`;
    this.logger = settings.logger;
    this.table = qualified(cfg.database, cfg.tables[signal]);
    this.conn = new ClickHouseConnection(cfg);
    const m = settings.metrics;
    this.inserts = m.counter(CLICKHOUSE_METRIC.inserts, 'INSERT statements ClickHouse accepted').with({ exporter: this.label });
    this.errors = m.counter(CLICKHOUSE_METRIC.insertErrors, 'Failed sends (the INSERT, or the schema check before it), by ClickHouse error code, or connection, timeout, schema, unknown');
    this.ready = m
      .gauge(CLICKHOUSE_METRIC.schemaReady, '1 once the table was checked (and created) on the server since start or since it went missing')
      .with({ exporter: this.label });
    this.ready.set(0);
    // One instance per signal: a configured storage directory gets a subdirectory per signal, so the instances of
    // one exporter id never fight over one queue lock.
    const storage = cfg.sending_queue.storage;
    const helperConfig =
      storage.directory === undefined
        ? cfg
        : { ...cfg, sending_queue: { ...cfg.sending_queue, storage: { ...storage, directory: join(storage.directory, signal) } } };
    this.queued = createQueuedExporter<RowBatch>({
      settings: { ...settings, id: this.label },
      config: helperConfig,
      send: (batch, abort) => this.send(batch, abort),
      itemCount: (batch) => batch.rows,
      sizeOf: rowBatchSize,
      codec: rowBatchCodec,
      merge: mergeRowBatches,
      start: () => this.open(),
      shutdown: () => this.conn.close(),
    });
  }

  get queueSize(): number {
    return this.queued.queueSize;
  }

  start(host: Host): Promise<void> {
    return this.queued.start(host);
  }

  shutdown(deadline?: number): Promise<void> {
    return this.queued.shutdown(deadline);
  }

  async consume(data: SignalData[S]): Promise<void> {
    if (data.length === 0) return;
    await this.queued.consume(this.encode(data, this.precision));
  }

  /** Runs before the queue opens. Rejects only for problems a restart cannot fix by itself. */
  private async open(): Promise<void> {
    await this.conn.open();
    try {
      await this.ensureSchema(AbortSignal.timeout(this.cfg.timeout));
    } catch (err) {
      if (err instanceof SchemaError) throw err;
      const code = clickHouseCode(err);
      if (code !== undefined && AUTH_CODES.has(code)) {
        throw new PulseError(
          'PULSE_ERR_CLICKHOUSE_AUTH',
          `ClickHouse at ${this.cfg.endpoint} refused user "${this.cfg.username}": ${messageOf(err)}; check username and password (and the user's grants on database ${this.cfg.database})`,
        );
      }
      if (code !== undefined && classifyFailure(err).class === 'permanent') {
        throw new SchemaError(`ClickHouse at ${this.cfg.endpoint} refused the schema of ${this.table}: ${messageOf(err)}`);
      }
      this.logger.warn(
        { endpoint: this.cfg.endpoint, err: messageOf(err) },
        isTlsFailure(err)
          ? `the TLS handshake with ClickHouse failed at start: ${tlsHint('server')}; starting anyway: rows are queued and sent once it succeeds`
          : 'ClickHouse did not answer at start; starting anyway: rows are queued (on disk with the persistent queue) and the schema is checked before the first insert',
      );
    }
  }

  private ensureSchema(abort: AbortSignal): Promise<SchemaState> {
    if (this.schema) return Promise.resolve(this.schema);
    this.syncing ??= syncSchema(this.conn, this.cfg, this.signal, this.logger, abort)
      .then((s) => {
        this.schema = s;
        this.precision = s.timePrecision;
        this.ready.set(1);
        this.logger.info({ version: s.features.version, table: this.table, columnsAdded: s.columnsAdded }, 'ClickHouse table ready');
        return s;
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  private async send(batch: RowBatch, abort: AbortSignal): Promise<SendResult | void> {
    try {
      await this.ensureSchema(abort);
    } catch (err) {
      if (abort.aborted) throw err;
      this.countError(err instanceof SchemaError ? 'schema' : classifyFailure(err).label);
      // The data is fine; the server or its schema is not (yet). Keep the rows queued and say why.
      const code = err instanceof PulseError ? err.code : 'PULSE_ERR_CLICKHOUSE_UNAVAILABLE';
      throw new RetryableError(code, `cannot write to ${this.table} yet: ${messageOf(err)}`, { cause: err });
    }
    const f = await this.insert(batch, abort);
    if (f === undefined) return;
    if (batch.rows > 1 && aboutARow(f)) return this.insertAround(batch, f, abort);
    throw await this.insertFailure(f, batch);
  }

  /** One INSERT: resolves with why it failed (counted), or undefined once ClickHouse has the rows. */
  private async insert(batch: RowBatch, abort: AbortSignal): Promise<Refusal | undefined> {
    try {
      await this.conn.insert(this.table, batch.bodies, abort);
      this.inserts.inc();
      return undefined;
    } catch (err) {
      if (abort.aborted) {
        this.countError('timeout');
        throw err; // the helper reports it as a timeout (or shutdown) and retries
      }
      const f = classifyFailure(err);
      this.countError(f.label);
      return { ...f, err };
    }
  }

  /**
   * A batch refused for a value in some row: inserts the rows that are fine, halving the refused ranges until the
   * refused rows stand alone (a range whose left half went in holds its bad row in the right half, which is then
   * split without being tried), at most MAX_SPLIT_INSERTS more INSERTs. The refused rows (and any left untried)
   * are reported as rejected by the destination; when none went in, the batch is dropped as before. Another failure
   * on the way ends the split as it would end a send: retried or dropped. A retry sends the whole batch again; the
   * ranges already in repeat their row ids, so FINAL counts them once.
   */
  private async insertAround(batch: RowBatch, first: Refusal, abort: AbortSignal): Promise<SendResult> {
    const index = indexRows(batch);
    let budget = MAX_SPLIT_INSERTS;
    let refused = 0;
    let untried = 0;
    let reason = first.message;
    /** Inserts rows [lo, hi), `bad` when ClickHouse already refused them; true when all of them went in. */
    const place = async (lo: number, hi: number, bad: boolean): Promise<boolean> => {
      if (!bad) {
        if (budget === 0) {
          untried += hi - lo;
          return false;
        }
        budget--;
        const f = await this.insert(rowsOf(index, lo, hi), abort);
        if (f === undefined) return true;
        if (!aboutARow(f)) throw await this.insertFailure(f, batch);
        reason = f.message;
      }
      if (hi - lo === 1) {
        refused++;
        return false;
      }
      const mid = lo + Math.floor((hi - lo) / 2);
      const leftIn = await place(lo, mid, false);
      await place(mid, hi, leftIn);
      return false;
    };
    await place(0, index.rows, true);
    const dropped = refused + untried;
    if (dropped >= batch.rows) throw await this.insertFailure(first, batch);
    return {
      rejectedItems: dropped,
      rejectMessage:
        `ClickHouse refused ${refused} of ${batch.rows} rows for ${this.table} as invalid (${reason}); they are dropped` +
        (untried > 0 ? `, with ${untried} rows not tried once ${MAX_SPLIT_INSERTS} INSERTs were spent splitting the batch` : '') +
        '; the other rows were inserted',
    };
  }

  private async insertFailure(f: Refusal, batch: RowBatch): Promise<Error> {
    switch (f.class) {
      case 'schema_missing':
        this.schema = undefined;
        this.ready.set(0);
        return new RetryableError(
          'PULSE_ERR_CLICKHOUSE_SCHEMA_MISSING',
          `${this.table} is gone (${f.message}); ${this.cfg.create_schema ? 'it is re-created before the next attempt' : 'create it again (deploy/clickhouse/schema.sql); the rows stay queued until then'}`,
        );
      case 'permanent':
        if (this.cfg.create_schema && f.code !== undefined && MISSING_COLUMN_CODES.has(f.code) && (await this.repaired())) {
          return new RetryableError('PULSE_ERR_CLICKHOUSE_SCHEMA_REPAIRED', `${this.table} lacked columns (${f.message}); added them, retrying`);
        }
        return new PermanentError(
          'PULSE_ERR_CLICKHOUSE_REJECTED',
          aboutARow(f)
            ? // A value ClickHouse cannot take, in every row tried (a batch is split to find the bad rows first).
              `ClickHouse refused ${batch.rows === 1 ? 'the row' : `all ${batch.rows} rows`} for ${this.table} as invalid: ${f.message}; ${batch.rows === 1 ? 'it is' : 'they are'} dropped. ` +
                `If every batch is refused so, the table may differ from what Pulse writes: compare it with deploy/clickhouse/schema.sql`
            : `ClickHouse refused ${batch.rows} rows for ${this.table} as invalid: ${f.message}; they are dropped. The table probably differs from what Pulse writes: compare it with deploy/clickhouse/schema.sql`,
        );
      case 'retryable':
        return new RetryableError(
          f.code === 252 ? 'PULSE_ERR_CLICKHOUSE_TOO_MANY_PARTS' : 'PULSE_ERR_CLICKHOUSE_UNAVAILABLE',
          `INSERT into ${this.table} at ${this.cfg.endpoint} failed: ${f.message}`,
          { cause: f.err },
        );
    }
  }

  /** Re-syncs the schema (create_schema is on); true when that added columns, so a retry can succeed. */
  private async repaired(): Promise<boolean> {
    this.schema = undefined;
    try {
      const s = await this.ensureSchema(AbortSignal.timeout(this.cfg.timeout));
      return s.columnsAdded > 0;
    } catch {
      return false;
    }
  }

  private countError(label: string): void {
    let c = this.errorsByLabel.get(label);
    if (c === undefined) {
      c = this.errors.with({ exporter: this.label, code: label });
      this.errorsByLabel.set(label, c);
    }
    c.inc();
  }
}
