/**
 * The in-memory sending queue: a FIFO of items bounded by entries and by an estimate of their bytes. What it holds
 * is lost if the process dies; at shutdown, what could not be sent within the drain period is counted as dropped.
 */
import { WaitLine, type ExportQueue, type QueueEntry } from './queue.js';

interface MemoryEntry<T> extends QueueEntry {
  readonly item: T;
}

export class MemoryQueue<T> implements ExportQueue<T, MemoryEntry<T>> {
  readonly durable = false;
  private readonly line = new WaitLine<MemoryEntry<T>>();
  private held = 0;
  private heldBytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.held;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  async open(): Promise<void> {}

  offer(item: T, count: number, bytes: number): Promise<boolean> {
    // An entry larger than max_bytes on its own is still accepted into an empty queue; otherwise it could never
    // be sent at all.
    if (this.held >= this.maxEntries || (this.held > 0 && this.heldBytes + bytes > this.maxBytes)) {
      return Promise.resolve(false);
    }
    this.held++;
    this.heldBytes += bytes;
    this.line.push({ item, count, bytes });
    return Promise.resolve(true);
  }

  take(signal: AbortSignal, maxCount = Infinity): Promise<MemoryEntry<T> | undefined> {
    return this.line.take(signal, maxCount);
  }

  load(entry: MemoryEntry<T>): Promise<T | undefined> {
    return Promise.resolve(entry.item);
  }

  done(entry: MemoryEntry<T>): void {
    this.held--;
    this.heldBytes -= entry.bytes;
  }

  release(entry: MemoryEntry<T>): void {
    this.done(entry);
  }

  close(): void {
    this.line.close();
  }

  /** Takes every waiting item out of the queue at once, oldest first (handing the queue over on a reload). */
  takeWaiting(): T[] {
    const items: T[] = [];
    for (let e = this.line.takeFirst(); e !== undefined; e = this.line.takeFirst()) {
      items.push(e.item);
      this.done(e);
    }
    return items;
  }

  waiting(): { entries: number; items: number } {
    return this.line.waiting();
  }

  async dispose(): Promise<void> {}
}
