/**
 * At most one log line per interval for a recurring problem (bad requests, pipeline failures), carrying how many
 * occurrences were folded into it, so a flood of bad input cannot turn into a flood of log lines.
 */
export class LogThrottle {
  private last = -Infinity;
  private suppressed = 0;

  constructor(private readonly intervalMs: number) {}

  /** Returns the number of occurrences skipped since the last line (0 or more) when a line may be logged now,
   * `undefined` when this occurrence should only be counted. */
  take(now = Date.now()): number | undefined {
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return undefined;
    }
    this.last = now;
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }
}
