/**
 * `createQueuedExporter()`: the one piece every Pulse exporter wraps. An exporter supplies how to send one item
 * (and, for a persistent queue, how to serialise it); the helper supplies the bounded queue (memory or disk), the
 * consumers, the per-attempt timeout, retries with backoff, optional merging, shutdown draining and the metrics.
 * See README.md in this folder for the behaviour a user sees.
 */
import type { Component, CreateSettings, Host } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import { PulseError, RetryableError, errorMessage, isPermanent } from '../../core/errors.js';
import type { ExporterHelperConfig } from './config.js';
import { LogThrottle } from '../../core/log-throttle.js';
import { MemoryQueue } from './memory-queue.js';
import { METRIC, exporterMetrics, type ExporterMetrics } from './metrics.js';
import { PersistentQueue } from './persistent-queue.js';
import type { ExportQueue, QueueEntry } from './queue.js';
import { RetryingSender, shuttingDown, type SendFn } from './sender.js';

/**
 * Turns an item into bytes and back, for the persistent queue. `decode` throws on bytes it cannot read. `encode` may
 * give its bytes as pieces, written one after the other (so an item that already holds its encoded body is not
 * copied into one buffer first); `decode` gets them back as one buffer.
 */
export interface ItemCodec<T> {
  encode(item: T): Uint8Array | readonly Uint8Array[];
  decode(bytes: Uint8Array): T;
}

export interface QueuedExporterOptions<T> {
  settings: CreateSettings;
  /** The parsed helper fragment of the exporter's config (see config.ts). */
  config: ExporterHelperConfig;
  /** Sends one item (see SendFn for the error contract). */
  send: SendFn<T>;
  /** Items in an item (spans in a TraceBatch), for metrics and batching. */
  itemCount(item: T): number;
  /** Approximate bytes an item holds in memory, for `sending_queue.max_bytes` of the in-memory queue. */
  sizeOf?(item: T): number;
  /** Required when the config asks for a persistent queue. */
  codec?: ItemCodec<T>;
  /** Merges items into one (the inputs are not used afterwards); required when `batch.enabled`. */
  merge?(items: T[]): T;
  /** The exporter's own start (load TLS files, create connection pools); runs before the queue opens. */
  start?(host: Host): Promise<void>;
  /** The exporter's own shutdown (close connections); runs after the queue drained or the deadline passed. */
  shutdown?(): Promise<void>;
  /**
   * Items mean the same to every exporter of this type, whatever its config (e.g. trace batches, encoded when sent):
   * on a reload, an in-memory queue is then handed to the new config's exporter of the same id (`settings.handover`)
   * instead of drained. Leave unset when an item depends on the config (rows encoded for one table).
   */
  handover?: boolean;
}

export interface QueuedExporter<T> extends Component, Consumer<T> {
  /**
   * Stops accepting, drains, aborts what is still in flight, then keeps the rest on disk (persistent) or counts
   * and logs it as dropped (in memory). Idempotent.
   *
   * `deadline` (epoch ms) is the service's: draining stops a little before it (`drainUntil`), so that the rest is
   * accounted for before the service stops waiting. Without one (an exporter stopped outside a service shutdown),
   * draining lasts `shutdown_drain`.
   */
  shutdown(deadline?: number): Promise<void>;
  /** Batches held right now (waiting or being sent); 0 without a queue. */
  readonly queueSize: number;
}

/** How long a sender refused by a full queue is asked to wait. */
const QUEUE_FULL_RETRY_AFTER_MS = 1000;

/** Most of the time before the service's deadline kept for aborting the sends in flight and counting what is left. */
const SHUTDOWN_MARGIN_MS = 250;

/**
 * Handing the queue over on a reload: how long sends in flight may still finish before they are aborted and their
 * batches handed over too (a destination that does not answer must not hold the reload; one that does answers
 * within this, and its batch is not sent twice).
 */
export const HANDOVER_GRACE_MS = 1000;

