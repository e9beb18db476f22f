/**
 * The persistent sending queue: one file per batch in a directory (format in queue-file.ts).
 *
 * - `offer()` encodes the item, writes `<name>.tmp`, optionally fsyncs it, renames it into place (a reader never
 *   sees half a file), optionally fsyncs the directory, and only then resolves: a batch accepted is a batch on disk.
 * - Memory holds only the file list, not the items: an entry's decoded item is kept just until its write completes
 *   (or until a consumer takes it, which is the common case when the destination keeps up), then it is read back
 *   from disk when its turn comes. So a long outage fills the disk up to `queue_size`/`max_bytes`, not the heap.
 * - A file is deleted after its batch was sent or dropped for good. Delivery is at-least-once: a crash between a
 *   successful send and the deletion sends that batch again after restart (the ClickHouse exporter deduplicates).
 * - `open()` deletes leftover `.tmp` files, then queues the files of earlier runs in their original order, ahead of
 *   anything new. A file that cannot be read back (torn, bit-rotted, undecodable) is counted, logged and deleted.
 * - A lock file (`queue.lock`, holding the pid) keeps two instances from sending the same directory.
 */
import { mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PulseError, RetryableError, PermanentError, errorMessage } from '../../core/errors.js';
import { WaitLine, type ExportQueue, type QueueEntry } from './queue.js';
import { FILE_RE, decodeQueueFile, queueFileParts, entryFileName } from './queue-file.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { BoundCounter } from '../../core/telemetry.js';
import type { QueueFileParts } from './queue-file.js';

/** Errors reading a queue file that say nothing about the file: it is read again later, never deleted for them. */
const TRANSIENT_READ_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EBUSY', 'EINTR', 'EIO']);

export interface PersistentQueueOptions<T> {
  directory: string;
  maxEntries: number;
  maxBytes: number;
  fsync: boolean;
  encode(item: T): Uint8Array | readonly Uint8Array[];
  decode(bytes: Uint8Array): T;
  logger: Logger;
  corruptFiles: BoundCounter;
  /** Reads a queue file back; `fs.readFile` unless a test stands in for a failing disk. */
  readFile?: (file: string) => Promise<Buffer>;
}

interface DiskEntry<T> extends QueueEntry {
  readonly file: string;
  /** Present until the write completed while nobody had taken the entry; then read back from disk. */
  item: T | undefined;
  taken: boolean;
  /** Resolves whether the file was written; entries of earlier runs are written already. */
  written: Promise<boolean>;
}

const LOCK_FILE = 'queue.lock';
/** Lock files this process holds, so that a stale lock left by an earlier process with our pid is told apart. */
const heldLocks = new Set<string>();

