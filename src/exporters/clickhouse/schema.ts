/**
 * The ClickHouse schema of the exporter: the three tables, their DDL for the server at hand, and the comparison of
 * a live table with what Pulse writes (schema drift).
 *
 * **One schema, two dialects.** Every table is a `ReplacingMergeTree` whose sorting key ends with `row_id`, so rows
 * re-sent with the same id (a retried or re-read batch) collapse into one; readers use `FINAL` (README). Newer
 * servers get the same columns with better storage; `featuresOf(SELECT version())` decides:
 *
 * | feature                         | needs   | used for                                                     |
 * |---------------------------------|---------|--------------------------------------------------------------|
 * | `LowCardinality(String)`        | 19.6    | journey, segment keys, reasons, services (dictionary-encoded)|
 * | column `CODEC(Delta, ZSTD(1))`  | 19.6    | timestamps (Delta), long strings and arrays (ZSTD)           |
 * | table `TTL`                     | 19.6    | `ttl_days`                                                   |
 * | `DateTime64(3)`                 | 20.1    | `journey_attempts.start_time` with milliseconds              |
 * | `bloom_filter` skip index       | 20.1    | `journey_attempts.trace_id` lookups                          |
 *
 * On older servers (Debian's 18.16) LowCardinality exists only behind an experimental setting and is not used;
 * the types fall back to `String` / `DateTime`. The row format Pulse sends is the same for both (see rows.ts).
 * The thresholds are conservative: each feature appeared in or before the release named.
 */

/** Signals the exporter writes, one table each. */
export type TableSignal = 'attempts' | 'journey_metrics' | 'alerts';
export const TABLE_SIGNALS: readonly TableSignal[] = ['attempts', 'journey_metrics', 'alerts'];

export interface ServerFeatures {
  /** As `SELECT version()` answered, e.g. `18.16.1` or `24.8.4.13`. */
  readonly version: string;
  readonly lowCardinality: boolean;
  readonly codecs: boolean;
  readonly ttl: boolean;
  readonly dateTime64: boolean;
  readonly skipIndexes: boolean;
}

/** The version deploy/clickhouse/schema.sql is generated for (any current release gives the same DDL). */
export const MODERN_REFERENCE_VERSION = '24.8';

/** What a server of `version` supports; an unparsable version is treated as a current one. */
export function featuresOf(version: string): ServerFeatures {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  const n = m ? Number(m[1]) * 1000 + Number(m[2]) : Number.MAX_SAFE_INTEGER;
  const atLeast = (major: number, minor: number): boolean => n >= major * 1000 + minor;
  return {
    version,
    lowCardinality: atLeast(19, 6),
    codecs: atLeast(19, 6),
    ttl: atLeast(19, 6),
    dateTime64: atLeast(20, 1),
    skipIndexes: atLeast(20, 1),
  };
}

interface ColumnSpec {
  readonly name: string;
  type(f: ServerFeatures): string;
  codec?(f: ServerFeatures): string | undefined;
  /** One line for the README and schema.sql. */
  readonly doc: string;
}

interface TableSpec {
  readonly signal: TableSignal;
  readonly columns: readonly ColumnSpec[];
  readonly partitionBy: string;
  /** Sorting key; always ends with `row_id` so that duplicates collapse. */
  readonly orderBy: readonly string[];
  /** Expression of type DateTime the TTL counts from. */
  readonly ttlFrom: string;
  indexes?(f: ServerFeatures): string[];
}

const lc = (f: ServerFeatures): string => (f.lowCardinality ? 'LowCardinality(String)' : 'String');
const lcArray = (f: ServerFeatures): string => `Array(${lc(f)})`;
const zstd = (f: ServerFeatures): string | undefined => (f.codecs ? 'CODEC(ZSTD(1))' : undefined);
const deltaZstd = (f: ServerFeatures): string | undefined => (f.codecs ? 'CODEC(Delta, ZSTD(1))' : undefined);
const fixed = (type: string) => (): string => type;

const ROW_ID: ColumnSpec = {
  name: 'row_id',
  type: fixed('UInt64'),
  doc: 'deterministic id of the row (see "Exactly once"); rows with the same id are one row',
};