/**
 * When to stop draining: `shutdown_drain` from now without a service deadline; with one, shortly before it (250 ms,
 * or a tenth of the time left when that is less), so the service's deadline, not `shutdown_drain`, bounds the drain.
 */
export function drainUntil(deadline: number | undefined, shutdownDrainMs: number, now = Date.now()): number {
  if (deadline === undefined) return now + shutdownDrainMs;
  const left = Math.max(0, deadline - now);
  return deadline - Math.min(SHUTDOWN_MARGIN_MS, left / 10);
}

export function createQueuedExporter<T>(options: QueuedExporterOptions<T>): QueuedExporter<T> {
  return new QueuedExporterImpl(options);
}

type State = 'created' | 'running' | 'stopping' | 'stopped';

class QueuedExporterImpl<T> implements QueuedExporter<T> {
  readonly mutatesData = false;
  private state: State = 'created';
  private readonly id: string;
  private readonly cfg: ExporterHelperConfig;
  private readonly metrics: ExporterMetrics;
  private readonly throttle = new LogThrottle();
  /** Aborts at the shutdown deadline: in-flight sends and backoff waits end. */
  private readonly stop = new AbortController();
  /** Aborts when shutdown starts (durable queue) or at the deadline: backoff waits end, the batch stays queued. */
  private readonly backoffStop = new AbortController();
  private readonly sender: RetryingSender<T>;
  private readonly queue: ExportQueue<T> | undefined;
  private consumers: Array<Promise<void>> = [];
  /** Synchronous (queue-less) consume() calls in flight, awaited at shutdown. */
  private readonly inflight = new Set<Promise<unknown>>();
  private unobserve: Array<() => void> = [];
  private stopping: Promise<void> | undefined;
  /** Batches and items in flight at shutdown that an in-memory queue lost / a persistent queue kept, for logs. */
  private droppedAtShutdown = { batches: 0, items: 0 };
  private keptAtShutdown = { batches: 0, items: 0 };
  /** Set when this shutdown hands the in-memory queue to the next config's exporter: batches stopped in flight. */
  private handingOver: T[] | undefined;

  constructor(private readonly o: QueuedExporterOptions<T>) {
    const { settings, config } = o;
    this.id = settings.id;
    this.cfg = config;
    this.metrics = exporterMetrics(settings.metrics, this.id);
    if (config.batch.enabled && !o.merge) {
      throw new PulseError('PULSE_ERR_CONFIG', `exporter ${this.id} cannot merge batches; remove batch.enabled`);
    }
    const q = config.sending_queue;
    if (q.enabled && q.persistent) {
      if (!o.codec) {
        throw new PulseError('PULSE_ERR_CONFIG', `exporter ${this.id} cannot persist its queue; set sending_queue.persistent: false`);
      }
      this.queue = new PersistentQueue<T>({
        directory: q.storage.directory ?? settings.dataDir,
        maxEntries: q.queue_size,
        maxBytes: q.max_bytes,
        fsync: q.storage.fsync,
        encode: o.codec.encode,
        decode: o.codec.decode,
        logger: settings.logger,
        corruptFiles: this.metrics.corruptFiles,
      });
    } else if (q.enabled) {
      this.queue = new MemoryQueue<T>(q.queue_size, q.max_bytes);
    }
    this.sender = new RetryingSender<T>({
      id: this.id,
      send: o.send,
      config,
      metrics: this.metrics,
      logger: settings.logger,
      throttle: this.throttle,
      stop: this.stop.signal,
      backoffStop: this.backoffStop.signal,
      // While shutting down, a durable queue keeps a failing batch on disk instead of waiting out backoffs.
      // So does a queue handed over on a reload: the next config's exporter retries it.
      stopRetrying: () => this.state !== 'running' && (this.queue?.durable === true || this.handingOver !== undefined),
    });
  }

  get queueSize(): number {
    return this.queue?.size ?? 0;
  }

