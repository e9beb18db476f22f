/**
 * Hands alert events to the `alerts` output, in order, from the evaluation tick.
 *
 * - One send in flight at a time; events produced meanwhile wait and go in the next send, in order (so all events
 *   of one alert reach the output in the order they were produced).
 * - `RetryableError` (or any unclassified error): the events go back to the front and are retried at the next
 *   evaluation. `PermanentError`: dropped and counted (`permanent`).
 * - Bound: at most `maxPending` events wait; beyond it the OLDEST are dropped and counted (`overflow`).
 * - `drain()` (shutdown): one last send of what waits; what is refused then is dropped and counted (`shutdown`).
 */
import type { Logger } from 'pino';
import type { AlertEvent } from '../../alerts/model.js';
import type { Consumer } from '../../core/consumer.js';
import { errorMessage, isPermanent } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { BoundCounter } from '../../core/telemetry.js';

export type DropReason = 'overflow' | 'permanent' | 'shutdown';

export class AlertSender {
  private pending: AlertEvent[] = [];
  private inFlight: Promise<void> | undefined;
  private readonly throttle = new LogThrottle();

  constructor(
    private readonly consumer: Consumer<AlertEvent[]> | undefined,
    private readonly maxPending: number,
    private readonly dropped: Record<DropReason, BoundCounter>,
    private readonly logger: Logger,
  ) {}

  get waiting(): number {
    return this.pending.length;
  }

  push(events: readonly AlertEvent[]): void {
    if (this.consumer === undefined) return;
    for (const e of events) this.pending.push(e);
    this.bound();
  }

  /** Starts a send when none is in flight and events wait; resolves when that send finished (tests await it). */
  pump(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (this.pending.length === 0 || this.consumer === undefined) return Promise.resolve();
    const events = this.pending;
    this.pending = [];
    this.inFlight = this.send(events, false).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  async drain(): Promise<void> {
    if (this.inFlight !== undefined) await this.inFlight;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    await this.send(events, true);
  }

  private async send(events: AlertEvent[], final: boolean): Promise<void> {
    try {
      await this.consumer!.consume(events);
    } catch (err) {
      if (isPermanent(err)) {
        this.dropped.permanent.inc(events.length);
        this.warn(`${events.length} alert event(s) dropped: the alerts output rejected them as permanently bad: ${errorMessage(err)}`);
      } else if (final) {
        this.dropped.shutdown.inc(events.length);
        this.warn(`${events.length} alert event(s) dropped at shutdown: the alerts output refused them: ${errorMessage(err)}`);
      } else {
        this.pending = events.concat(this.pending);
        this.bound();
        this.warn(`the alerts output refused ${events.length} event(s); retrying at the next evaluation: ${errorMessage(err)}`);
      }
    }
  }

  private bound(): void {
    const excess = this.pending.length - this.maxPending;
    if (excess <= 0) return;
    this.pending.splice(0, excess);
    this.dropped.overflow.inc(excess);
    this.warn(`${excess} alert event(s) dropped: ${this.maxPending} were already waiting for an alerts output that keeps refusing`);
  }

  private warn(message: string): void {
    const suppressed = this.throttle.take('alerts');
    if (suppressed === undefined) return;
    this.logger.warn(suppressed > 0 ? `${message} (${suppressed} similar message(s) suppressed)` : message);
  }
}
