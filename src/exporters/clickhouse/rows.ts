/**
 * Records → ClickHouse rows, encoded once, when the exporter accepts them (`consume()`), as JSONEachRow text: one
 * JSON object per line. The encoded `RowBatch` is what the queue holds, what the persistent queue writes to disk and
 * what an INSERT sends, so a batch re-sent after a timeout, a crash or a restart is byte-for-byte the batch that
 * may already have landed — with the same `row_id`s, which ReplacingMergeTree collapses.
 *
 * Row ids (UInt64: the first 8 bytes of an MD5, written as a JSON integer so no precision is lost):
 * - attempt: hash(journey, trace id, start span id) — the attempt's identity, so the same attempt decided again
 *   (e.g. its spans re-sent after a Pulse restart) is still one row;
 * - SLI row: hash(process instance id, per-process sequence number, journey, window, segment key, value) — SLI
 *   rows are partial and must all count, so two rows with equal contents (another instance, a late re-emission)
 *   get different ids; only a re-send of the *same* encoded row repeats its id;
 * - alert event: hash(event id).
 * MD5 is used as a well-mixed hash, not for security; 64 bits inside one (journey, time) sorting prefix make an
 * accidental collision negligible.
 */
import * as crypto from 'node:crypto';
import type { AlertEvent } from '../../alerts/model.js';
import { idToHex } from '../../core/model.js';
import type { AttemptRecord, SliWindow } from '../../journeys/model.js';
import type { ItemCodec } from '../exporterhelper/index.js';

/** Rows encoded as JSONEachRow (each line ends with `\n`), ready to be the body of an INSERT. */
export interface RowBatch {
  readonly rows: number;
  readonly body: Buffer;
}

/** How `journey_attempts.start_time` is written: seconds for a DateTime column, milliseconds for DateTime64. */
export type TimePrecision = 'seconds' | 'millis';

/** Chosen once per process: SLI row ids of two Pulse processes (or two runs of one) never meet. */
const INSTANCE_ID = crypto.randomBytes(16).toString('hex');
let sliSequence = 0;

// crypto.hash (one-shot, ~3× faster than createHash for short inputs) exists from Node 20.12 and engines allow 20.6,
// hence the namespace import (a named import of a missing export would fail to link) and the fallback.
const md5Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('md5', text, 'hex')
    : (text) => crypto.createHash('md5').update(text).digest('hex');

/** The row id for `key`: the first 64 bits of its MD5, as decimal text (a JSON integer literal). */
export function rowId(key: string): string {
  return BigInt('0x' + md5Hex(key).slice(0, 16)).toString();
}

/** The id of an attempt's row: the same attempt always gets the same id. */
export function attemptRowId(journey: string, traceId: string, startSpanId: string): string {
  return rowId(`a\0${journey}\0${traceId}\0${startSpanId}`);
}

/**
 * `YYYY-MM-DD hh:mm:ss` (UTC) — the text every DateTime('UTC') and DateTime64('UTC') column accepts. Formatting a
 * Date costs ~0.4 µs, and the rows of one batch mostly share the second of a column, so each column's formatter
 * remembers its last second.
 */
class UtcSeconds {
  private second = NaN;
  private text = '';
  format(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.second) {
      const iso = new Date(second * 1000).toISOString();
      this.second = second;
      this.text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
    }
    return this.text;
  }
}
const startSeconds = new UtcSeconds();
const decidedSeconds = new UtcSeconds();
const otherSeconds = new UtcSeconds();
const utcSeconds = (ms: number): string => otherSeconds.format(ms);

/** `YYYY-MM-DD hh:mm:ss.mmm` (UTC), for DateTime64(3) columns. */
function utcMillis(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** JSON numbers must be finite; ClickHouse rejects `null` in a Float64 column. */
function finite(n: number): number {
  return Number.isFinite(n) ? n : 0;
}

/**
 * Builds a JSONEachRow body row by row straight into one buffer: `{"row_id":<id>,…}\n`, the id an integer literal
 * (JSON.stringify cannot write a 64-bit integer). Each row's object is stringified and written as UTF-8 at once,
 * then its opening `{` is overwritten with the `,` after the id: no per-row slice or concatenation, and no
 * thousands-of-pieces string to flatten and transcode at the end (measured: ~30% of encoding an attempt row).
 */
class RowWriter {
  // Encoding is synchronous, so one scratch buffer serves every batch; only the finished body is allocated.
  private buf: Buffer = scratch;
  private pos = 0;
  private rows = 0;

  add(id: string, row: object): void {
    const json = JSON.stringify(row);
    // Worst case: 3 UTF-8 bytes per UTF-16 unit of the JSON, `{"row_id":` (10), the id, `\n`.
    const need = 11 + id.length + json.length * 3;
    if (this.pos + need > this.buf.length) this.grow(need);
    const buf = this.buf;
    const w = buf as unknown as FastWriter;
    let pos = this.pos;
    pos += w.latin1Write('{"row_id":', pos);
    pos += w.latin1Write(id, pos);
    const at = pos;
    pos += w.utf8Write(json, pos);
    buf[at] = 0x2c; // the row's `{` becomes the `,` after the id
    buf[pos++] = 0x0a;
    this.pos = pos;
    this.rows++;
  }

  finish(): RowBatch {
    // A copy of exactly the bytes written: the batch may sit in a queue, and must not pin the spare capacity.
    return { rows: this.rows, body: Buffer.from(this.buf.subarray(0, this.pos)) };
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + need));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
    if (bigger.length <= MAX_KEPT_SCRATCH_BYTES) scratch = bigger;
  }
}

