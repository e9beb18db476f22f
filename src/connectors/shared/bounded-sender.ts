/**
 * Hands a connector's derived items (attempt records, SLI rows, alert events) to one output consumer, from the
 * connector's periodic tick. Shared by the `journeys` and `slo` connectors.
 *
 * - **One queue per consumer.** An output wired to several consumers (pipelines, exporters: a fan-out, see
 *   service/fanout.ts) is split into them, and each gets a queue of its own: what one consumer refuses is retried
 *   to that consumer only, while the others go on receiving. (Handing the fan-out the items again would send them
 *   again to every consumer, including those that took them: duplicates in Kafka, SLI rows counted twice.)
 * - Per consumer: one send in flight at a time; items produced meanwhile wait, in order, and go in the next send (at
 *   most `maxBatch` items per send).
 * - A refusal that may pass (`RetryableError`, or any unclassified error) puts the items back at the front of that
 *   consumer's queue; the next tick tries again. A `PermanentError` drops them (counted, reason `permanent`).
 * - Bound: at most `maxWaiting` items wait per consumer; beyond it the OLDEST are dropped (counted, reason
 *   `overflow`, once per consumer that misses them), so a consumer that refuses for long costs memory up to the
 *   bound, never more. The queues share the items, and each holds the most recent ones, so all of them together
 *   hold at most `maxWaiting` distinct items.
 * - `drain()` (shutdown) sends what is left, one attempt per send; what is refused then is dropped (counted,
 *   reason `shutdown`).
 * - Without a consumer (the output is not wired) items are discarded at once and nothing is counted.
 * Problems are logged rate-limited (one line per interval, with the count suppressed).
 */
import type { Logger } from 'pino';
import type { Consumer } from '../../core/consumer.js';
import { errorMessage, isPermanent } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { BoundCounter } from '../../core/telemetry.js';
import { fanoutBranches } from '../../service/fanout.js';

export type DropReason = 'overflow' | 'permanent' | 'shutdown';

/** The counters for each drop reason, bound by `bind`. */
export function dropCounters(bind: (reason: DropReason) => BoundCounter): Record<DropReason, BoundCounter> {
  return { overflow: bind('overflow'), permanent: bind('permanent'), shutdown: bind('shutdown') };
}

/** The words of the sender's log lines, e.g. for alerts: "3 alert event(s) dropped: the alerts output rejected …". */
export interface SenderWording {
  /** The items after a count: `attempts item(s)`, `alert event(s)`. */
  readonly items: string;
  /** The output as the one that rejects or refuses: `the consumer`, `the alerts output`. */
  readonly output: string;
  /** The output at the start of a "refused, retrying" line: `attempts consumer`, `the alerts output`. */
  readonly refuser: string;
  /** The items after a count in that line: `item(s)`, `event(s)`. */
  readonly unit: string;
  /** When the retry happens: `on the next tick`, `at the next evaluation`. */
  readonly retry: string;
  /** The output in the overflow line ("waiting for …"): `a consumer`, `an alerts output`. */
  readonly awaited: string;
}

export interface BoundedSenderOptions {
  /** Items that may wait for each consumer, at most. */
  readonly maxWaiting: number;
  /** Items per send, at most. Default: everything that waits. */
  readonly maxBatch?: number;
  readonly dropped: Record<DropReason, BoundCounter>;
  readonly wording: SenderWording;
  readonly logger: Logger;
}

export class BoundedSender<T> {
  private readonly queues: ConsumerQueue<T>[];

  constructor(consumer: Consumer<T[]> | undefined, options: BoundedSenderOptions) {
    const branches = consumer === undefined ? [] : fanoutBranches(consumer);
    const log = new Log(options.logger);
    this.queues = branches.map((c, i) => new ConsumerQueue(c, options, log, branches.length > 1 ? ` (consumer ${i + 1} of ${branches.length})` : ''));
  }

  /** Items waiting for the consumer that has the most waiting. */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues) n = Math.max(n, q.waiting);
    return n;
  }

  push(items: readonly T[]): void {
    for (const q of this.queues) q.push(items);
  }

  /** Starts a send to each consumer that has none in flight and items waiting; resolves when the sends in flight finished. */
  pump(): Promise<void> {
    if (this.queues.length === 1) return this.queues[0]!.pump();
    return Promise.all(this.queues.map((q) => q.pump())).then(() => undefined);
  }

  /** Waits for the sends in flight, then sends everything left once; refusals are dropped and counted. */
  async drain(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.drain()));
  }
}

/** The queue of one consumer. */
class ConsumerQueue<T> {
  private waitingItems: T[] = [];
  private inFlight: Promise<void> | undefined;
  private readonly maxWaiting: number;
  private readonly maxBatch: number;
  private readonly dropped: Record<DropReason, BoundCounter>;
  private readonly wording: SenderWording;

  constructor(
    private readonly consumer: Consumer<T[]>,
    options: BoundedSenderOptions,
    private readonly log: Log,
    /** Which consumer, in log lines, when the output has several. */
    private readonly which: string,
  ) {
    this.maxWaiting = options.maxWaiting;
    this.maxBatch = options.maxBatch ?? Infinity;
    this.dropped = options.dropped;
    this.wording = options.wording;
  }

  get waiting(): number {
    return this.waitingItems.length;
  }

  push(items: readonly T[]): void {
    for (const item of items) this.waitingItems.push(item);
    this.enforceBound();
  }

  pump(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (this.waitingItems.length === 0) return Promise.resolve();
    const items = this.waitingItems.splice(0, this.maxBatch);
    this.inFlight = this.send(items, false).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  async drain(): Promise<void> {
    if (this.inFlight !== undefined) await this.inFlight;
    while (this.waitingItems.length > 0) {
      const items = this.waitingItems.splice(0, this.maxBatch);
      await this.send(items, true);
    }
  }

  private async send(items: T[], final: boolean): Promise<void> {
    const w = this.wording;
    try {
      // A consumer that changes what it is given gets its own array: this one goes back in the queue if refused.
      await this.consumer.consume(this.consumer.mutatesData ? items.slice() : items);
    } catch (err) {
      if (isPermanent(err)) {
        this.dropped.permanent.inc(items.length);
        this.log.warn(`${items.length} ${w.items} dropped: ${w.output}${this.which} rejected them as permanently bad: ${errorMessage(err)}`);
      } else if (final) {
        this.dropped.shutdown.inc(items.length);
        this.log.warn(`${items.length} ${w.items} dropped at shutdown: ${w.output}${this.which} refused them: ${errorMessage(err)}`);
      } else {
        this.waitingItems = items.concat(this.waitingItems);
        this.enforceBound();
        this.log.warn(`${w.refuser}${this.which} refused ${items.length} ${w.unit}; retrying ${w.retry}: ${errorMessage(err)}`);
      }
    }
  }

  private enforceBound(): void {
    const excess = this.waitingItems.length - this.maxWaiting;
    if (excess <= 0) return;
    this.waitingItems.splice(0, excess);
    this.dropped.overflow.inc(excess);
    this.log.warn(`${excess} ${this.wording.items} dropped: ${this.maxWaiting} were already waiting for ${this.wording.awaited}${this.which} that keeps refusing`);
  }
}

/** One rate-limited warning line per interval for all the queues of a sender. */
class Log {
  private readonly throttle = new LogThrottle();
  constructor(private readonly logger: Logger) {}

  warn(message: string): void {
    const suppressed = this.throttle.take('send');
    if (suppressed === undefined) return;
    this.logger.warn(suppressed > 0 ? `${message} (${suppressed} similar message(s) suppressed)` : message);
  }
}
