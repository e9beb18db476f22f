/**
 * Disk queues of backends that are no longer in the ring. With `sending_queue.persistent`, each backend's exporter
 * keeps its queue in a directory of its own; a backend that leaves the ring (a gateway pod rescheduled to a new
 * address, a scale-down) stops draining it, and a Pulse restarted while a backend was down finds its queue left
 * behind. `StrandedQueues` sends such a queue's batches again through the current ring, one at a time (split by
 * trace id like any batch, so each trace still reaches one backend: the one that now owns it), deleting each file
 * once the backends' queues accepted its parts. When the ring refuses (a full queue, no backend), it stops and
 * tries that directory again after `retryMs`; a directory whose backend rejoins the ring is handed back to it.
 *
 * Delivery stays at-least-once: a stop between a batch's acceptance and its file's deletion sends it again.
 */
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import type { BoundCounter } from '../../core/telemetry.js';
import { PersistentQueue } from '../exporterhelper/persistent-queue.js';
import { traceBatchCodec } from '../exporterhelper/traces.js';

export interface StrandedQueuesOptions {
  readonly logger: Logger;
  /** Hands a batch to the current ring; rejects when a backend's queue refuses its part (or there is none). */
  consume(batch: TraceBatch): Promise<void>;
  readonly retryMs: number;
  /** Spans sent again through the ring. */
  readonly moved: BoundCounter;
  readonly corruptFiles: BoundCounter;
}

/** A backend's queue directory: its `host:port` with every character but letters, digits, `.`, `_` and `-` as `_`. */
const BACKEND_DIR = /^[A-Za-z0-9._-]+_\d{1,5}$/;

interface Move {
  readonly stop: AbortController;
  done: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

export class StrandedQueues {
  private readonly moves = new Map<string, Move>();
  private closed = false;

  constructor(private readonly o: StrandedQueuesOptions) {}

  /**
   * Directories under `base` named as a backend's queue is (`<host>_<port>`, see the exporter's queueDir) that are
   * not in `active`. Nothing else under `base` is touched.
   */
  static async find(base: string, active: ReadonlySet<string>): Promise<string[]> {
    let names: string[];
    try {
      names = (await readdir(base, { withFileTypes: true })).filter((d) => d.isDirectory() && BACKEND_DIR.test(d.name)).map((d) => d.name);
    } catch {
      return []; // nothing was ever queued here
    }
    return names.map((n) => join(base, n)).filter((dir) => !active.has(dir));
  }

  /** Starts sending `dir`'s batches through the ring (nothing if it is already being moved). */
  move(dir: string): void {
    if (this.closed || this.moves.has(dir)) return;
    const move: Move = { stop: new AbortController(), done: Promise.resolve(), timer: undefined };
    this.moves.set(dir, move);
    move.done = this.run(dir, move);
  }

  /** Stops moving `dir` (its backend rejoins the ring) and resolves once its queue is closed, for the backend to open. */
  async release(dir: string): Promise<void> {
    const move = this.moves.get(dir);
    if (move === undefined) return;
    move.stop.abort();
    if (move.timer) clearTimeout(move.timer);
    await move.done;
    this.moves.delete(dir);
  }

  /** Stops every move (shutdown): what is not moved yet stays on disk for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.moves.keys()].map((dir) => this.release(dir)));
  }

  get moving(): number {
    return this.moves.size;
  }

  private async run(dir: string, move: Move): Promise<void> {
    const signal = move.stop.signal;
    while (!signal.aborted) {
      if ((await this.moveOnce(dir, signal)) === 'empty') {
        if (signal.aborted) return;
        this.moves.delete(dir);
        await rmdir(dir).catch(() => undefined); // only if empty: a file written meanwhile stays for the next start
        return;
      }
      // Refused, or the directory could not be opened: again later, unless released or closed meanwhile.
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        move.timer = setTimeout(wake, this.o.retryMs);
        signal.addEventListener('abort', wake, { once: true });
      });
      move.timer = undefined;
    }
  }

  private async moveOnce(dir: string, signal: AbortSignal): Promise<'empty' | 'refused'> {
    const queue = new PersistentQueue<TraceBatch>({
      directory: dir,
      maxEntries: Number.MAX_SAFE_INTEGER,
      maxBytes: Number.MAX_SAFE_INTEGER,
      fsync: false,
      encode: traceBatchCodec.encode,
      decode: traceBatchCodec.decode,
      logger: this.o.logger,
      corruptFiles: this.o.corruptFiles,
    });
    try {
      await queue.open();
    } catch (err) {
      this.o.logger.warn({ directory: dir, err: errorMessage(err) }, `cannot open the queue left by a backend no longer in the ring (${errorMessage(err)}); trying again in ${this.o.retryMs} ms`);
      return 'refused';
    }
    const found = queue.waiting();
    if (found.entries > 0) {
      this.o.logger.info({ directory: dir, batches: found.entries, spans: found.items }, 'sending the queue of a backend no longer in the ring to the backends that now own its traces');
    }
    try {
      while (!signal.aborted && queue.waiting().entries > 0) {
        const entry = await queue.take(signal);
        if (entry === undefined) break;
        const batch = await queue.load(entry);
        if (batch === undefined) continue; // unreadable: counted, logged and deleted by the queue
        try {
          await this.o.consume(batch);
        } catch (err) {
          queue.release(entry); // the file stays: the next try reads it again
          this.o.logger.warn(
            { directory: dir, err: errorMessage(err) },
            `the ring refused a batch of a backend no longer in it (${errorMessage(err)}); trying again in ${this.o.retryMs} ms`,
          );
          return 'refused';
        }
        queue.done(entry);
        this.o.moved.inc(entry.count);
      }
      return queue.waiting().entries === 0 && !signal.aborted ? 'empty' : 'refused';
    } finally {
      queue.close();
      await queue.dispose();
    }
  }
}
