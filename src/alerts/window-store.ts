/**
 * SLI history in memory: per journey, one `TieredCounts` for all traffic (the rows with `segmentKey: ''`) and
 * one per segment key × value, fed by SLI rows (partial rows are simply added: they are summable by design).
 *
 * - **History bound**: every series keeps `historyMs` (the longest window any rule reads, capped by config);
 *   older buckets are trimmed at each evaluation.
 * - **Memory bound**: at most `maxSeries` segment series over all journeys; rows of a new segment value beyond it
 *   are not kept (counted in `droppedRows`). All-traffic series are always kept. A series with no bucket left
 *   after trimming is forgotten.
 * - **Data delay**: SLI rows arrive well after their window (the journeys connector emits a window
 *   `allowed_lateness` after its end). Evaluating up to the wall clock would read the newest seconds as "no
 *   traffic", so each journey has a *data time*: the wall clock minus the delay of the freshest rows (measured as
 *   arrival − window end of the all-traffic rows received since the last evaluation, or a fixed delay). Windows
 *   end at data time. When a journey's traffic stops, its data time keeps following the clock, so the heartbeat
 *   sees the silence.
 */
import type { SliWindow } from '../journeys/model.js';
import { TieredCounts, type Counts } from './tiered-counts.js';

/** `__other__` rows gather folded values: no single segment to alert on. */
export const OTHER_SEGMENT_VALUE = '__other__';

export interface SegmentSeries {
  readonly key: string;
  readonly value: string;
  readonly counts: TieredCounts;
}

export interface JourneySeries {
  readonly all: TieredCounts;
  /**
   * Attempts of all traffic that Pulse dropped undecided (`SliWindow.abandoned`), in the `attempts` of its counts:
   * outcomes nobody knows, which the heartbeat does not read as missing successes.
   */
  readonly abandoned: TieredCounts;
  /** segment key → value → series. */
  readonly segments: Map<string, Map<string, SegmentSeries>>;
  /** Delay of the freshest rows, ms (auto mode); starts at the configured initial delay. */
  delayMs: number;
  /** Smallest delay among rows received since the last evaluation; `undefined` when none arrived. */
  pendingDelayMs: number | undefined;
  /** When rows for this journey first arrived (or history was rebuilt from): heartbeat needs that much coverage. */
  coveredSinceMs: number;
}

export interface WindowStoreOptions {
  readonly historyMs: number;
  readonly maxSeries: number;
  /** `undefined` = measure the delay from the rows; a number = always assume this delay. */
  readonly fixedDelayMs: number | undefined;
  /** The delay assumed before any row arrived (auto mode). */
  readonly initialDelayMs: number;
  /** Delays measured above this are capped (a burst of very late rows must not push evaluation far back). */
  readonly maxDelayMs: number;
}

export class WindowStore {
  private readonly journeys = new Map<string, JourneySeries>();
  private segmentSeries = 0;
  droppedRows = 0;
  private historyMs: number;

  constructor(private readonly options: WindowStoreOptions) {
    this.historyMs = options.historyMs;
  }

  /** Changes the history kept (after a reload changed the rules); applies to series created from now on. */
  setHistory(historyMs: number): void {
    this.historyMs = historyMs;
  }

  get seriesCount(): number {
    return this.segmentSeries + this.journeys.size;
  }

  /** Total buckets held (memory ≈ 24 bytes each). */
  get buckets(): number {
    let n = 0;
    for (const j of this.journeys.values()) {
      n += j.all.buckets + j.abandoned.buckets;
      for (const byValue of j.segments.values()) for (const s of byValue.values()) n += s.counts.buckets;
    }
    return n;
  }

  journey(name: string): JourneySeries | undefined {
    return this.journeys.get(name);
  }

  journeyNames(): IterableIterator<string> {
    return this.journeys.keys();
  }

