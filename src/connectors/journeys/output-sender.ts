/**
 * Hands the connector's derived data (attempt records, SLI rows) to one output consumer, from the tick.
 *
 * - One send in flight at a time; items produced meanwhile wait in a bounded buffer and go in the next send
 *   (at most `maxBatch` items per send).
 * - A refusal that may pass (`RetryableError`, or any unclassified error) puts the items back at the front; the
 *   next tick tries again. A `PermanentError` drops them (counted, reason `permanent`).
 * - Bound: at most `maxBuffered` items wait; beyond it the OLDEST are dropped (counted, reason `overflow`), so a
 *   consumer that refuses for long costs memory up to the bound, never more.
 * - `drain()` (shutdown) sends what is left, one attempt per send; what is refused then is dropped (counted,
 *   reason `shutdown`).
 * Problems are logged rate-limited (one line per interval per signal, with the count suppressed).
 */
import type { Logger } from 'pino';
import type { Consumer } from '../../core/consumer.js';
import { errorMessage, isPermanent } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { BoundCounter, Counter } from '../../core/telemetry.js';

export class OutputSender<T> {
  private buffer: T[] = [];
  private inFlight: Promise<void> | undefined;
  private readonly dropped: Record<'overflow' | 'permanent' | 'shutdown', BoundCounter>;
  private readonly throttle = new LogThrottle();

  constructor(
    private readonly consumer: Consumer<T[]>,
    private readonly signal: 'attempts' | 'journey_metrics',
    private readonly maxBuffered: number,
    private readonly maxBatch: number,
    droppedCounter: Counter,
    connector: string,
    private readonly logger: Logger,
  ) {
    const bind = (reason: string) => droppedCounter.with({ connector, signal, reason });
    this.dropped = { overflow: bind('overflow'), permanent: bind('permanent'), shutdown: bind('shutdown') };
  }

  get buffered(): number {
    return this.buffer.length;
  }

  push(items: readonly T[]): void {
    for (const item of items) this.buffer.push(item);
    this.enforceBound();
  }

  /** Starts a send when none is in flight and items wait. */
  pump(): void {
    if (this.inFlight !== undefined || this.buffer.length === 0) return;
    const items = this.buffer.splice(0, this.maxBatch);
    this.inFlight = this.send(items, false).finally(() => {
      this.inFlight = undefined;
    });
  }

  /** Waits for the send in flight, then sends everything left once; refusals are dropped and counted. */
  async drain(): Promise<void> {
    if (this.inFlight !== undefined) await this.inFlight;
    while (this.buffer.length > 0) {
      const items = this.buffer.splice(0, this.maxBatch);
      await this.send(items, true);
    }
  }

  private async send(items: T[], final: boolean): Promise<void> {
    try {
      await this.consumer.consume(items);
    } catch (err) {
      if (isPermanent(err)) {
        this.dropped.permanent.inc(items.length);
        this.warn(`${items.length} ${this.signal} item(s) dropped: the consumer rejected them as permanently bad: ${errorMessage(err)}`);
      } else if (final) {
        this.dropped.shutdown.inc(items.length);
        this.warn(`${items.length} ${this.signal} item(s) dropped at shutdown: the consumer refused them: ${errorMessage(err)}`);
      } else {
        this.buffer = items.concat(this.buffer);
        this.enforceBound();
        this.warn(`${this.signal} consumer refused ${items.length} item(s); retrying on the next tick: ${errorMessage(err)}`);
      }
    }
  }

  private enforceBound(): void {
    const excess = this.buffer.length - this.maxBuffered;
    if (excess <= 0) return;
    this.buffer.splice(0, excess);
    this.dropped.overflow.inc(excess);
    this.warn(`${excess} ${this.signal} item(s) dropped: ${this.maxBuffered} were already waiting for a consumer that keeps refusing`);
  }

  private warn(message: string): void {
    const suppressed = this.throttle.take(this.signal);
    if (suppressed === undefined) return;
    this.logger.warn(suppressed > 0 ? `${message} (${suppressed} similar message(s) suppressed)` : message);
  }
}
