/**
 * An append-only JSON Lines file with bounded buffering: lines go into a write stream; when more than
 * `maxBuffered` bytes wait for the disk, `write()` waits for the stream to drain, but at most `writeTimeout`, then
 * refuses with a RetryableError. So a slow or stuck disk costs bounded memory and never blocks forever.
 *
 * A write error (disk full, file removed with its directory) is logged, and the next write reopens the file; lines
 * buffered in the failed stream are lost (this is a debugging aid, not a durable sink).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { PulseError, RetryableError, errorMessage } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';

export class JsonLinesFile {
  private stream: WriteStream | undefined;
  private readonly throttle = new LogThrottle();

  constructor(
    private readonly path: string,
    private readonly maxBuffered: number,
    private readonly writeTimeout: number,
    private readonly logger: Logger,
  ) {}

  /** Opens (creating the directory); rejects with a clear error when the file cannot be opened for appending. */
  async open(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const s = this.createStream();
      await once(s, 'open');
    } catch (err) {
      this.stream = undefined;
      throw new PulseError('PULSE_ERR_DEBUG_FILE', `cannot open ${this.path} for appending: ${errorMessage(err)}; fix the path or its permissions`, {
        cause: err,
      });
    }
  }

  /** Appends one line (which must end with '\n'). */
  async write(line: string): Promise<void> {
    let s = this.stream ?? this.createStream();
    if (s.writableLength + line.length > this.maxBuffered && s.writableLength > 0) {
      await this.drain(s);
      s = this.stream ?? this.createStream();
    }
    s.write(line);
  }

  /** Flushes and closes; gives up (destroys the stream) after `writeTimeout`. */
  async close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (!s || s.destroyed) return;
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), this.writeTimeout);
    t.unref();
    try {
      s.end();
      await once(s, 'close', { signal: ac.signal });
    } catch {
      s.destroy();
    } finally {
      clearTimeout(t);
    }
  }

  private async drain(s: WriteStream): Promise<void> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), this.writeTimeout);
    t.unref();
    try {
      await once(s, 'drain', { signal: ac.signal });
    } catch (err) {
      if (ac.signal.aborted) {
        throw new RetryableError(
          'PULSE_ERR_DEBUG_FILE_BACKLOG',
          `the debug file ${this.path} has not caught up within ${this.writeTimeout} ms (${s.writableLength} bytes waiting); the disk is too slow for the traffic`,
          { resourceExhausted: true, retryAfterMs: 1000 },
        );
      }
      // The stream failed while we waited; the error handler logged it and the caller's write reopens the file.
      void err;
    } finally {
      clearTimeout(t);
    }
  }

  private createStream(): WriteStream {
    const s = createWriteStream(this.path, { flags: 'a' });
    s.on('error', (err) => {
      if (this.stream === s) this.stream = undefined;
      const suppressed = this.throttle.take('write');
      if (suppressed !== undefined) {
        this.logger.error({ path: this.path, err: errorMessage(err), suppressed }, 'debug exporter: cannot write the file; reopening it on the next batch');
      }
    });
    this.stream = s;
    return s;
  }
}
