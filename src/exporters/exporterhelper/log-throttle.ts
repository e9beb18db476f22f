/**
 * Rate limiting for error log lines. An exporter whose destination is down fails every send; logging each failure
 * would flood the logs exactly when they matter. A throttle lets one line per key through per interval and
 * reports how many were suppressed since the last one, so no information is lost, only repetition.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000) {}

  /**
   * Returns the number of lines suppressed for `key` since the last one let through (0 or more) when a line may be
   * logged now, or `undefined` when it must be suppressed.
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
