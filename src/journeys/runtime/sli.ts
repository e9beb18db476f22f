/**
 * SLI windows: decided attempts aggregated per journey × segment dimension × segment value × window, by event
 * time (the start span's start), into `SliWindow` rows.
 *
 * - Every attempt counts in the journey's all-traffic row (`segmentKey: ''`) and, for each segment dimension of
 *   its journey, in the row of its value. An attempt without a value for a dimension counts under
 *   `__unset__`, so the rows of each dimension sum to the all-traffic row.
 * - Latency is the start span's duration, counted in a histogram with FIXED bounds (`LATENCY_BOUNDS_MS`,
 *   1 ms · 2^k up to 65.5 s, plus an overflow count), identical for every row and every instance, so rows sum.
 * - `failuresByReason` counts each reason of each failed attempt (an attempt may have several reasons, so these
 *   can sum to more than `failures`).
 * - `abandoned` counts the attempts that started in the window and were dropped undecided (`addAbandoned`): not in
 *   `attempts`, in the same rows (all-traffic, and the value of each dimension) as a decided attempt would be.
 * - Rows are partial and summable. A window is emitted once the clock passes its end + `allowedLatenessMs`, and
 *   forgotten. An attempt for a window already emitted starts that window again: it is emitted at the next tick
 *   as another partial row, and counted (`events.lateAttempt`).
 * - Cardinality guard per (journey, dimension): the first `maxSegmentValues` distinct values seen since start
 *   keep their own rows; later new values fold into `__other__` (counted, `events.folded`). `__unset__` and
 *   `__other__` do not use up the budget.
 * - Memory: at most `maxOpenWindows` windows are held; beyond that the oldest is emitted early (still correct,
 *   rows are partial), which bounds the cost of attempts with wild timestamps.
 */
import type { AttemptRecord, CompiledJourney, SliWindow } from '../model.js';
import type { SpanRecord } from './span-record.js';
import { segmentsOf } from './attempt-record.js';

/** Upper bounds of the latency buckets in ms: 1, 2, 4, … 65536. Shared by every row so rows from anywhere sum. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze(Array.from({ length: 17 }, (_, k) => 2 ** k));
export const OTHER_SEGMENT_VALUE = '__other__';
export const UNSET_SEGMENT_VALUE = '__unset__';
/** Windows held at most before the oldest is emitted early. */
export const MAX_OPEN_WINDOWS = 64;

export interface SliOptions {
  readonly windowMs: number;
  readonly allowedLatenessMs: number;
  readonly maxSegmentValues: number;
  readonly maxOpenWindows?: number;
}

export interface SliEvents {
  lateAttempt(journey: string): void;
  folded(journey: string, dimension: string): void;
}

/** The bucket of a latency: the first bound it does not exceed, or the overflow bucket. */
export function latencyBucket(ms: number): number {
  const bounds = LATENCY_BOUNDS_MS;
  let i = ms <= 1 ? 0 : Math.min(bounds.length, Math.ceil(Math.log2(ms)));
  // Guard against floating-point rounding of log2 at exact powers of two.
  while (i > 0 && ms <= bounds[i - 1]!) i--;
  while (i < bounds.length && ms > bounds[i]!) i++;
  return i;
}

class Row {
  attempts = 0;
  successes = 0;
  failures = 0;
  abandoned = 0;
  reasons: Map<string, number> | undefined = undefined;
  readonly counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  sumMs = 0;

  add(record: AttemptRecord, bucket: number): void {
    this.attempts++;
    if (record.outcome === 'success') this.successes++;
    else {
      this.failures++;
      this.reasons ??= new Map();
      for (const r of record.reasons) this.reasons.set(r, (this.reasons.get(r) ?? 0) + 1);
    }
    this.counts[bucket]!++;
    this.sumMs += record.durationMs;
  }

  toWindow(journey: string, windowStartMs: number, windowSeconds: number, segmentKey: string, segmentValue: string): SliWindow {
    return {
      journey,
      windowStartMs,
      windowSeconds,
      segmentKey,
      segmentValue,
      attempts: this.attempts,
      successes: this.successes,
      failures: this.failures,
      abandoned: this.abandoned,
      failuresByReason: this.reasons ? Object.fromEntries(this.reasons) : {},
      latencyBoundsMs: LATENCY_BOUNDS_MS,
      latencyCounts: this.counts,
      latencySumMs: this.sumMs,
    };
  }
}

interface JourneyWindow {
  readonly all: Row;
  /** Dimension → value → row, in the order first seen (definition order). */
  readonly dims: Map<string, Map<string, Row>>;
}

interface Window {
  readonly startMs: number;
  readonly journeys: Map<string, JourneyWindow>;
}

export class SliAggregator {
  private readonly windows = new Map<number, Window>();
  /** Windows pushed out early by the open-window bound, emitted at the next tick. */
  private readonly forced: Window[] = [];
  /** Journey → dimension → values with their own rows. */
  private readonly admitted = new Map<string, Map<string, Set<string>>>();
  /** Windows ending at or before this time have been emitted. */
  private emittedThrough = -Infinity;
  private readonly maxOpenWindows: number;
  /** Scratch for `rowsOf`. */
  private readonly rows: Row[] = [];

