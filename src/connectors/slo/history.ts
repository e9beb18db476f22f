/**
 * Where the slo connector rebuilds its state from at start: SLI rows of the recent past and the last event of
 * each recent alert. `ClickHouseHistory` reads the tables the clickhouse exporter writes (src/exporters/clickhouse/
 * schema.ts: `journey_sli`, `journey_alerts`, ReplacingMergeTree read with FINAL) through the HTTP interface,
 * with one timeout per query. Tests pass their own `HistorySource`.
 */
import type { AttemptRecord, ServiceVersion, SliWindow } from '../../journeys/model.js';
import { hexToId } from '../../core/model.js';
import type { RestoredAlert } from '../../alerts/lifecycle.js';
import type { AlertKind, AlertSeverity } from '../../alerts/model.js';
import { PulseError, errorMessage } from '../../core/errors.js';
import { clickHouseCode } from '../../exporters/clickhouse/errors.js';
import type { SloClickHouseConfig } from './config.js';

export interface HistorySource {
  /**
   * SLI rows (summed per journey × segment × window) with a window start at or after `sinceMs`, for `journeys`.
   * With `coarser`, windows that started before `coarser.rawFromMs` come summed into buckets as `historyBucketMs`
   * says (a row per bucket, its `windowStartMs` the bucket's start, its `windowSeconds` the stored windows' length).
   */
  loadSli(sinceMs: number, journeys: readonly string[], coarser?: CoarserHistory): Promise<SliWindow[]>;
  /** The alerts whose last event since `sinceMs` is a firing one. */
  loadFiringAlerts(sinceMs: number): Promise<RestoredAlert[]>;
  /**
   * Attempts of `journeys` decided in [fromSec, toSec) (whole seconds, as `decided_at` is stored), the most recent
   * first, at most `limit`; `more` when there were more. Each attempt once, however often its row was written.
   * Only what the slo engine reads is filled in: no spans.
   */
  loadAttempts?(fromSec: number, toSec: number, journeys: readonly string[], limit: number): Promise<{ records: AttemptRecord[]; more: boolean }>;
}

/**
 * How long before its decision an attempt can have started, at most, for the read of attempts by decision time:
 * `start_time` is what the table is sorted by, so the bound lets ClickHouse skip all older parts of it.
 */
const MAX_ATTEMPT_AGE_SEC = 3600;

export interface CoarserHistory {
  readonly nowMs: number;
  /** Windows from here on come as stored. */
  readonly rawFromMs: number;
}

/**
 * Bucket length for an SLI window of the history read at a restart, by its age: the engine's `TieredCounts` keeps
 * 10 s buckets for 2 h, 1 min buckets for 12 h, 10 min for 5 d and hours beyond (src/alerts/tiered-counts.ts), and
 * reads a window from the finest tier that holds it. So a window older than 2 h is only ever read from minute
 * buckets or coarser, one older than 12 h from 10-minute buckets: reading the history summed that way gives every
 * tier what it would have kept of the stored rows, in ~15× fewer rows for the default 28-day objective's ~3 days
 * (a test compares the window sums). `0` = as stored.
 */
export function historyBucketMs(windowStartMs: number, { nowMs, rawFromMs }: CoarserHistory): number {
  if (windowStartMs >= rawFromMs) return 0;
  const age = nowMs - windowStartMs;
  if (age < 12 * 3_600_000) return 60_000;
  if (age < 5 * 86_400_000) return 600_000;
  return 3_600_000;
}

/** ClickHouse's UNKNOWN_TABLE error code. */
const UNKNOWN_TABLE = 60;

const KINDS: readonly AlertKind[] = ['burn_rate', 'segment', 'heartbeat', 'release_regression'];

