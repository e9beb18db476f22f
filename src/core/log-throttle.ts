/**
 * Rate limiting for log lines about a recurring problem (bad requests, a destination that is down, a pipeline that
 * keeps failing). Logging every occurrence would flood the logs exactly when they matter. A throttle lets one line
 * per key through per interval and reports how many were suppressed since the last one, so no information is
 * lost, only repetition. Keys are independent: a flood of one kind of problem does not hide the first line of
 * another. A component with a single kind of problem per throttle passes one fixed key.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000) {}

  /**
   * Returns the number of lines suppressed for `key` since the last one let through (0 or more) when a line may be
   * logged now, or `undefined` when this occurrence must only be counted. The first occurrence of a key always
   * gets through.
   */
  take(key: string, now = Date.now()): number | undefined {
    const s = this.last.get(key);
    if (s === undefined) {
      this.last.set(key, { at: now, suppressed: 0 });
      return 0;
    }
    if (now - s.at >= this.intervalMs) {
      const suppressed = s.suppressed;
      s.at = now;
      s.suppressed = 0;
      return suppressed;
    }
    s.suppressed++;
    return undefined;
  }
}
