/**
 * Rate-limited logging of unexpected failures (bugs) inside a connector's own work (processing, ticks,
 * evaluations): a connector counts and carries on rather than throwing into its host, and a bug that recurs on
 * every batch must not flood the log. One line per `where` per interval, with the count suppressed.
 */
import { errorMessage } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { Logger } from '../../core/logger.js';

export class UnexpectedErrorLog {
  private readonly throttle = new LogThrottle();

  /** `subject` starts every line: `journeys connector`, `slo connector`. */
  constructor(
    private readonly logger: Logger,
    private readonly subject: string,
  ) {}

  log(where: string, err: unknown): void {
    const suppressed = this.throttle.take(where);
    if (suppressed === undefined) return;
    this.logger.error(
      { err },
      `${this.subject} ${where} failed unexpectedly: ${errorMessage(err)}${suppressed > 0 ? ` (${suppressed} similar error(s) suppressed)` : ''}`,
    );
  }
}