  async start(host: Host): Promise<void> {
    if (this.state !== 'created') return;
    await this.o.start?.(host);
    const queue = this.queue;
    if (queue) {
      try {
        await queue.open();
      } catch (err) {
        await this.o.shutdown?.().catch(() => undefined); // release what the exporter's start() opened
        throw err;
      }
      const reg = this.o.settings.metrics;
      const exporter = this.id;
      reg.gauge(METRIC.queueCapacity, 'Most batches the sending queue holds (sending_queue.queue_size)').with({ exporter }).set(this.cfg.sending_queue.queue_size);
      this.unobserve.push(
        reg.gauge(METRIC.queueSize, 'Batches held by the sending queue (waiting or being sent)').observe((set) => set({ exporter }, queue.size)),
        reg.gauge(METRIC.queueBytes, 'Bytes held by the sending queue (in memory: estimated)').observe((set) => set({ exporter }, queue.bytes)),
      );
      await this.takeHandedOver(queue);
      for (let i = 0; i < this.cfg.sending_queue.num_consumers; i++) this.consumers.push(this.runConsumer(queue));
    } else if (this.o.handover === true) {
      const items = this.o.settings.handover?.take();
      if (items !== undefined) this.dropHandedOver(items as T[], 'this exporter has no sending queue now (sending_queue.enabled: false)');
    }
    this.state = 'running';
    this.o.settings.logger.info(
      {
        queue: queue ? (queue.durable ? 'persistent' : 'memory') : 'none',
        queuedFromEarlierRun: queue?.durable === true ? queue.size : undefined,
      },
      'exporter started',
    );
  }

  async consume(item: T): Promise<void> {
    if (this.state !== 'running') {
      throw this.state === 'created'
        ? new RetryableError('PULSE_ERR_NOT_STARTED', `exporter ${this.id} has not started yet; retry shortly`)
        : shuttingDown(this.id);
    }
    const count = this.o.itemCount(item);
    const queue = this.queue;
    if (!queue) return this.consumeSync(item, count);
    const bytes = queue.durable ? 0 : (this.o.sizeOf?.(item) ?? 0);
    let accepted: boolean;
    try {
      accepted = await queue.offer(item, count, bytes);
    } catch (err) {
      // Could not be stored: unserialisable (permanent, dropped) or a disk write failure (refused, sender retries).
      if (isPermanent(err)) this.metrics.failed.permanent.inc(count);
      else this.metrics.enqueueFailed.inc(count);
      throw err;
    }
    if (accepted) return;
    this.metrics.enqueueFailed.inc(count);
    const q = this.cfg.sending_queue;
    const detail = `${queue.size}/${q.queue_size} batches, ${queue.bytes}/${q.max_bytes} bytes`;
    if (q.when_full === 'drop_newest') {
      const suppressed = this.throttle.take('queue_full');
      if (suppressed !== undefined) {
        this.o.settings.logger.warn({ items: count, suppressed, queue: detail }, 'sending queue full: dropped the newest batch (when_full: drop_newest)');
      }
      return;
    }
    // Which of the two a sender is told decides what the receivers do next: "resource exhausted" (429) makes them
    // shed load, refusing requests unread for a few ms, which is right when Pulse cannot keep up; a failing
    // destination (503) does not, so every request is still read and the journeys see every span while the
    // trace backend is down (the sender resends; the journeys ignore the repeated spans).
    if (this.sender.failing) {
      throw new RetryableError(
        'PULSE_ERR_QUEUE_FULL',
        `exporter ${this.id}: the sending queue is full (${detail}) because the destination is failing; retry later`,
        { retryAfterMs: QUEUE_FULL_RETRY_AFTER_MS },
      );
    }
    throw new RetryableError(
      'PULSE_ERR_QUEUE_FULL',
      `exporter ${this.id}: the sending queue is full (${detail}); the destination is slower than the input — retry later, or raise sending_queue.queue_size / num_consumers`,
      { resourceExhausted: true, retryAfterMs: QUEUE_FULL_RETRY_AFTER_MS },
    );
  }

