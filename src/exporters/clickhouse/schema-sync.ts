/**
 * Brings a ClickHouse server to the schema the exporter writes, or says exactly what to run:
 *
 * 1. `SELECT version()` → which features the DDL may use (schema.ts);
 * 2. with `create_schema: true`: `CREATE DATABASE IF NOT EXISTS`, `CREATE TABLE IF NOT EXISTS` for all three tables
 *    (alerts included, so the schema is complete whatever pipelines run);
 * 3. compares the exporter's table with `system.columns`: a missing column is added (`ALTER TABLE … ADD COLUMN`,
 *    a metadata-only change in ClickHouse) when `create_schema` is on, otherwise it is a `SchemaError` quoting the
 *    statements to run; a column of an incompatible type is always a `SchemaError` (changing a type may rewrite
 *    data, which Pulse leaves to an operator).
 *
 * The result tells the row encoder how `start_time` is stored (DateTime or DateTime64).
 */
import type { Logger } from 'pino';
import { PulseError } from '../../core/errors.js';
import type { ClickHouseConfig } from './config.js';
import type { ClickHouseConnection } from './connection.js';
import { clickHouseCode, messageOf } from './errors.js';
import type { TimePrecision } from './rows.js';
import {
  TABLE_SIGNALS,
  addColumnSql,
  compareColumns,
  createDatabaseSql,
  createTableSql,
  expectedColumns,
  featuresOf,
  qualified,
  type ServerFeatures,
  type TableSignal,
} from './schema.js';

/** The schema is not what the exporter writes, and Pulse will not (or may not) change it. */
export class SchemaError extends PulseError {
  constructor(message: string) {
    super('PULSE_ERR_CLICKHOUSE_SCHEMA', message);
  }
}

export interface SchemaState {
  readonly features: ServerFeatures;
  /** How `start_time` of journey_attempts is written (from the live column's type). */
  readonly timePrecision: TimePrecision;
  /** Columns added by this sync. */
  readonly columnsAdded: number;
}

/** TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS: another instance created it between our check and our CREATE. */
const ALREADY_EXISTS = new Set([57, 82]);

export async function syncSchema(
  conn: ClickHouseConnection,
  cfg: ClickHouseConfig,
  signal: TableSignal,
  logger: Logger,
  abort: AbortSignal,
): Promise<SchemaState> {
  const version = await conn.version(abort);
  const features = featuresOf(version);
  const db = cfg.database;
  const table = cfg.tables[signal];
  if (cfg.ttl_days > 0 && !features.ttl) {
    logger.warn(
      { version, ttlDays: cfg.ttl_days },
      `ttl_days is ignored: ClickHouse ${version} has no TTL (19.6+); delete old data with ALTER TABLE ${qualified(db, table)} DROP PARTITION …`,
    );
  }
  if (cfg.create_schema) {
    await ignoreAlreadyExists(conn.command(createDatabaseSql(db), abort));
    for (const s of TABLE_SIGNALS) await ignoreAlreadyExists(conn.command(createTableSql(s, db, cfg.tables[s], features, cfg.ttl_days), abort));
  }

  const expected = expectedColumns(signal, features);
  let live = new Map((await conn.columns(db, table, abort)).map((c) => [c.name, c.type]));
  if (live.size === 0) {
    throw new SchemaError(
      `table ${db}.${table} does not exist; create it with deploy/clickhouse/schema.sql (or the statement in the exporter README), or set create_schema: true`,
    );
  }
  let drift = compareColumns(expected, live);
  let added = 0;
  if (drift.missing.length > 0 && cfg.create_schema) {
    for (const column of drift.missing) {
      const sql = addColumnSql(db, table, column);
      try {
        await conn.command(sql, abort);
        added++;
        logger.warn({ table: `${db}.${table}`, column: column.name, sql }, 'ClickHouse table lacked a column Pulse writes; added it');
      } catch (err) {
        // Another instance may have added it at the same moment: the re-read below decides.
        logger.warn({ sql, err: messageOf(err) }, 'could not add a missing column');
      }
    }
    live = new Map((await conn.columns(db, table, abort)).map((c) => [c.name, c.type]));
    drift = compareColumns(expected, live);
  }
  const problems: string[] = [];
  if (drift.missing.length > 0) {
    problems.push(
      `it lacks ${drift.missing.length === 1 ? 'a column' : 'columns'} Pulse writes; run:\n` +
        drift.missing.map((c) => `  ${addColumnSql(db, table, c)};`).join('\n') +
        (cfg.create_schema ? '' : '\n(or set create_schema: true and Pulse adds them)'),
    );
  }
  for (const m of drift.mismatched) {
    problems.push(
      `column ${m.column.name} is ${m.actualType} but Pulse writes ${m.column.type}; change it (ALTER TABLE ${qualified(db, table)} MODIFY COLUMN ${m.column.name} ${m.column.type}) or drop and re-create the table`,
    );
  }
  if (problems.length > 0) throw new SchemaError(`ClickHouse table ${db}.${table} does not match what Pulse writes: ${problems.join('; ')}`);

  const startTime = live.get('start_time');
  return {
    features,
    timePrecision: signal === 'attempts' && startTime !== undefined && startTime.startsWith('DateTime64') ? 'millis' : 'seconds',
    columnsAdded: added,
  };
}

async function ignoreAlreadyExists(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    const code = clickHouseCode(err);
    if (code === undefined || !ALREADY_EXISTS.has(code)) throw err;
  }
}