/** The scratch buffer rows are written into; `grow` replaces it, up to 4 MiB (a bigger batch grows a buffer of its own). */
const MAX_KEPT_SCRATCH_BYTES = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(256 * 1024);

/** Node's Buffer write methods that @types/node does not declare (the documented `buf.write` parses its arguments). */
interface FastWriter {
  latin1Write(s: string, offset: number): number;
  utf8Write(s: string, offset: number): number;
}

export function encodeAttempts(records: readonly AttemptRecord[], precision: TimePrecision): RowBatch {
  const out = new RowWriter();
  for (const r of records) {
    const startMs = Number(r.startTimeUnixNano / 1_000_000n);
    const segmentKeys = Object.keys(r.segments);
    const spans = r.spans;
    out.add(attemptRowId(r.journey, r.traceId, r.startSpanId), {
      journey: r.journey,
      start_time: precision === 'millis' ? utcMillis(startMs) : startSeconds.format(startMs),
      trace_id: idToHex(r.traceId),
      start_span_id: idToHex(r.startSpanId),
      duration_ms: finite(r.durationMs),
      outcome: r.outcome,
      reasons: r.reasons,
      signals: r.signals,
      segment_keys: segmentKeys,
      segment_values: segmentKeys.map((k) => r.segments[k]!),
      services: r.services.map((s) => s.service),
      service_versions: r.services.map((s) => s.version),
      failing_step: r.failingStep?.step ?? '',
      failing_service: r.failingStep?.service ?? '',
      failing_version: r.failingStep?.version ?? '',
      span_steps: spans.map((s) => s.step),
      span_services: spans.map((s) => s.service),
      span_status_codes: spans.map((s) => s.statusCode),
      span_durations_ms: spans.map((s) => finite(s.durationMs)),
      decided_by: r.decidedBy,
      decided_at: decidedSeconds.format(r.decidedAtMs),
    });
  }
  return out.finish();
}

/** Encodes SLI rows, giving each a new id from this process's instance id and sequence. */
export function encodeSliWindows(rows: readonly SliWindow[]): RowBatch {
  const out = new RowWriter();
  for (const w of rows) {
    const id = rowId(`s\0${INSTANCE_ID}\0${++sliSequence}\0${w.journey}\0${w.windowStartMs}\0${w.segmentKey}\0${w.segmentValue}`);
    const reasons = Object.keys(w.failuresByReason);
    out.add(id, {
      window_start: utcSeconds(w.windowStartMs),
      window_seconds: w.windowSeconds,
      journey: w.journey,
      segment_key: w.segmentKey,
      segment_value: w.segmentValue,
      attempts: w.attempts,
      successes: w.successes,
      failures: w.failures,
      failure_reasons: reasons,
      failure_reason_counts: reasons.map((k) => w.failuresByReason[k]!),
      latency_bounds_ms: w.latencyBoundsMs,
      latency_counts: w.latencyCounts,
      latency_sum_ms: finite(w.latencySumMs),
    });
  }
  return out.finish();
}

export function encodeAlerts(events: readonly AlertEvent[]): RowBatch {
  const out = new RowWriter();
  for (const e of events) {
    out.add(rowId(`e\0${e.id}`), {
      event_id: e.id,
      event_time: utcSeconds(e.eventTimeMs),
      fingerprint: e.fingerprint,
      journey: e.journey,
      kind: e.kind,
      severity: e.severity,
      status: e.status,
      repeat: e.repeat ? 1 : 0,
      segment_key: e.segment?.key ?? '',
      segment_value: e.segment?.value ?? '',
      starts_at: utcSeconds(e.startsAtMs),
      ends_at: e.endsAtMs === undefined ? null : utcSeconds(e.endsAtMs),
      objective_target: finite(e.objective.target),
      objective_window_seconds: Math.round(e.objective.windowMs / 1000),
      error_budget_remaining: finite(e.errorBudgetRemaining),
      burn_rate_windows: e.burnRates.map((b) => b.window),
      burn_rates: e.burnRates.map((b) => finite(b.burnRate)),
      burn_rate_thresholds: e.burnRates.map((b) => finite(b.threshold)),
      attempts: e.attempts,
      failures: e.failures,
      suspects: JSON.stringify(e.suspects),
      release: e.release === undefined ? '' : JSON.stringify(e.release),
      exemplar_trace_ids: e.exemplarTraceIds,
      owner: e.owner,
      runbook: e.runbook,
      summary: e.summary,
    });
  }
  return out.finish();
}

export function mergeRowBatches(batches: RowBatch[]): RowBatch {
  let rows = 0;
  for (const b of batches) rows += b.rows;
  return { rows, body: Buffer.concat(batches.map((b) => b.body)) };
}

/** Disk format of a queued batch: a version byte, the row count (uint32 BE), then the JSONEachRow body as is. */
const CODEC_VERSION = 1;
const HEADER_BYTES = 5;

export const rowBatchCodec: ItemCodec<RowBatch> = {
  encode(b) {
    const out = Buffer.allocUnsafe(HEADER_BYTES + b.body.length);
    out[0] = CODEC_VERSION;
    out.writeUInt32BE(b.rows, 1);
    b.body.copy(out, HEADER_BYTES);
    return out;
  },
  decode(bytes) {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length < HEADER_BYTES || buf[0] !== CODEC_VERSION) throw new Error(`not a ClickHouse row batch (version ${buf[0] ?? 'none'})`);
    return { rows: buf.readUInt32BE(1), body: buf.subarray(HEADER_BYTES) };
  },
};

/** Bytes a queued batch holds in memory (for `sending_queue.max_bytes`): the body plus a small constant. */
export function rowBatchSize(b: RowBatch): number {
  return b.body.length + 64;
}