  shutdown(deadline?: number): Promise<void> {
    this.stopping ??= this.doShutdown(drainUntil(deadline, this.cfg.shutdown_drain));
    return this.stopping;
  }

  /** Queue disabled: send inside consume() so the caller sees the outcome (and pushes back on failure). */
  private async consumeSync(item: T, count: number): Promise<void> {
    const p = this.sender.deliver(item, count);
    this.inflight.add(p);
    let d;
    try {
      d = await p;
    } finally {
      this.inflight.delete(p);
    }
    switch (d.outcome) {
      case 'sent':
        return;
      case 'permanent':
        throw d.error;
      case 'exhausted':
        if (d.error instanceof RetryableError) throw d.error;
        throw new RetryableError('PULSE_ERR_EXPORT_FAILED', `exporter ${this.id} could not send: ${errorMessage(d.error)}`, { cause: d.error });
      case 'stopped':
        this.metrics.failed.shutdown.inc(count);
        throw shuttingDown(this.id);
    }
  }

  private async runConsumer(queue: ExportQueue<T>): Promise<void> {
    while (true) {
      const first = await queue.take(this.stop.signal);
      if (!first) return;
      const entries: QueueEntry[] = [];
      const items: T[] = [];
      let count = 0;
      try {
        const item = await queue.load(first);
        if (item === undefined) continue;
        entries.push(first);
        items.push(item);
        count = this.o.itemCount(item);
        if (this.cfg.batch.enabled) count = await this.gather(queue, entries, items, count);
        const toSend = items.length === 1 ? items[0]! : this.o.merge!(items);
        const d = await this.sender.deliver(toSend, count);
        if (d.outcome === 'stopped') {
          if (this.handingOver !== undefined) {
            // Handed to the next config's exporter, which sends it (again, if it was in flight when aborted).
            for (const item of items) this.handingOver.push(item);
            for (const e of entries) queue.done(e);
          } else if (queue.durable) {
            for (const e of entries) queue.release(e);
            this.keptAtShutdown.batches += entries.length;
            this.keptAtShutdown.items += count;
          } else {
            this.metrics.failed.shutdown.inc(count);
            this.droppedAtShutdown.batches += entries.length;
            this.droppedAtShutdown.items += count;
            for (const e of entries) queue.done(e);
          }
          // Shutting down and this consumer could not deliver: trying the next batches would only delay shutdown.
          return;
        }
        for (const e of entries) queue.done(e);
      } catch (err) {
        // Only a bug gets here (load/merge/itemCount threw): drop what was taken rather than stall the consumer.
        this.metrics.failed.permanent.inc(count);
        for (const e of entries) queue.done(e);
        this.o.settings.logger.error({ err: errorMessage(err), items: count }, 'exporter: unexpected error handling a queued batch; dropped it');
      }
    }
  }

