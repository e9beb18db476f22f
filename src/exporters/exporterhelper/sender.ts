/**
 * One delivery of one item: attempts with a per-attempt timeout, retries with backoff, and the counting of the
 * outcome. Shared by the queue consumers and the queue-less (synchronous) path.
 */
import type { Logger } from 'pino';
import { PulseError, RetryableError, errorMessage, isPermanent } from '../../core/errors.js';
import { jitteredInterval, sleep } from './backoff.js';
import type { ExporterHelperConfig } from './config.js';
import type { LogThrottle } from '../../core/log-throttle.js';
import type { ExporterMetrics } from './metrics.js';

/** The longest delay setTimeout honours (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a destination said about a send that succeeded. */
export interface SendResult {
  /** Items the destination accepted the request for but rejected (OTLP partial success). */
  rejectedItems?: number;
  /** The destination's explanation of the rejection. */
  rejectMessage?: string;
}

/**
 * Sends one item. Resolves when the destination accepted it; rejects with a `PermanentError` (drop), a
 * `RetryableError` (retry, honouring `retryAfterMs`) or anything else (retried). Must stop promptly and reject when
 * `signal` aborts (per-attempt timeout or shutdown deadline).
 */
export type SendFn<T> = (item: T, signal: AbortSignal) => Promise<SendResult | void>;

export type Delivery =
  | { outcome: 'sent' }
  /** Dropped: permanent error, or retries exhausted (both counted here). */
  | { outcome: 'permanent' | 'exhausted'; error: unknown }
  /** Not delivered because of shutdown; the caller decides (keep on disk, or count as dropped). */
  | { outcome: 'stopped'; error: unknown };

export interface SenderOptions<T> {
  id: string;
  send: SendFn<T>;
  config: Pick<ExporterHelperConfig, 'timeout' | 'retry_on_failure'>;
  metrics: ExporterMetrics;
  logger: Logger;
  throttle: LogThrottle;
  /** Aborts at the shutdown deadline: in-flight attempts and backoff waits end at once. */
  stop: AbortSignal;
  /** Ends backoff waits early (giving the item back as 'stopped'); `stop`, or earlier for a persistent queue. */
  backoffStop: AbortSignal;
  /** Asked before each retry; true gives the item back as 'stopped' (a persistent queue that is shutting down). */
  stopRetrying(): boolean;
}

export class RetryingSender<T> {
  /**
   * True from a failed attempt (not a permanent refusal) until the next send that succeeds: the destination is
   * down or refusing sends (a 429 of its own included), as opposed to accepting every send, only not as fast as
   * the input comes. Pulse shedding load would not help the former, and would hide spans from the journeys.
   */
  failing = false;

  constructor(private readonly o: SenderOptions<T>) {}

  async deliver(item: T, count: number): Promise<Delivery> {
    const { retry_on_failure: retry, timeout } = this.o.config;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.o.stop.aborted) return { outcome: 'stopped', error: shuttingDown(this.o.id) };
      let error: unknown;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), timeout);
      timer.unref();
      const onStop = (): void => ac.abort();
      this.o.stop.addEventListener('abort', onStop, { once: true });
      try {
        const result = await this.o.send(item, ac.signal);
        this.failing = false;
        this.counted(count, result);
        return { outcome: 'sent' };
      } catch (err) {
        error = err;
      } finally {
        clearTimeout(timer);
        this.o.stop.removeEventListener('abort', onStop);
      }
      if (this.o.stop.aborted) return { outcome: 'stopped', error };
      if (ac.signal.aborted && !isPermanent(error)) {
        error = new RetryableError('PULSE_ERR_EXPORT_TIMEOUT', `no answer within the ${timeout} ms timeout: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      if (isPermanent(error)) {
        this.failing = false;
        this.o.metrics.failed.permanent.inc(count);
        this.log('error', 'permanent', error, { items: count }, 'dropped a batch the destination refused as invalid; it will not be retried');
        return { outcome: 'permanent', error };
      }
      this.failing = true;
      const retryAfter = error instanceof RetryableError ? (error.retryAfterMs ?? 0) : 0;
      const backoff = jitteredInterval(retry, attempt);
      const elapsed = Date.now() - started;
      let wait = Math.max(backoff, retryAfter);
      // The destination's own wait (Retry-After, RetryInfo) is honoured as far as max_elapsed_time allows: one that
      // asks for longer than is left still gets a last try then, rather than the batch being dropped at once.
      const left = retry.max_elapsed_time > 0 ? retry.max_elapsed_time - elapsed : Infinity;
      if (retryAfter > backoff && wait > left && left > backoff) wait = left;
      // setTimeout takes at most 2^31 − 1 ms; beyond, Node fires at once (a hot loop against a server asking to wait).
      wait = Math.min(wait, MAX_TIMER_MS);
      const exhausted =
        !retry.enabled || (retry.max_elapsed_time > 0 && elapsed + wait > retry.max_elapsed_time);
      if (!exhausted && this.o.stopRetrying()) return { outcome: 'stopped', error };
      if (exhausted) {
        this.o.metrics.failed.retries_exhausted.inc(count);
        this.log(
          'error',
          'exhausted',
          error,
          { items: count, attempts: attempt + 1, elapsedMs: elapsed },
          retry.enabled
            ? 'dropped a batch after retrying for retry_on_failure.max_elapsed_time'
            : 'dropped a batch: sending failed and retry_on_failure is disabled',
        );
        return { outcome: 'exhausted', error };
      }
      this.o.metrics.retries.inc();
      this.log('warn', 'retry', error, { items: count, attempt: attempt + 1, retryInMs: Math.round(wait) }, 'send failed; retrying');
      if (!(await sleep(wait, this.o.backoffStop))) return { outcome: 'stopped', error };
    }
  }

  private counted(count: number, result: SendResult | void): void {
    const rejected = result?.rejectedItems ?? 0;
    if (rejected <= 0) {
      this.o.metrics.sent.inc(count);
      return;
    }
    const r = Math.min(rejected, count);
    this.o.metrics.sent.inc(count - r);
    this.o.metrics.failed.rejected_by_destination.inc(r);
    const suppressed = this.o.throttle.take('rejected');
    if (suppressed !== undefined) {
      this.o.logger.warn(
        { rejectedItems: r, items: count, destinationMessage: result?.rejectMessage ?? '', suppressed },
        'the destination accepted a batch but rejected some of its items (partial success)',
      );
    }
  }

  private log(level: 'warn' | 'error', key: string, err: unknown, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.o.throttle.take(key);
    if (suppressed === undefined) return;
    const code = err instanceof PulseError ? err.code : undefined;
    this.o.logger[level]({ ...fields, code, err: errorMessage(err), suppressed }, msg);
  }
}

export function shuttingDown(id: string): RetryableError {
  return new RetryableError('PULSE_ERR_SHUTTING_DOWN', `exporter ${id} is shutting down and accepts no more data; retry against another instance or after restart`);
}
