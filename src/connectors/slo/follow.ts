/**
 * What `slo.clickhouse.follow` needs to hand the engine each SLI row exactly once while it reads the same recent
 * windows again at every poll.
 *
 * Every gateway writes its own partial rows of a window, and keeps writing them for a while after the window ends
 * (its `allowed_lateness`, an exporter retry). So a poll cannot take "rows written since the last poll": the table
 * does not say when a row was written. It reads the sums of every window that started within `lookback` instead,
 * and `SliDeltas` turns those sums into partial rows of what is new since the last poll: the engine adds partial
 * rows up, so handing it the difference is the same as handing it the gateways' rows.
 */
import type { SliWindow } from '../../journeys/model.js';

interface Sums {
  readonly windowStartMs: number;
  attempts: number;
  successes: number;
  failures: number;
  abandoned: number;
}

function keyOf(row: SliWindow): string {
  return `${row.journey}\u0000${row.segmentKey}\u0000${row.segmentValue}\u0000${row.windowStartMs}\u0000${row.windowSeconds}`;
}

export class SliDeltas {
  /** Per window (journey × segment × window start and length): the sums handed to the engine so far. */
  private readonly handed = new Map<string, Sums>();
  /** Windows whose sums went down between two reads (the table was truncated or rows expired), not handed again. */
  shrunk = 0;

  /** Windows remembered: those that started within `lookback` of the last read. */
  get size(): number {
    return this.handed.size;
  }

  /** Records sums that were handed to the engine wholesale (a rebuild from history), for windows from `fromMs`. */
  remember(rows: readonly SliWindow[], fromMs: number): void {
    for (const row of rows) {
      if (row.windowStartMs < fromMs) continue;
      this.handed.set(keyOf(row), {
        windowStartMs: row.windowStartMs,
        attempts: row.attempts,
        successes: row.successes,
        failures: row.failures,
        abandoned: row.abandoned,
      });
    }
  }

  /**
   * The new part of `rows` (each window's sums as read now) as partial rows, and remembers the sums. Then forgets
   * the windows that started before `forgetBeforeMs`: the next read does not go back that far.
   */
  take(rows: readonly SliWindow[], forgetBeforeMs: number): SliWindow[] {
    const out: SliWindow[] = [];
    for (const row of rows) {
      const key = keyOf(row);
      const before = this.handed.get(key);
      if (before === undefined) {
        this.handed.set(key, { windowStartMs: row.windowStartMs, attempts: row.attempts, successes: row.successes, failures: row.failures, abandoned: row.abandoned });
        if (row.attempts > 0 || row.abandoned > 0) out.push(row);
        continue;
      }
      const attempts = row.attempts - before.attempts;
      const successes = row.successes - before.successes;
      const failures = row.failures - before.failures;
      const abandoned = row.abandoned - before.abandoned;
      before.attempts = row.attempts;
      before.successes = row.successes;
      before.failures = row.failures;
      before.abandoned = row.abandoned;
      if (attempts < 0 || successes < 0 || failures < 0 || abandoned < 0) {
        this.shrunk++;
        continue;
      }
      if (attempts === 0 && abandoned === 0) continue;
      out.push({ ...row, attempts, successes, failures, abandoned });
    }
    for (const [key, sums] of this.handed) if (sums.windowStartMs < forgetBeforeMs) this.handed.delete(key);
    return out;
  }
}