  /**
   * Adds SLI rows received at `arrivalMs` (wall clock). `measureDelay: false` for rows replayed from history
   * (their arrival says nothing about the pipeline's delay); `coveredSinceMs` then tells from when they cover.
   */
  ingest(rows: readonly SliWindow[], arrivalMs: number, measureDelay = true): void {
    for (const row of rows) {
      const j = this.ensureJourney(row.journey, arrivalMs);
      const spanMs = row.windowSeconds * 1000;
      const failures = row.failures;
      if (row.segmentKey === '') {
        j.all.add(row.windowStartMs, row.attempts, failures, spanMs);
        if (row.abandoned > 0) j.abandoned.add(row.windowStartMs, row.abandoned, 0, spanMs);
        if (measureDelay) {
          const delay = Math.min(this.options.maxDelayMs, Math.max(0, arrivalMs - (row.windowStartMs + spanMs)));
          if (j.pendingDelayMs === undefined || delay < j.pendingDelayMs) j.pendingDelayMs = delay;
        }
        continue;
      }
      let byValue = j.segments.get(row.segmentKey);
      let series = byValue?.get(row.segmentValue);
      if (series === undefined) {
        if (this.segmentSeries >= this.options.maxSeries) {
          this.droppedRows++;
          continue;
        }
        if (byValue === undefined) {
          byValue = new Map();
          j.segments.set(row.segmentKey, byValue);
        }
        series = { key: row.segmentKey, value: row.segmentValue, counts: new TieredCounts(this.historyMs) };
        byValue.set(row.segmentValue, series);
        this.segmentSeries++;
      }
      series.counts.add(row.windowStartMs, row.attempts, failures, spanMs);
    }
  }

  /** Marks history as covering from `sinceMs` for `journey` (after a rebuild from ClickHouse). */
  coverFrom(journey: string, sinceMs: number, nowMs: number): void {
    const j = this.ensureJourney(journey, nowMs);
    if (sinceMs < j.coveredSinceMs) j.coveredSinceMs = sinceMs;
  }

  /** The journey's data time: the wall clock minus the delay of its freshest rows. Folds in delays measured since the last call. */
  dataTime(j: JourneySeries, nowMs: number): number {
    if (this.options.fixedDelayMs !== undefined) return nowMs - this.options.fixedDelayMs;
    if (j.pendingDelayMs !== undefined) {
      j.delayMs = j.pendingDelayMs;
      j.pendingDelayMs = undefined;
    }
    return nowMs - j.delayMs;
  }

  /** Sum over [toMs − windowMs, toMs) of one series. */
  static sum(counts: TieredCounts, toMs: number, windowMs: number, nowMs: number): Counts {
    return counts.sum(toMs - windowMs, toMs, nowMs);
  }

  /** Trims old buckets, forgets empty segment series and journeys no longer defined. */
  trim(nowMs: number, defined: ReadonlySet<string>): void {
    for (const [name, j] of this.journeys) {
      if (!defined.has(name)) {
        for (const byValue of j.segments.values()) this.segmentSeries -= byValue.size;
        this.journeys.delete(name);
        continue;
      }
      j.all.trim(nowMs);
      j.abandoned.trim(nowMs);
      for (const [key, byValue] of j.segments) {
        for (const [value, s] of byValue) {
          s.counts.trim(nowMs);
          if (s.counts.empty) {
            byValue.delete(value);
            this.segmentSeries--;
          }
        }
        if (byValue.size === 0) j.segments.delete(key);
      }
    }
  }

  /** The journey's series, created (covering from `nowMs`) when it has none yet. */
  ensureJourney(name: string, nowMs: number): JourneySeries {
    let j = this.journeys.get(name);
    if (j === undefined) {
      j = {
        all: new TieredCounts(this.historyMs),
        abandoned: new TieredCounts(this.historyMs),
        segments: new Map(),
        delayMs: this.options.fixedDelayMs ?? this.options.initialDelayMs,
        pendingDelayMs: undefined,
        coveredSinceMs: nowMs,
      };
      this.journeys.set(name, j);
    }
    return j;
  }
}
