/**
 * Attempts and failures over time, for window sums from seconds to days without keeping every SLI row.
 *
 * Counts are added to every *tier*: 1 s, 10 s, 1 min, 10 min and 1 h buckets. A tier keeps at most
 * `BUCKETS_PER_TIER` buckets' worth of time (12 min of 1 s buckets, 2 h of 10 s, 12 h of 1 min, 5 d of 10 min,
 * 30 d of 1 h); only the tiers needed for `historyMs` exist. A window sum reads the finest tier that still holds
 * the whole window, so a 5-minute window is summed from seconds and a 3-day window from hours — at most ~720
 * buckets either way, and the error at the window's far edge is under one bucket (< 1/72 of the window).
 *
 * Buckets are sparse (a series with traffic once a minute costs one bucket a minute per tier) and kept in time
 * order in parallel arrays; rows arrive nearly in order, so adding is an append or a short search from the end.
 */

export const TIER_RESOLUTIONS_MS = [1000, 10_000, 60_000, 600_000, 3_600_000] as const;
export const BUCKETS_PER_TIER = 720;

export interface Counts {
  attempts: number;
  failures: number;
}

class Tier {
  readonly starts: number[] = [];
  readonly attempts: number[] = [];
  readonly failures: number[] = [];

  constructor(
    readonly resolutionMs: number,
    /** Data older than this (relative to the newest trim time) is dropped. */
    readonly keepMs: number,
  ) {}

  add(atMs: number, attempts: number, failures: number): void {
    const start = Math.floor(atMs / this.resolutionMs) * this.resolutionMs;
    let i = this.starts.length - 1;
    while (i >= 0 && this.starts[i]! > start) i--;
    if (i >= 0 && this.starts[i] === start) {
      this.attempts[i]! += attempts;
      this.failures[i]! += failures;
      return;
    }
    this.starts.splice(i + 1, 0, start);
    this.attempts.splice(i + 1, 0, attempts);
    this.failures.splice(i + 1, 0, failures);
  }

  /** Buckets overlapping [fromMs, toMs), where a bucket spans max(resolution, spanMs) from its start. */
  sum(fromMs: number, toMs: number, spanMs: number, out: Counts): void {
    const extent = Math.max(this.resolutionMs, spanMs);
    for (let i = this.starts.length - 1; i >= 0; i--) {
      const s = this.starts[i]!;
      if (s + extent <= fromMs) break;
      if (s >= toMs) continue;
      out.attempts += this.attempts[i]!;
      out.failures += this.failures[i]!;
    }
  }

  trim(nowMs: number): void {
    const cutoff = nowMs - this.keepMs - this.resolutionMs;
    let n = 0;
    while (n < this.starts.length && this.starts[n]! < cutoff) n++;
    if (n === 0) return;
    this.starts.splice(0, n);
    this.attempts.splice(0, n);
    this.failures.splice(0, n);
  }

  get size(): number {
    return this.starts.length;
  }

  earliest(): number | undefined {
    return this.starts[0];
  }
}

export class TieredCounts {
  private readonly tiers: Tier[] = [];
  /** The longest span one added item covered (an SLI row's window length), so a short window never falls between rows. */
  private spanMs = 0;

  constructor(readonly historyMs: number) {
    for (const res of TIER_RESOLUTIONS_MS) {
      const horizon = res * BUCKETS_PER_TIER;
      this.tiers.push(new Tier(res, Math.min(horizon, historyMs)));
      if (horizon >= historyMs) break;
    }
  }

  /** Adds counts observed over [atMs, atMs + spanMs). */
  add(atMs: number, attempts: number, failures: number, spanMs = 0): void {
    if (spanMs > this.spanMs) this.spanMs = spanMs;
    for (const t of this.tiers) t.add(atMs, attempts, failures);
  }

  /** Attempts and failures in [fromMs, toMs), read from the finest tier that holds the whole window. */
  sum(fromMs: number, toMs: number, nowMs: number): Counts {
    const out = { attempts: 0, failures: 0 };
    const windowMs = Math.max(0, nowMs - fromMs);
    const tier = this.tiers.find((t) => t.keepMs >= windowMs) ?? this.tiers[this.tiers.length - 1]!;
    tier.sum(fromMs, toMs, this.spanMs, out);
    return out;
  }

  /** Drops what is older than each tier keeps. */
  trim(nowMs: number): void {
    for (const t of this.tiers) t.trim(nowMs);
  }

  /** Buckets held over all tiers (the memory estimate: ~24 bytes each). */
  get buckets(): number {
    let n = 0;
    for (const t of this.tiers) n += t.size;
    return n;
  }

  get empty(): boolean {
    return this.tiers.every((t) => t.size === 0);
  }

  /** The start of the oldest bucket held in the coarsest tier. */
  earliest(): number | undefined {
    return this.tiers[this.tiers.length - 1]!.earliest();
  }
}