const ATTEMPTS: TableSpec = {
  signal: 'attempts',
  columns: [
    ROW_ID,
    { name: 'journey', type: lc, doc: 'journey name' },
    {
      name: 'start_time',
      type: (f) => (f.dateTime64 ? "DateTime64(3, 'UTC')" : "DateTime('UTC')"),
      codec: deltaZstd,
      doc: 'start span start (event time); milliseconds on 20.1+, seconds before',
    },
    { name: 'trace_id', type: fixed('String'), codec: zstd, doc: 'trace id, lowercase hex (32 chars)' },
    { name: 'start_span_id', type: fixed('String'), codec: zstd, doc: 'start span id, lowercase hex (16 chars)' },
    { name: 'duration_ms', type: fixed('Float64'), codec: zstd, doc: 'start span duration in ms' },
    { name: 'outcome', type: fixed("Enum8('success' = 1, 'failure' = 2)"), doc: '`success` or `failure`' },
    { name: 'reasons', type: lcArray, doc: 'failure reasons (`error:charge`, `missing_step:charge`, `slow`, `where:…`); empty on success' },
    { name: 'signals', type: lcArray, doc: 'non-failing findings, e.g. `duplicate_calls:charge`' },
    { name: 'segment_keys', type: lcArray, doc: 'segment dimension names, parallel to segment_values' },
    { name: 'segment_values', type: fixed('Array(String)'), codec: zstd, doc: 'segment values (raw, not folded into `__other__`)' },
    { name: 'services', type: lcArray, doc: 'services seen in the attempt, start first, parallel to service_versions' },
    { name: 'service_versions', type: lcArray, doc: '`service.version` of each of services' },
    { name: 'failing_step', type: lc, doc: 'first step that failed (`start` or a step name); empty when none' },
    { name: 'failing_service', type: lc, doc: 'service of the failing step' },
    { name: 'failing_version', type: lc, doc: '`service.version` of the failing step' },
    { name: 'span_steps', type: lcArray, doc: 'per matched span: `start` or the step name (parallel arrays span_*)' },
    { name: 'span_services', type: lcArray, doc: 'per matched span: service' },
    { name: 'span_status_codes', type: fixed('Array(UInt8)'), doc: 'per matched span: OTLP status (0 unset, 1 ok, 2 error)' },
    { name: 'span_durations_ms', type: fixed('Array(Float64)'), codec: zstd, doc: 'per matched span: duration in ms' },
    {
      name: 'decided_by',
      type: fixed("Enum8('complete' = 1, 'timeout' = 2, 'evicted' = 3, 'flush' = 4)"),
      doc: 'why the attempt was decided when it was',
    },
    { name: 'decided_at', type: fixed("DateTime('UTC')"), codec: deltaZstd, doc: 'wall-clock time of the decision' },
  ],
  partitionBy: 'toYYYYMMDD(start_time)',
  orderBy: ['journey', 'start_time', 'row_id'],
  ttlFrom: 'toDateTime(start_time)',
  indexes: (f) => (f.skipIndexes ? ['INDEX trace_id_idx trace_id TYPE bloom_filter(0.001) GRANULARITY 1'] : []),
};

const SLI: TableSpec = {
  signal: 'journey_metrics',
  columns: [
    ROW_ID,
    { name: 'window_start', type: fixed("DateTime('UTC')"), codec: deltaZstd, doc: 'window start (event time), aligned to window_seconds' },
    { name: 'window_seconds', type: fixed('UInt32'), doc: 'window length' },
    { name: 'journey', type: lc, doc: 'journey name' },
    { name: 'segment_key', type: lc, doc: "segment dimension; `''` for the all-traffic row" },
    { name: 'segment_value', type: lc, doc: "segment value; `''` for the all-traffic row, `__unset__` (no value), `__other__` (folded)" },
    { name: 'attempts', type: fixed('UInt64'), doc: 'attempts decided in this partial row' },
    { name: 'successes', type: fixed('UInt64'), doc: 'of which succeeded' },
    { name: 'failures', type: fixed('UInt64'), doc: 'of which failed' },
    {
      name: 'abandoned',
      type: fixed('UInt64'),
      doc: 'attempts started in this window that Pulse dropped undecided (not in `attempts`): still missing a step while it refused spans for overload, or when it stopped',
    },
    { name: 'failure_reasons', type: lcArray, doc: 'reasons, parallel to failure_reason_counts (an attempt may have several)' },
    { name: 'failure_reason_counts', type: fixed('Array(UInt64)'), doc: 'failed attempts per reason' },
    { name: 'latency_bounds_ms', type: fixed('Array(Float64)'), codec: zstd, doc: 'upper bounds of the latency buckets (1, 2, 4 … 65536 ms; inclusive)' },
    {
      name: 'latency_counts',
      type: fixed('Array(UInt64)'),
      codec: zstd,
      doc: 'attempts per bucket: one per bound, plus a last one above the largest bound',
    },
    { name: 'latency_sum_ms', type: fixed('Float64'), doc: 'sum of the start span durations (for the mean)' },
  ],
  partitionBy: 'toYYYYMM(window_start)',
  orderBy: ['journey', 'window_start', 'segment_key', 'segment_value', 'row_id'],
  ttlFrom: 'window_start',
};