  constructor(
    private readonly options: SliOptions,
    private readonly events: SliEvents,
  ) {
    this.maxOpenWindows = options.maxOpenWindows ?? MAX_OPEN_WINDOWS;
  }

  /** Windows currently held (for tests and the pending gauge). */
  get openWindows(): number {
    return this.windows.size + this.forced.length;
  }

  add(journey: CompiledJourney, record: AttemptRecord): void {
    const n = this.rowsOf(journey, Number(record.startTimeUnixNano / 1_000_000n), record.segments);
    const bucket = latencyBucket(record.durationMs);
    const rows = this.rows;
    for (let i = 0; i < n; i++) rows[i]!.add(record, bucket);
  }

  /** An attempt dropped undecided (see `SliWindow.abandoned`): its start span and the other spans it had. */
  addAbandoned(journey: CompiledJourney, start: SpanRecord, others: readonly SpanRecord[]): void {
    const n = this.rowsOf(journey, Number(start.startNs / 1_000_000n), segmentsOf(journey, start, others));
    for (let i = 0; i < n; i++) this.rows[i]!.abandoned++;
  }

  /**
   * Puts the rows an attempt starting at `startMs` with `segments` counts in at the start of `this.rows` (reused,
   * never shrunk) and returns how many: the journey's all-traffic row of its window and one per segment dimension,
   * created when needed.
   */
  private rowsOf(journey: CompiledJourney, startMs: number, segments: Readonly<Record<string, string>>): number {
    const windowMs = this.options.windowMs;
    const windowStartMs = Math.floor(startMs / windowMs) * windowMs;
    if (windowStartMs + windowMs <= this.emittedThrough) this.events.lateAttempt(journey.name);

    let w = this.windows.get(windowStartMs);
    if (w === undefined) {
      w = { startMs: windowStartMs, journeys: new Map() };
      this.windows.set(windowStartMs, w);
      if (this.windows.size > this.maxOpenWindows) this.forceOldest();
    }
    let jw = w.journeys.get(journey.name);
    if (jw === undefined) {
      jw = { all: new Row(), dims: new Map() };
      w.journeys.set(journey.name, jw);
    }
    const out = this.rows;
    out[0] = jw.all;
    let n = 1;
    for (const dim of journey.segments) {
      const value = this.admit(journey.name, dim.name, segments[dim.name]);
      let rows = jw.dims.get(dim.name);
      if (rows === undefined) {
        rows = new Map();
        jw.dims.set(dim.name, rows);
      }
      let row = rows.get(value);
      if (row === undefined) {
        row = new Row();
        rows.set(value, row);
      }
      out[n++] = row;
    }
    return n;
  }

  /** Appends to `out` the rows of every window whose end + allowed lateness is at or before `nowMs`. */
  tick(nowMs: number, out: SliWindow[]): void {
    for (const w of this.forced.splice(0)) this.emit(w, out);
    const through = nowMs - this.options.allowedLatenessMs;
    if (through > this.emittedThrough) this.emittedThrough = through;
    const windowMs = this.options.windowMs;
    for (const [start, w] of this.windows) {
      if (start + windowMs > this.emittedThrough) continue;
      this.windows.delete(start);
      this.emit(w, out);
    }
  }

  /** Appends the rows of every window held, whatever its time (shutdown, end of input). */
  flush(out: SliWindow[]): void {
    for (const w of this.forced.splice(0)) this.emit(w, out);
    const held = [...this.windows.values()].sort((a, b) => a.startMs - b.startMs);
    this.windows.clear();
    for (const w of held) this.emit(w, out);
  }

  private admit(journey: string, dimension: string, value: string | undefined): string {
    if (value === undefined) return UNSET_SEGMENT_VALUE;
    if (value === OTHER_SEGMENT_VALUE) return value;
    let dims = this.admitted.get(journey);
    if (dims === undefined) {
      dims = new Map();
      this.admitted.set(journey, dims);
    }
    let values = dims.get(dimension);
    if (values === undefined) {
      values = new Set();
      dims.set(dimension, values);
    }
    if (values.has(value)) return value;
    if (values.size < this.options.maxSegmentValues) {
      values.add(value);
      return value;
    }
    this.events.folded(journey, dimension);
    return OTHER_SEGMENT_VALUE;
  }

  private forceOldest(): void {
    let oldest: Window | undefined;
    for (const w of this.windows.values()) if (oldest === undefined || w.startMs < oldest.startMs) oldest = w;
    if (oldest === undefined) return;
    this.windows.delete(oldest.startMs);
    this.forced.push(oldest);
  }

  private emit(w: Window, out: SliWindow[]): void {
    const seconds = this.options.windowMs / 1000;
    for (const [journey, jw] of w.journeys) {
      out.push(jw.all.toWindow(journey, w.startMs, seconds, '', ''));
      for (const [dim, rows] of jw.dims) for (const [value, row] of rows) out.push(row.toWindow(journey, w.startMs, seconds, dim, value));
    }
  }
}
