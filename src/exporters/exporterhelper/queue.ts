/**
 * The contract between the queued exporter and its two queue implementations (memory-queue.ts,
 * persistent-queue.ts). An entry is "held" from `offer()` until `done()` or `release()`: while it waits and while it
 * is being sent. Capacity (`queue_size` entries, `max_bytes`) counts held entries, so a queue on disk never holds
 * more files than configured, in flight or not.
 */

export interface QueueEntry {
  /** Items (spans) in the entry, for metrics. */
  readonly count: number;
  /** Bytes the entry holds: an estimate in memory, the file size on disk. */
  readonly bytes: number;
}

export interface ExportQueue<T, E extends QueueEntry = QueueEntry> {
  /** True when entries survive a restart. */
  readonly durable: boolean;
  /** Entries held (waiting or being sent). */
  readonly size: number;
  /** Bytes held. */
  readonly bytes: number;
  /** Loads what a previous run left (persistent queue); rejects with a clear error when storage is unusable. */
  open(): Promise<void>;
  /**
   * Adds an item. Resolves `false` when the queue is full (by entries or bytes), `true` once the item is held (on
   * disk: written). Rejects with a `RetryableError` when it could not be stored.
   */
  offer(item: T, count: number, bytes: number): Promise<boolean>;
  /**
   * The oldest waiting entry, taken out of the waiting line. Waits for one when none is waiting. Resolves
   * `undefined` when `signal` aborts, when the queue is closed and empty, or when the oldest entry holds more than
   * `maxCount` items (it then stays first in line).
   */
  take(signal: AbortSignal, maxCount?: number): Promise<E | undefined>;
  /** The item of a taken entry; `undefined` when it cannot be read back (the queue counted, logged and removed it). */
  load(entry: E): Promise<T | undefined>;
  /** The entry is finished (sent, or dropped for good) and stops being held. */
  done(entry: E): void;
  /** The entry was not finished because of shutdown: a durable queue keeps it for the next start. */
  release(entry: E): void;
  /** Stops waiting: from now on `take()` resolves `undefined` as soon as nothing is waiting. */
  close(): void;
  /** Entries and items waiting (not taken). */
  waiting(): { entries: number; items: number };
  /** Finishes storage work (pending writes, the directory lock). */
  dispose(): Promise<void>;
}

/** The waiting line both queues share: FIFO, with waiters woken on every change. */
export class WaitLine<E extends QueueEntry> {
  private items: E[] = [];
  private head = 0;
  private waiters = new Set<() => void>();
  closed = false;

  /** `onTake` runs synchronously as an entry leaves the line, before any other code can observe it. */
  constructor(private readonly onTake?: (e: E) => void) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(entry: E): void {
    this.items.push(entry);
    this.wake();
  }

  /** Removes an entry that is still waiting (a persistent write failed); false when it was already taken. */
  remove(entry: E): boolean {
    const i = this.items.indexOf(entry, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  peek(): E | undefined {
    return this.items[this.head];
  }

  /** The oldest waiting entry, taken out of the line at once; `undefined` when none waits. */
  takeFirst(): E | undefined {
    const e = this.items[this.head];
    if (e === undefined) return undefined;
    this.items[this.head] = undefined as unknown as E;
    this.head++;
    this.onTake?.(e);
    return e;
  }

  /** Entries and items waiting (not taken): `ExportQueue.waiting()` of both queues. */
  waiting(): { entries: number; items: number } {
    let items = 0;
    for (let i = this.head; i < this.items.length; i++) items += this.items[i]!.count;
    return { entries: this.length, items };
  }

  close(): void {
    this.closed = true;
    this.wake();
  }

  async take(signal: AbortSignal, maxCount: number): Promise<E | undefined> {
    while (true) {
      if (signal.aborted) return undefined;
      const first = this.items[this.head];
      if (first !== undefined) {
        if (first.count > maxCount) return undefined;
        const e = this.takeFirst()!;
        // Compact once the consumed prefix dominates, so the array does not grow without bound and shift() is
        // never paid (Array.prototype.shift) per take.
        if (this.head > 64 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        return e;
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const onWake = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          this.waiters.delete(onWake);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiters.add(onWake);
      });
    }
  }

  private wake(): void {
    if (this.waiters.size === 0) return;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
}