const ALERTS: TableSpec = {
  signal: 'alerts',
  columns: [
    ROW_ID,
    { name: 'event_id', type: fixed('String'), doc: 'unique id of the event (a UUID)' },
    { name: 'event_time', type: fixed("DateTime('UTC')"), codec: deltaZstd, doc: 'when the event was produced' },
    { name: 'fingerprint', type: fixed('String'), codec: zstd, doc: 'stable id of the alert across its firing, repeated and resolved events' },
    { name: 'journey', type: lc, doc: 'journey name' },
    { name: 'kind', type: lc, doc: '`burn_rate`, `segment`, `heartbeat`, `release_regression`' },
    { name: 'severity', type: lc, doc: '`page` or `ticket`' },
    { name: 'status', type: lc, doc: '`firing` or `resolved`' },
    { name: 'repeat', type: fixed('UInt8'), doc: '1 for a re-sent firing event' },
    { name: 'segment_key', type: lc, doc: "segment the alert is about; `''` for whole-journey alerts" },
    { name: 'segment_value', type: fixed('String'), doc: "its value; `''` for whole-journey alerts" },
    { name: 'starts_at', type: fixed("DateTime('UTC')"), doc: 'when the alert started firing' },
    {
      name: 'starts_at_ms',
      type: fixed('UInt64'),
      doc: "starts_at in milliseconds since the epoch, as the Kafka event's starts_at: an alert restored after a restart keeps it exactly",
    },
    { name: 'ends_at', type: fixed("Nullable(DateTime('UTC'))"), doc: 'when it resolved; NULL while firing' },
    { name: 'objective_target', type: fixed('Float64'), doc: 'objective, 0..1' },
    { name: 'objective_window_seconds', type: fixed('UInt32'), doc: 'objective window' },
    { name: 'error_budget_remaining', type: fixed('Float64'), doc: 'share of the error budget left (negative when overspent)' },
    { name: 'burn_rate_windows', type: lcArray, doc: 'burn-rate windows as written (`5m`, `1h`), parallel to burn_rates' },
    { name: 'burn_rates', type: fixed('Array(Float64)'), doc: 'error rate in the window / (1 − target)' },
    { name: 'burn_rate_thresholds', type: fixed('Array(Float64)'), doc: 'the factor each burn rate was compared with' },
    { name: 'attempts', type: fixed('UInt64'), doc: "attempts in the alert's window" },
    { name: 'failures', type: fixed('UInt64'), doc: "failures in the alert's window" },
    { name: 'suspects', type: fixed('String'), codec: zstd, doc: 'JSON array of suspects, most likely first ({dimension, value, attempts, failures, failureRatio, shareOfFailures, lift})' },
    { name: 'release', type: fixed('String'), codec: zstd, doc: "JSON of the release details of a release regression; `''` otherwise" },
    { name: 'exemplar_trace_ids', type: fixed('Array(String)'), codec: zstd, doc: 'hex trace ids of failed attempts' },
    { name: 'owner', type: lc, doc: 'journey owner' },
    { name: 'runbook', type: lc, doc: 'runbook URL' },
    { name: 'summary', type: fixed('String'), codec: zstd, doc: 'one human sentence' },
  ],
  partitionBy: 'toYYYYMM(event_time)',
  orderBy: ['journey', 'event_time', 'row_id'],
  ttlFrom: 'event_time',
};

const TABLES: { readonly [S in TableSignal]: TableSpec } = { attempts: ATTEMPTS, journey_metrics: SLI, alerts: ALERTS };

export interface ColumnDef {
  readonly name: string;
  readonly type: string;
  readonly codec: string | undefined;
  readonly doc: string;
}

/** The columns of the table of `signal` on a server with `features`, in order. */
export function expectedColumns(signal: TableSignal, features: ServerFeatures): ColumnDef[] {
  return TABLES[signal].columns.map((c) => ({ name: c.name, type: c.type(features), codec: c.codec?.(features), doc: c.doc }));
}

/** `` `db`.`table` `` (names are validated identifiers; backquotes keep reserved words working). */
export function qualified(database: string, table: string): string {
  return `\`${database}\`.\`${table}\``;
}

export function createDatabaseSql(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS \`${database}\``;
}