/** A ClickHouse string literal (journey names are validated, but quote properly anyway). */
function literal(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export class ClickHouseHistory implements HistorySource {
  constructor(private readonly config: SloClickHouseConfig) {}

  async loadSli(sinceMs: number, journeys: readonly string[], coarser?: CoarserHistory): Promise<SliWindow[]> {
    if (journeys.length === 0) return [];
    const since = Math.floor(sinceMs / 1000);
    // The same buckets as historyBucketMs, computed by the server: the bucket's start, in seconds.
    const sec = (ms: number) => Math.floor(ms / 1000);
    const start = 'toUnixTimestamp(window_start)';
    const ws = coarser
      ? `multiIf(window_start >= toDateTime(${sec(coarser.rawFromMs)}), ${start},
                 window_start >= toDateTime(${sec(coarser.nowMs - 12 * 3_600_000)}), intDiv(${start}, 60) * 60,
                 window_start >= toDateTime(${sec(coarser.nowMs - 5 * 86_400_000)}), intDiv(${start}, 600) * 600,
                 intDiv(${start}, 3600) * 3600)`
      : start;
    // `abandoned` only where the table has it: one written before that column must still give its history.
    const abandoned = (await this.hasColumn(this.config.sli_table, 'abandoned')) ? 'sum(abandoned)' : '0';
    const rows = await this.tableQuery(
      `SELECT journey, segment_key, segment_value, ${ws} AS ws, window_seconds,
              sum(attempts) AS attempts, sum(successes) AS successes, sum(failures) AS failures, ${abandoned} AS abandoned_attempts
       FROM ${this.table(this.config.sli_table)} FINAL
       WHERE window_start >= toDateTime(${since}) AND journey IN (${journeys.map(literal).join(', ')})
       GROUP BY journey, segment_key, segment_value, ws, window_seconds`,
    );
    return rows.map((r) => ({
      journey: String(r['journey']),
      windowStartMs: Number(r['ws']) * 1000,
      windowSeconds: Number(r['window_seconds']),
      segmentKey: String(r['segment_key']),
      segmentValue: String(r['segment_value']),
      attempts: Number(r['attempts']),
      successes: Number(r['successes']),
      failures: Number(r['failures']),
      abandoned: Number(r['abandoned_attempts']),
      failuresByReason: {},
      latencyBoundsMs: [],
      latencyCounts: [],
      latencySumMs: 0,
    }));
  }

  async loadFiringAlerts(sinceMs: number): Promise<RestoredAlert[]> {
    const since = Math.floor(sinceMs / 1000);
    // The last event per fingerprint; on a tie in the same second, a resolved event wins. The aliases are not
    // column names: ClickHouse resolves a name to an alias of the same query first, so `… AS status` would turn the
    // `status` inside the other argMax calls into a nested aggregate (ILLEGAL_AGGREGATION on current servers).
    const last = "tuple(event_time, status = 'resolved')";
    // starts_at_ms keeps the milliseconds of the events already sent; rows written before that column existed
    // have 0 there, and a table not yet given the column (another writer's, an older Pulse) has only starts_at.
    const startsAtMs = (await this.hasColumn(this.config.alerts_table, 'starts_at_ms')) ? `argMax(starts_at_ms, ${last})` : '0';
    const rows = await this.tableQuery(
      `SELECT fingerprint, argMax(journey, ${last}) AS last_journey, argMax(kind, ${last}) AS last_kind,
              argMax(severity, ${last}) AS last_severity, argMax(status, ${last}) AS last_status,
              argMax(segment_key, ${last}) AS last_segment_key, argMax(segment_value, ${last}) AS last_segment_value,
              toUnixTimestamp(argMax(starts_at, ${last})) AS last_starts_at, ${startsAtMs} AS last_starts_at_ms,
              toUnixTimestamp(max(event_time)) AS last_event
       FROM ${this.table(this.config.alerts_table)} FINAL
       WHERE event_time >= toDateTime(${since})
       GROUP BY fingerprint`,
    );
    const out: RestoredAlert[] = [];
    for (const r of rows) {
      const kind = String(r['last_kind']) as AlertKind;
      if (r['last_status'] !== 'firing' || !KINDS.includes(kind)) continue;
      const key = String(r['last_segment_key'] ?? '');
      out.push({
        fingerprint: String(r['fingerprint']),
        journey: String(r['last_journey']),
        kind,
        severity: (r['last_severity'] === 'page' ? 'page' : 'ticket') satisfies AlertSeverity,
        segment: key === '' ? undefined : { key, value: String(r['last_segment_value'] ?? '') },
        startsAtMs: Number(r['last_starts_at_ms']) > 0 ? Number(r['last_starts_at_ms']) : Number(r['last_starts_at']) * 1000,
        lastEventMs: Number(r['last_event']) * 1000,
      });
    }
    return out;
  }

  async loadAttempts(fromSec: number, toSec: number, journeys: readonly string[], limit: number): Promise<{ records: AttemptRecord[]; more: boolean }> {
    if (journeys.length === 0 || limit <= 0 || toSec <= fromSec) return { records: [], more: false };
    const rows = await this.tableQuery(
      `SELECT row_id, journey, toString(start_time) AS start, trace_id, start_span_id, duration_ms, outcome, reasons,
              segment_keys, segment_values, services, service_versions, failing_step, failing_service, failing_version,
              decided_by, toUnixTimestamp(decided_at) AS decided
       FROM ${this.table(this.config.attempts_table)}
       WHERE decided_at >= toDateTime(${Math.floor(fromSec)}) AND decided_at < toDateTime(${Math.floor(toSec)})
         AND start_time >= toDateTime(${Math.floor(fromSec) - MAX_ATTEMPT_AGE_SEC}) AND journey IN (${journeys.map(literal).join(', ')})
       ORDER BY decided_at DESC
       LIMIT ${limit + 1}`,
    );
    const more = rows.length > limit;
    const seen = new Set<string>();
    const records: AttemptRecord[] = [];
    for (const r of more ? rows.slice(0, limit) : rows) {
      // A row written twice (an exporter retry) has one row_id; until ClickHouse merges them both are there.
      const id = String(r['row_id']);
      if (seen.has(id)) continue;
      seen.add(id);
      records.push(attemptOf(r));
    }
    return { records, more };
  }

  private table(name: string): string {
    return `\`${this.config.database}\`.\`${name}\``;
  }

  /** Whether `table` has `column`: one written by an older Pulse may lack it, and must still give its history. */
  private async hasColumn(table: string, column: string): Promise<boolean> {
    const found = await this.query(
      `SELECT name FROM system.columns WHERE database = ${literal(this.config.database)} AND table = ${literal(table)} AND name = ${literal(column)}`,
    );
    return found.length > 0;
  }

  /**
   * `query` of one of the journey tables, where a table that does not exist yet reads as empty: the gateways'
   * exporters create them with their first rows, and an evaluator whose alerts go to Kafka only never creates
   * `journey_alerts`. Nothing to rebuild from is not a reason to stop evaluating.
   */
  private async tableQuery(sql: string): Promise<Array<Record<string, unknown>>> {
    try {
      return await this.query(sql);
    } catch (err) {
      // The code as 18.16 (`Code: 60, e.displayText() = …`) and current releases (`Code: 60. DB::Exception: …`) word it.
      if (err instanceof PulseError && clickHouseCode(err) === UNKNOWN_TABLE) return [];
      throw err;
    }
  }

  private async query(sql: string): Promise<Array<Record<string, unknown>>> {
    const url = new URL(this.config.endpoint);
    url.searchParams.set('database', this.config.database);
    url.searchParams.set('default_format', 'JSONEachRow');
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        body: sql,
        headers: { 'X-ClickHouse-User': this.config.username, 'X-ClickHouse-Key': this.config.password },
        signal: AbortSignal.timeout(this.config.timeout),
      });
    } catch (err) {
      throw new PulseError('PULSE_ERR_SLO_HISTORY', `ClickHouse at ${this.config.endpoint} is unreachable: ${errorMessage(err)}`, { cause: err });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new PulseError('PULSE_ERR_SLO_HISTORY', `ClickHouse at ${this.config.endpoint} answered ${response.status}: ${text.slice(0, 300).trim()}`);
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** An attempt row back as the record the slo engine reads (src/exporters/clickhouse/rows.ts writes it). */
function attemptOf(r: Record<string, unknown>): AttemptRecord {
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const keys = strings(r['segment_keys']);
  const values = strings(r['segment_values']);
  const segments: Record<string, string> = {};
  for (let i = 0; i < keys.length; i++) segments[keys[i]!] = values[i] ?? '';
  const names = strings(r['services']);
  const versions = strings(r['service_versions']);
  const services: ServiceVersion[] = names.map((service, i) => ({ service, version: versions[i] ?? '' }));
  const step = String(r['failing_step'] ?? '');
  // `start_time` is DateTime64(3) or, on servers before 20.1, DateTime: "YYYY-MM-DD hh:mm:ss[.fff]" in UTC.
  const startMs = Date.parse(`${String(r['start']).replace(' ', 'T')}Z`);
  const decidedBy = String(r['decided_by']);
  return {
    journey: String(r['journey']),
    traceId: hexToId(String(r['trace_id'])) ?? '',
    startSpanId: hexToId(String(r['start_span_id'])) ?? '',
    startTimeUnixNano: BigInt(Number.isFinite(startMs) ? startMs : 0) * 1_000_000n,
    durationMs: Number(r['duration_ms']),
    outcome: r['outcome'] === 'failure' ? 'failure' : 'success',
    reasons: strings(r['reasons']),
    signals: [],
    segments,
    services,
    failingStep: step === '' ? undefined : { step, service: String(r['failing_service'] ?? ''), version: String(r['failing_version'] ?? '') },
    spans: [],
    decidedBy: decidedBy === 'timeout' || decidedBy === 'evicted' || decidedBy === 'flush' ? decidedBy : 'complete',
    decidedAtMs: Number(r['decided']) * 1000,
  };
}