export class PersistentQueue<T> implements ExportQueue<T, DiskEntry<T>> {
  readonly durable = true;
  private readonly dir: string;
  private readonly line = new WaitLine<DiskEntry<T>>((e) => (e.taken = true));
  private held = 0;
  private heldBytes = 0;
  private nextSeq = 1;
  private opened = false;
  /** Writes and deletions in progress, awaited by dispose(). */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly o: PersistentQueueOptions<T>) {
    this.dir = resolve(o.directory);
  }

  get size(): number {
    return this.held;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw new PulseError(
        'PULSE_ERR_QUEUE_DIR',
        `cannot create the persistent queue directory ${this.dir}: ${errorMessage(err)}; make it writable or set sending_queue.storage.directory`,
        { cause: err },
      );
    }
    await this.lock();
    try {
      await this.loadEarlierRuns();
    } catch (err) {
      heldLocks.delete(this.lockPath());
      await unlink(this.lockPath()).catch(() => undefined);
      throw new PulseError('PULSE_ERR_QUEUE_DIR', `cannot read the persistent queue directory ${this.dir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Queues the files of earlier runs in order; deletes leftovers of interrupted writes. */
  private async loadEarlierRuns(): Promise<void> {
    const names = await readdir(this.dir);
    const found: Array<{ seq: number; count: number; name: string }> = [];
    for (const name of names) {
      if (name.endsWith('.tmp')) {
        // An interrupted write: the batch was never acknowledged to its sender, which will have retried.
        await unlink(join(this.dir, name)).catch(() => undefined);
        continue;
      }
      const m = FILE_RE.exec(name);
      if (m) found.push({ seq: Number(m[1]), count: Number(m[2]), name });
    }
    found.sort((a, b) => a.seq - b.seq);
    let items = 0;
    for (const f of found) {
      const path = join(this.dir, f.name);
      let bytes = 0;
      try {
        bytes = (await stat(path)).size;
      } catch {
        continue;
      }
      this.held++;
      this.heldBytes += bytes;
      items += f.count;
      this.line.push({ file: path, count: f.count, bytes, item: undefined, taken: false, written: Promise.resolve(true) });
      this.nextSeq = f.seq + 1;
    }
    this.opened = true;
    if (found.length > 0) {
      this.o.logger.info(
        { directory: this.dir, batches: this.held, items, bytes: this.heldBytes },
        'persistent queue: resuming batches left by an earlier run; they are sent first',
      );
    }
  }

  async offer(item: T, count: number): Promise<boolean> {
    if (!this.opened) throw new RetryableError('PULSE_ERR_NOT_STARTED', 'the exporter has not started yet; retry shortly');
    if (this.held >= this.o.maxEntries) return false; // before paying for the encoding
    let data: QueueFileParts;
    try {
      data = queueFileParts(count, this.o.encode(item));
    } catch (err) {
      throw new PermanentError('PULSE_ERR_QUEUE_ENCODE', `cannot serialise the batch for the persistent queue: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    if (this.held >= this.o.maxEntries || (this.held > 0 && this.heldBytes + data.bytes > this.o.maxBytes)) return false;
    const file = join(this.dir, entryFileName(this.nextSeq++, count));
    let settle!: (ok: boolean) => void;
    const entry: DiskEntry<T> = {
      file,
      count,
      bytes: data.bytes,
      item,
      taken: false,
      written: new Promise<boolean>((r) => (settle = r)),
    };
    // Reserve the place in line before writing, so that order follows consume() calls, not write completion.
    this.held++;
    this.heldBytes += data.bytes;
    this.line.push(entry);
    const write = this.write(file, data);
    this.track(write);
    try {
      await write;
    } catch (err) {
      this.held--;
      this.heldBytes -= data.bytes;
      this.line.remove(entry);
      entry.item = undefined;
      settle(false);
      throw new RetryableError(
        'PULSE_ERR_QUEUE_WRITE',
        `cannot write the batch to the persistent queue in ${this.dir}: ${errorMessage(err)}; check free disk space and permissions`,
        { cause: err },
      );
    }
    if (!entry.taken) entry.item = undefined;
    settle(true);
    return true;
  }

  take(signal: AbortSignal, maxCount = Infinity): Promise<DiskEntry<T> | undefined> {
    return this.line.take(signal, maxCount);
  }

  async load(entry: DiskEntry<T>): Promise<T | undefined> {
    if (!(await entry.written)) return undefined; // offer() already un-held it and told its caller
    if (entry.item !== undefined) {
      const item = entry.item;
      entry.item = undefined;
      return item;
    }
    let reason: string;
    for (let waitMs = 100; ; waitMs = Math.min(waitMs * 2, 5_000)) {
      let bytes: Buffer;
      try {
        bytes = await (this.o.readFile ?? readFile)(entry.file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === undefined || !TRANSIENT_READ_ERRORS.has(code)) {
          reason = errorMessage(err);
          break;
        }
        // Out of file descriptors or memory, or a flaky disk: the file is fine, reading it is not possible now.
        // Deleting it as corrupt would lose a good batch (and the next ones, as fast as they are tried): wait and
        // read it again; at shutdown it stays on disk for the next start.
        if (this.line.closed) {
          this.release(entry);
          return undefined;
        }
        this.warnTransient(entry.file, err);
        await new Promise((r) => setTimeout(r, waitMs).unref());
        continue;
      }
      try {
        const parsed = decodeQueueFile(bytes);
        if (typeof parsed !== 'string') return this.o.decode(parsed.payload);
        reason = parsed;
      } catch (err) {
        reason = errorMessage(err);
      }
      break;
    }
    this.o.corruptFiles.inc();
    this.o.logger.error(
      { file: entry.file, reason, items: entry.count },
      'persistent queue: a queued batch cannot be read back; deleting the file and skipping it',
    );
    this.done(entry);
    return undefined;
  }

  done(entry: DiskEntry<T>): void {
    this.held--;
    this.heldBytes -= entry.bytes;
    entry.item = undefined;
    this.track(
      unlink(entry.file).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        this.o.logger.warn(
          { file: entry.file, err: errorMessage(err) },
          'persistent queue: cannot delete a finished batch; it will be sent again after a restart',
        );
      }),
    );
  }

  release(entry: DiskEntry<T>): void {
    this.held--;
    this.heldBytes -= entry.bytes;
    entry.item = undefined;
  }

  private readonly transientWarnings = new LogThrottle(30_000);

  private warnTransient(file: string, err: unknown): void {
    const skipped = this.transientWarnings.take('read');
    if (skipped === undefined) return;
    this.o.logger.warn({ file, err: errorMessage(err), skipped }, 'persistent queue: cannot read a queued batch now; retrying it (the file is kept)');
  }

  close(): void {
    this.line.close();
  }

  waiting(): { entries: number; items: number } {
    return this.line.waiting();
  }

  async dispose(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.opened) {
      this.opened = false;
      heldLocks.delete(this.lockPath());
      await unlink(this.lockPath()).catch(() => undefined);
    }
  }

  private track(p: Promise<unknown>): void {
    const guarded = p.catch(() => undefined);
    this.pending.add(guarded);
    void guarded.finally(() => this.pending.delete(guarded));
  }

  private async write(file: string, data: QueueFileParts): Promise<void> {
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w');
    let complete = false;
    try {
      // Header and payload pieces in one system call, without joining them into one buffer first.
      let written = (await fh.writev(data.parts as Uint8Array[], 0)).bytesWritten;
      if (written < data.bytes) {
        // A short write (rare on regular files): the rest, joined, until it is all down.
        const rest = Buffer.concat(data.parts).subarray(written);
        for (let at = 0; at < rest.length; ) {
          const n = (await fh.write(rest, at, rest.length - at, written)).bytesWritten;
          at += n;
          written += n;
        }
      }
      if (this.o.fsync) await fh.sync();
      complete = true;
    } finally {
      await fh.close();
      // A write or sync that failed (the disk is full) leaves no partial file behind until the next start.
      if (!complete) await unlink(tmp).catch(() => undefined);
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    if (this.o.fsync) {
      // Makes the rename itself durable; not supported everywhere (Windows), where the file sync has to do.
      const dh = await open(this.dir, 'r').catch(() => undefined);
      if (dh) await dh.sync().catch(() => undefined).finally(() => dh.close());
    }
  }

  private lockPath(): string {
    return join(this.dir, LOCK_FILE);
  }

  private async lock(): Promise<void> {
    const path = this.lockPath();
    if (heldLocks.has(path)) throw lockedError(this.dir, process.pid);
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && processAlive(pid)) throw lockedError(this.dir, pid);
      // Stale: the process that held it is gone (or was an earlier life of this pid, e.g. pid 1 in a container).
      await writeFile(path, String(process.pid));
      this.o.logger.info({ directory: this.dir, stalePid: pid }, 'persistent queue: took over a stale lock');
    }
    heldLocks.add(path);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockedError(dir: string, pid: number): PulseError {
  return new PulseError(
    'PULSE_ERR_QUEUE_LOCKED',
    `the persistent queue directory ${dir} is in use by process ${pid}${pid === process.pid ? ' (another exporter in this process)' : ''}; give each exporter its own sending_queue.storage.directory, or remove ${join(dir, LOCK_FILE)} if that process is gone`,
  );
}