/** `CREATE TABLE IF NOT EXISTS` for the table of `signal`; `ttlDays` 0 (or a server without TTL) = no TTL. */
export function createTableSql(signal: TableSignal, database: string, table: string, features: ServerFeatures, ttlDays: number): string {
  const spec = TABLES[signal];
  const lines = expectedColumns(signal, features).map((c) => `    ${columnSql(c)}`);
  for (const index of spec.indexes?.(features) ?? []) lines.push(`    ${index}`);
  const out = [
    `CREATE TABLE IF NOT EXISTS ${qualified(database, table)}`,
    '(',
    lines.join(',\n'),
    ')',
    'ENGINE = ReplacingMergeTree()',
    `PARTITION BY ${spec.partitionBy}`,
    `ORDER BY (${spec.orderBy.join(', ')})`,
  ];
  if (ttlDays > 0 && features.ttl) out.push(`TTL ${spec.ttlFrom} + INTERVAL ${ttlDays} DAY`);
  return out.join('\n');
}

/** `ALTER TABLE … ADD COLUMN …` for one missing column. */
export function addColumnSql(database: string, table: string, column: ColumnDef): string {
  return `ALTER TABLE ${qualified(database, table)} ADD COLUMN ${columnSql(column)}`;
}

function columnSql(c: ColumnDef): string {
  return `${c.name} ${c.type}${c.codec !== undefined ? ` ${c.codec}` : ''}`;
}

export interface SchemaDrift {
  /** Columns Pulse writes that the table lacks. */
  readonly missing: ColumnDef[];
  /** Columns whose type cannot take what Pulse writes. */
  readonly mismatched: Array<{ readonly column: ColumnDef; readonly actualType: string }>;
}

/**
 * Compares a live table (column name → type, from `system.columns`) with the expected columns. Types are compared
 * after `normalizeType`, so a table created on an old server keeps working after an upgrade (String where
 * LowCardinality(String) would be created today, DateTime where DateTime64). Extra columns are fine (they get
 * their defaults).
 */
export function compareColumns(expected: readonly ColumnDef[], actual: ReadonlyMap<string, string>): SchemaDrift {
  const missing: ColumnDef[] = [];
  const mismatched: SchemaDrift['mismatched'] = [];
  for (const column of expected) {
    const actualType = actual.get(column.name);
    if (actualType === undefined) missing.push(column);
    else if (normalizeType(actualType) !== normalizeType(column.type)) mismatched.push({ column, actualType });
  }
  return { missing, mismatched };
}

/** Drops what does not change the text a column accepts: LowCardinality, time zones, DateTime64 precision, spaces. */
export function normalizeType(type: string): string {
  let t = type.replace(/\s+/g, '');
  let prev: string;
  do {
    prev = t;
    t = t.replace(/LowCardinality\(([^()]*(?:\([^()]*\))?[^()]*)\)/g, '$1');
  } while (t !== prev);
  return t.replace(/DateTime64\(\d+(?:,'[^']*')?\)/g, 'DateTime').replace(/DateTime\('[^']*'\)/g, 'DateTime');
}

/** The whole deploy/clickhouse/schema.sql: the DDL for a current server, with the differences on old ones. */
export function renderSchemaFile(database = 'pulse'): string {
  const modern = featuresOf(MODERN_REFERENCE_VERSION);
  const names: { readonly [S in TableSignal]: string } = { attempts: 'journey_attempts', journey_metrics: 'journey_sli', alerts: 'journey_alerts' };
  const header = [
    '-- Pulse ClickHouse schema (generated from src/exporters/clickhouse/schema.ts; a unit test keeps it in sync).',
    '--',
    "-- The clickhouse exporter creates these itself (create_schema: true, the default), for the server it finds. Use",
    '-- this file when Pulse may not create tables (create_schema: false): run it with',
    '--   clickhouse-client --multiquery < deploy/clickhouse/schema.sql',
    '-- This is the DDL for ClickHouse 20.1 and later. On older servers (e.g. Debian\'s 18.16) drop every',
    '-- LowCardinality(...) wrapper (keep the inner type), every CODEC(...), the INDEX line and TTL clauses, and use',
    "-- DateTime('UTC') instead of DateTime64(3, 'UTC'); the exporter does exactly that when it creates tables.",
    '--',
    '-- Every table is a ReplacingMergeTree whose sorting key ends with row_id: a row re-sent after a retry, a timeout',
    '-- or a crash has the same row_id and collapses into one. Read with FINAL (see the exporter README) to get',
    '-- exact results before background merges have removed the duplicates.',
    '--',
    '-- Retention: add e.g. "TTL toDateTime(start_time) + INTERVAL 90 DAY" (the exporter does with ttl_days: 90), or',
    '-- later: ALTER TABLE pulse.journey_attempts MODIFY TTL toDateTime(start_time) + INTERVAL 90 DAY',
    '',
  ];
  const statements = [createDatabaseSql(database), ...TABLE_SIGNALS.map((s) => createTableSql(s, database, names[s], modern, 0))];
  return header.join('\n') + '\n' + statements.map((s) => `${s};\n`).join('\n');
}
