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
 *
 * Text is written as well-formed UTF-8: a lone UTF-16 surrogate (which OTLP/JSON can carry into a segment value, a
 * service name or version, a step name, an alert summary) becomes U+FFFD. Written as the JSON escape `\ud83d`,
 * ClickHouse refuses it ("missing second part of surrogate pair", code 25) — and with it every row of the INSERT,
 * which may hold merged batches of unrelated journeys.
 */
import * as crypto from 'node:crypto';
import type { AlertEvent } from '../../alerts/model.js';
import type { AttemptRecord, SliWindow } from '../../journeys/model.js';
import { stringifyWellFormed, type ItemCodec } from '../exporterhelper/index.js';

/**
 * Rows encoded as JSONEachRow (each line ends with `\n`), ready to be the body of an INSERT: the pieces one after
 * the other. One piece per encoded batch; merged batches keep their pieces (joining them would copy megabytes per
 * INSERT), and so does the persistent queue's file.
 */
export interface RowBatch {
  readonly rows: number;
  readonly bodies: readonly Buffer[];
}

/** A batch's INSERT body as one buffer (tests, diagnostics; the exporter streams the pieces). */
export function rowBatchBody(b: RowBatch): Buffer {
  return b.bodies.length === 1 ? b.bodies[0]! : Buffer.concat(b.bodies);
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
 * (JSON.stringify cannot write a 64-bit integer). Two ways in: `add` stringifies a row object (lone surrogates as
 * U+FFFD: `stringifyWellFormed`) and writes it as UTF-8 at once, its opening `{` overwritten with the `,` after the id (the rare rows: SLI windows, alerts);
 * `beginRow`, `key`, `string`, … write a row field by field with no object or string in between (attempt rows,
 * one per decided attempt). Either way no per-row slice or concatenation, and no thousands-of-pieces string to
 * flatten and transcode at the end.
 */
class RowWriter {
  // Encoding is synchronous, so one scratch buffer serves every batch; only the finished body is allocated.
  private buf: Buffer = scratch;
  private pos = 0;
  private rows = 0;

  add(id: string, row: object): void {
    const json = stringifyWellFormed(row);
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

  // Field by field (attempt rows). Each write makes room for its worst case first: 6 bytes per UTF-16 unit of a
  // string (a `\u00XX` escape), 2 per byte of an id, 32 for a number.

  beginRow(id: string): void {
    this.room(11 + id.length);
    let pos = this.pos;
    pos += (this.buf as unknown as FastWriter).latin1Write('{"row_id":', pos);
    this.pos = pos + (this.buf as unknown as FastWriter).latin1Write(id, pos);
  }

  endRow(): void {
    this.room(2);
    this.buf[this.pos++] = 0x7d; // }
    this.buf[this.pos++] = 0x0a;
    this.rows++;
  }

  /** Writes a pre-encoded `,"name":`. */
  key(bytes: Buffer): this {
    this.room(bytes.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[pos++] = bytes[i]!;
    this.pos = pos;
    return this;
  }

  open(): this {
    this.room(1);
    this.buf[this.pos++] = 0x5b; // [
    return this;
  }

  close(): this {
    this.room(1);
    this.buf[this.pos++] = 0x5d; // ]
    return this;
  }

  /** The `,` before item `i` of a list (none before the first). */
  sep(i: number): this {
    if (i > 0) {
      this.room(1);
      this.buf[this.pos++] = 0x2c;
    }
    return this;
  }

  /** A JSON string, escaped as `JSON.stringify` escapes it, as UTF-8; a lone surrogate as U+FFFD (EF BF BD). */
  string(s: string): this {
    this.room(2 + 6 * s.length);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x80) {
        if (c === 0x22 || c === 0x5c) buf[pos++] = 0x5c;
        buf[pos++] = c;
      } else if (c < 0x20) {
        pos = writeControlEscape(buf, pos, c);
      } else if (c < 0x800) {
        buf[pos++] = 0xc0 | (c >> 6);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          buf[pos++] = 0xf0 | (cp >> 18);
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[pos++] = 0x80 | (cp & 0x3f);
          i++;
        } else {
          // A lone surrogate: JSON.stringify would write `\udXXX`, which ClickHouse refuses with the whole INSERT.
          buf[pos++] = 0xef;
          buf[pos++] = 0xbf;
          buf[pos++] = 0xbd;
        }
      } else {
        buf[pos++] = 0xe0 | (c >> 12);
        buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
        buf[pos++] = 0x80 | (c & 0x3f);
      }
    }
    buf[pos++] = 0x22;
    this.pos = pos;
    return this;
  }

  strings(list: readonly string[]): this {
    this.open();
    for (let i = 0; i < list.length; i++) this.sep(i).string(list[i]!);
    return this.close();
  }

  /** A binary id (see core/model.ts) as a JSON string of lowercase hex. */
  hexId(id: string): this {
    this.room(2 + 2 * id.length);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x22;
    for (let i = 0; i < id.length; i++) {
      const b = id.charCodeAt(i) & 0xff;
      buf[pos++] = HEX_DIGITS[b >> 4]!;
      buf[pos++] = HEX_DIGITS[b & 0x0f]!;
    }
    buf[pos++] = 0x22;
    this.pos = pos;
    return this;
  }

  /** A number as JSON writes it; a non-finite one as 0 (see `finite`). */
  number(n: number): this {
    this.room(32);
    const buf = this.buf;
    let pos = this.pos;
    if (n >= 0 && n < 1e9 && n === (n | 0)) {
      // Small non-negative integers (status codes, whole milliseconds): digits without a string.
      if (n === 0) buf[pos++] = 0x30;
      else {
        let digits = 1;
        for (let v = n; v >= 10; v = (v / 10) | 0) digits++;
        for (let at = pos + digits - 1, v = n; at >= pos; at--, v = (v / 10) | 0) buf[at] = 0x30 + (v % 10);
        pos += digits;
      }
    } else {
      const text = String(finite(n));
      for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    }
    this.pos = pos;
    return this;
  }

  private room(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  finish(): RowBatch {
    // A copy of exactly the bytes written: the batch may sit in a queue, and must not pin the spare capacity.
    return { rows: this.rows, bodies: [Buffer.from(this.buf.subarray(0, this.pos))] };
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

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** `\b \t \n \f \r` by name, other control characters as `\u00XX`, as JSON.stringify writes them. */
function writeControlEscape(buf: Buffer, pos: number, c: number): number {
  const named = c === 0x08 ? 0x62 : c === 0x09 ? 0x74 : c === 0x0a ? 0x6e : c === 0x0c ? 0x66 : c === 0x0d ? 0x72 : 0;
  if (named === 0) return writeUnicodeEscape(buf, pos, c);
  buf[pos++] = 0x5c;
  buf[pos++] = named;
  return pos;
}

/** `\uXXXX`, lowercase hex. */
function writeUnicodeEscape(buf: Buffer, pos: number, c: number): number {
  buf[pos++] = 0x5c;
  buf[pos++] = 0x75;
  buf[pos++] = HEX_DIGITS[(c >> 12) & 0xf]!;
  buf[pos++] = HEX_DIGITS[(c >> 8) & 0xf]!;
  buf[pos++] = HEX_DIGITS[(c >> 4) & 0xf]!;
  buf[pos++] = HEX_DIGITS[c & 0xf]!;
  return pos;
}

/** Node's Buffer write methods that @types/node does not declare (the documented `buf.write` parses its arguments). */
interface FastWriter {
  latin1Write(s: string, offset: number): number;
  utf8Write(s: string, offset: number): number;
}

/**
 * Attempt rows are the one row kind written at the rate of traffic (one per decided attempt), so they are written
 * field by field straight into the buffer: no row object, no arrays mapped out of the record, no JSON string — the
 * bytes are the ones `stringifyWellFormed` of the row object would give (the tests compare the two on awkward text).
 */
export function encodeAttempts(records: readonly AttemptRecord[], precision: TimePrecision): RowBatch {
  const out = new RowWriter();
  for (const r of records) {
    const startMs = Number(r.startTimeUnixNano / 1_000_000n);
    const spans = r.spans;
    out.beginRow(attemptRowId(r.journey, r.traceId, r.startSpanId));
    out.key(K.journey).string(r.journey);
    out.key(K.start_time).string(precision === 'millis' ? utcMillis(startMs) : startSeconds.format(startMs));
    out.key(K.trace_id).hexId(r.traceId);
    out.key(K.start_span_id).hexId(r.startSpanId);
    out.key(K.duration_ms).number(r.durationMs);
    out.key(K.outcome).string(r.outcome);
    out.key(K.reasons).strings(r.reasons);
    out.key(K.signals).strings(r.signals);
    out.key(K.segment_keys).open();
    let n = 0;
    for (const k in r.segments) out.sep(n++).string(k);
    out.close().key(K.segment_values).open();
    n = 0;
    for (const k in r.segments) out.sep(n++).string(r.segments[k]!);
    out.close().key(K.services).open();
    for (let i = 0; i < r.services.length; i++) out.sep(i).string(r.services[i]!.service);
    out.close().key(K.service_versions).open();
    for (let i = 0; i < r.services.length; i++) out.sep(i).string(r.services[i]!.version);
    out.close();
    out.key(K.failing_step).string(r.failingStep?.step ?? '');
    out.key(K.failing_service).string(r.failingStep?.service ?? '');
    out.key(K.failing_version).string(r.failingStep?.version ?? '');
    out.key(K.span_steps).open();
    for (let i = 0; i < spans.length; i++) out.sep(i).string(spans[i]!.step);
    out.close().key(K.span_services).open();
    for (let i = 0; i < spans.length; i++) out.sep(i).string(spans[i]!.service);
    out.close().key(K.span_status_codes).open();
    for (let i = 0; i < spans.length; i++) out.sep(i).number(spans[i]!.statusCode);
    out.close().key(K.span_durations_ms).open();
    for (let i = 0; i < spans.length; i++) out.sep(i).number(spans[i]!.durationMs);
    out.close();
    out.key(K.decided_by).string(r.decidedBy);
    out.key(K.decided_at).string(decidedSeconds.format(r.decidedAtMs));
    out.endRow();
  }
  return out.finish();
}

/** The columns of an attempt row, in the order they are written. */
const ATTEMPT_COLUMNS = [
  'journey', 'start_time', 'trace_id', 'start_span_id', 'duration_ms', 'outcome', 'reasons', 'signals', 'segment_keys',
  'segment_values', 'services', 'service_versions', 'failing_step', 'failing_service', 'failing_version', 'span_steps',
  'span_services', 'span_status_codes', 'span_durations_ms', 'decided_by', 'decided_at',
] as const;

/** `,"<column>":` as bytes, for every column of an attempt row (all ASCII). */
const K = Object.fromEntries(ATTEMPT_COLUMNS.map((name) => [name, Buffer.from(`,"${name}":`, 'latin1')])) as Record<
  (typeof ATTEMPT_COLUMNS)[number],
  Buffer
>;

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
      abandoned: w.abandoned,
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
      starts_at_ms: Math.max(0, Math.round(e.startsAtMs)),
      ends_at: e.endsAtMs === undefined ? null : utcSeconds(e.endsAtMs),
      objective_target: finite(e.objective.target),
      objective_window_seconds: Math.round(e.objective.windowMs / 1000),
      error_budget_remaining: finite(e.errorBudgetRemaining),
      burn_rate_windows: e.burnRates.map((b) => b.window),
      burn_rates: e.burnRates.map((b) => finite(b.burnRate)),
      burn_rate_thresholds: e.burnRates.map((b) => finite(b.threshold)),
      attempts: e.attempts,
      failures: e.failures,
      // JSON in a String column: its own lone surrogates as U+FFFD too, or a reader parsing it would get them back.
      suspects: stringifyWellFormed(e.suspects),
      release: e.release === undefined ? '' : stringifyWellFormed(e.release),
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
  return { rows, bodies: batches.flatMap((b) => b.bodies) };
}

/**
 * Where each row of a batch lies: row `i` is bytes [`start[i]`, `end[i]`) of piece `piece[i]`, its `\n` included.
 * A row ends at the first `\n`: JSON escapes a newline inside a string, so the byte appears only between rows.
 */
export interface RowIndex {
  readonly batch: RowBatch;
  readonly rows: number;
  readonly piece: Uint32Array;
  readonly start: Uint32Array;
  readonly end: Uint32Array;
}

export function indexRows(batch: RowBatch): RowIndex {
  let rows = 0;
  for (const body of batch.bodies) for (let at = body.indexOf(0x0a); at !== -1; at = body.indexOf(0x0a, at + 1)) rows++;
  const piece = new Uint32Array(rows);
  const start = new Uint32Array(rows);
  const end = new Uint32Array(rows);
  let i = 0;
  batch.bodies.forEach((body, p) => {
    for (let from = 0, at = body.indexOf(0x0a); at !== -1; from = at + 1, at = body.indexOf(0x0a, from)) {
      piece[i] = p;
      start[i] = from;
      end[i++] = at + 1;
    }
  });
  return { batch, rows, piece, start, end };
}

/** Rows [from, to) of an indexed batch (to > from), as views into its pieces: nothing is copied. */
export function rowsOf(index: RowIndex, from: number, to: number): RowBatch {
  const { batch, piece, start, end } = index;
  const bodies: Buffer[] = [];
  for (let p = piece[from]!; p <= piece[to - 1]!; p++) {
    const body = batch.bodies[p]!;
    bodies.push(body.subarray(p === piece[from] ? start[from] : 0, p === piece[to - 1] ? end[to - 1] : body.length));
  }
  return { rows: to - from, bodies };
}

/** Disk format of a queued batch: a version byte, the row count (uint32 BE), then the JSONEachRow body as is. */
const CODEC_VERSION = 1;
const HEADER_BYTES = 5;

export const rowBatchCodec: ItemCodec<RowBatch> = {
  // The header and the body as they are: the persistent queue writes the pieces without joining them.
  encode(b) {
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header[0] = CODEC_VERSION;
    header.writeUInt32BE(b.rows, 1);
    return [header, ...b.bodies];
  },
  decode(bytes) {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length < HEADER_BYTES || buf[0] !== CODEC_VERSION) throw new Error(`not a ClickHouse row batch (version ${buf[0] ?? 'none'})`);
    return { rows: buf.readUInt32BE(1), bodies: [buf.subarray(HEADER_BYTES)] };
  },
};

/** Bytes a queued batch holds in memory (for `sending_queue.max_bytes`): the body plus a small constant. */
export function rowBatchSize(b: RowBatch): number {
  let bytes = 64;
  for (const body of b.bodies) bytes += body.length;
  return bytes;
}