  /** Takes more entries until `batch.min_size` items, `max_size`, or `flush_timeout`; returns the item count. */
  private async gather(queue: ExportQueue<T>, entries: QueueEntry[], items: T[], count: number): Promise<number> {
    const { min_size, max_size, flush_timeout } = this.cfg.batch;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), flush_timeout);
    timer.unref();
    const onStop = (): void => ac.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      while (count < min_size) {
        const room = max_size > 0 ? max_size - count : Infinity;
        const next = await queue.take(ac.signal, room);
        if (!next) break;
        const item = await queue.load(next);
        if (item === undefined) continue;
        entries.push(next);
        items.push(item);
        count += this.o.itemCount(item);
      }
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
    return count;
  }

  /** At start: what the previous config's exporter handed over on a reload goes first in the queue. */
  private async takeHandedOver(queue: ExportQueue<T>): Promise<void> {
    if (this.o.handover !== true) return;
    const items = this.o.settings.handover?.take() as T[] | undefined;
    if (items === undefined) return;
    let taken = 0;
    let spans = 0;
    const refused: T[] = [];
    for (const item of items) {
      const count = this.o.itemCount(item);
      let accepted = false;
      try {
        accepted = await queue.offer(item, count, queue.durable ? 0 : (this.o.sizeOf?.(item) ?? 0));
      } catch {
        accepted = false;
      }
      if (accepted) {
        taken++;
        spans += count;
      } else refused.push(item);
    }
    this.o.settings.logger.info({ batches: taken, items: spans }, 'exporter took the queue its previous configuration handed over on the reload');
    if (refused.length > 0) this.dropHandedOver(refused, 'the new sending queue is smaller (queue_size, max_bytes) or could not store them');
  }

  /** Items (spans) in `batches`. */
  private itemsIn(batches: readonly T[]): number {
    let count = 0;
    for (const b of batches) count += this.o.itemCount(b);
    return count;
  }

  private dropHandedOver(items: readonly T[], why: string): void {
    const count = this.itemsIn(items);
    this.metrics.failed.shutdown.inc(count);
    this.o.settings.logger.warn({ droppedBatches: items.length, droppedItems: count }, `dropped batches handed over on the reload: ${why}`);
  }

  private async doShutdown(deadline: number): Promise<void> {
    const began = Date.now();
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    const log = this.o.settings.logger;
    const queue = this.queue;
    const slot = this.o.handover === true ? this.o.settings.handover : undefined;
    if (queue instanceof MemoryQueue && wasRunning && slot?.continues() === true) {
      // A reload, and the next config has this exporter: what waits goes to it at once; sends in flight get a
      // moment to finish, then are aborted and go too.
      this.handingOver = [];
      deadline = Math.min(deadline, Date.now() + HANDOVER_GRACE_MS);
    }
    queue?.close();
    // A durable queue loses nothing by stopping: batches waiting out a backoff stay on disk instead of delaying exit.
    if (queue?.durable === true || this.handingOver !== undefined) this.backoffStop.abort();
    const abortAll = (): void => {
      this.stop.abort();
      this.backoffStop.abort();
    };
    const timer = setTimeout(abortAll, Math.max(0, deadline - Date.now()));
    timer.unref();
    // Handing over: the waiting batches leave the line now, so the consumers take none of them.
    const waitingItems = this.handingOver !== undefined && queue instanceof MemoryQueue ? queue.takeWaiting() : undefined;
    try {
      await Promise.all(this.consumers);
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    } finally {
      clearTimeout(timer);
      abortAll(); // ends any backoff wait still pending
    }
    if (this.handingOver !== undefined && slot !== undefined && waitingItems !== undefined) {
      // Oldest first: the batches that were in flight were taken before those still waiting.
      const items = this.handingOver.concat(waitingItems);
      const count = this.itemsIn(items);
      slot.put(items, count, (n) => this.metrics.failed.shutdown.inc(n));
      log.info({ handedOverBatches: items.length, items: count, stoppedMs: Date.now() - began }, 'exporter stopped for a reload; its queue goes to the same exporter of the new configuration');
    } else if (queue && wasRunning) {
      const left = queue.waiting();
      if (queue.durable) {
        log.info(
          { batchesOnDisk: left.entries + this.keptAtShutdown.batches, items: left.items + this.keptAtShutdown.items },
          'exporter stopped; unsent batches stay in the persistent queue for the next start',
        );
      } else if (left.entries > 0 || this.droppedAtShutdown.batches > 0) {
        this.metrics.failed.shutdown.inc(left.items);
        log.warn(
          {
            droppedBatches: left.entries + this.droppedAtShutdown.batches,
            droppedItems: left.items + this.droppedAtShutdown.items,
            drainedMs: Date.now() - began,
          },
          'exporter stopped before its in-memory queue drained; the rest is dropped (use a persistent queue to keep it)',
        );
      } else {
        log.info('exporter stopped; queue drained');
      }
    }
    await queue?.dispose();
    for (const u of this.unobserve) u();
    this.unobserve = [];
    try {
      await this.o.shutdown?.();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'exporter: error while closing connections');
    }
    this.state = 'stopped';
  }
}
