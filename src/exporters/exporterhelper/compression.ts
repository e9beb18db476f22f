/**
 * Request-body compression shared by the OTLP exporters: the `compression_params` config field and the gzip call.
 *
 * Level 1 (zlib's fastest) is the default. On OTLP protobuf bodies of 500 spans it measured 0.73 µs per span
 * against 1.74 µs at zlib's default level 6, for ~12% more bytes (BENCHMARKS.md, `bench/e2e/`); for a sidecar or
 * gateway the CPU is the scarcer resource. Raise it when bandwidth costs more than CPU.
 *
 * zlib's largest hash table (`memLevel` 9, +128 KiB per stream in flight) makes level 1 faster still on these
 * bodies: 0.92–1.04 → 0.81–0.87 µs per span of a 500-span request, for 0.3% fewer bytes; small bodies cost the same.
 *
 * Large bodies are gzipped on libuv's thread pool, off the event loop, in one pool job each, on reused streams
 * (`Gzipper`); small bodies are gzipped at once (`SYNC_GZIP_BELOW_BYTES`). The output buffer is 64 KiB, which holds a
 * compressed 500-span request in one piece of pool work (16 KiB, the default, takes two round trips); a larger
 * one costs the event loop more to allocate than it saves (measured: 32 µs of event-loop time per request at
 * 64 KiB, 114 µs at 256 KiB).
 */
import { constants, createGzip, gzipSync, type Gzip, type ZlibReset } from 'node:zlib';
import { z } from 'zod';
import { BufferPool } from '../../core/buffer-pool.js';

const DEFAULT_GZIP_LEVEL = 1;
/** zlib's largest: faster at level 1 on OTLP bodies (see above). */
const MEM_LEVEL = 9;

export const compressionParamsField = z
  .object({
    level: z
      .number()
      .int()
      .min(1)
      .max(9)
      .default(DEFAULT_GZIP_LEVEL)
      .describe('gzip level, 1 (fastest, the default) to 9 (smallest)'),
  })
  .prefault({})
  .describe('Tuning of `compression`');

/**
 * Bodies smaller than this are gzipped on the event loop (~30–100 µs): on the pool they would wait behind the big
 * ones and the inflates (measured: a single-span forward waited 9.5 ms at p99 for its gzip at 75k spans/s), and the
 * round trip costs more than compressing them. About 80 spans of OTLP protobuf.
 */
export const SYNC_GZIP_BELOW_BYTES = 32 * 1024;

/**
 * gzip at one level, for one exporter: a body under `SYNC_GZIP_BELOW_BYTES` at once, a larger one on the thread
 * pool through a reused zlib stream.
 *
 * Reused streams: a new gzip stream per request allocated zlib's state (~384 KiB at `memLevel` 9) and a fresh
 * 64 KiB output buffer, which is an ArrayBuffer that counts towards the ~32 MB of young ArrayBuffers after which V8
 * runs a scavenge. A stream here compresses one body at a time with `Z_FINISH` (one gzip member, in one pool job
 * as in core/zlib-once.ts), is reset, and takes the next; members are cut from the same output buffer until it is
 * full. At most `IDLE_STREAMS` wait between requests; more run at once when the exporter sends in parallel.
 */
export class Gzipper {
  private readonly idle: Gzip[] = [];
  private closed = false;

  constructor(readonly level: number) {}

  gzip(raw: Uint8Array): Promise<Buffer> {
    if (raw.length < SYNC_GZIP_BELOW_BYTES) {
      try {
        return Promise.resolve(gzipSync(raw, { level: this.level, memLevel: MEM_LEVEL }));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    const stream = this.idle.pop() ?? this.open();
    return new Promise<Buffer>((resolve, reject) => {
      let first: Buffer | undefined;
      let more: Buffer[] | undefined;
      let length = 0;
      const onData = (chunk: Buffer): void => {
        length += chunk.length;
        if (first === undefined) first = chunk;
        else (more ??= [first]).push(chunk);
      };
      stream.on('data', onData);
      // The callback runs once zlib has answered for the whole body; its output was emitted before.
      stream.write(raw, (err) => {
        stream.off('data', onData);
        if (err) {
          stream.destroy();
          reject(err);
          return;
        }
        this.recycle(stream);
        if (more !== undefined) resolve(Buffer.concat(more, length));
        else resolve(first ?? Buffer.alloc(0));
      });
    });
  }

  /** Frees the idle streams' zlib state; later calls still work, on streams that are closed after one use. */
  close(): void {
    this.closed = true;
    for (const stream of this.idle.splice(0)) stream.close();
  }

  private open(): Gzip {
    const stream = createGzip({ level: this.level, memLevel: MEM_LEVEL, chunkSize: OUTPUT_CHUNK, flush: constants.Z_FINISH });
    // Errors reach the write callback; without a listener the stream would also throw them as an 'error' event.
    stream.on('error', ignore);
    return stream;
  }

  private recycle(stream: Gzip): void {
    if (this.closed || this.idle.length >= IDLE_STREAMS) {
      stream.close();
      return;
    }
    // deflateReset: the next write starts a new gzip member. Node's types list reset() for Deflate only; its zlib
    // binding resets gzip streams the same way (the tests check every member is whole).
    (stream as Gzip & ZlibReset).reset();
    this.idle.push(stream);
  }
}

/** zlib's output buffer for large bodies: a compressed 500-span request fits in one (see the top of this file). */
const OUTPUT_CHUNK = 64 * 1024;
/** Streams kept between requests: one per libuv pool thread. */
const IDLE_STREAMS = 4;

function ignore(): void {}

/**
 * Reusable buffers for uncompressed request bodies, which live only until gzip has read them: a fresh ~200 KB
 * buffer per forwarded 500-span request was a third of the ArrayBuffer bytes Pulse allocated per request
 * (measured: young-generation GCs in 20 s at 65k spans/s, 113 → 95). At most 8 kept, of at most 4 MiB.
 */
export class ScratchBuffers {
  private readonly pool = new BufferPool(8, 4 * 1024 * 1024, 256 * 1024);

  /** A view of exactly `n` bytes of a free buffer (or a new one). Give it back with `release` once it is read. */
  take(n: number): Uint8Array {
    return new Uint8Array(this.pool.take(n), 0, n);
  }

  release(view: Uint8Array): void {
    this.pool.give(view.buffer as ArrayBuffer);
  }
}

/** Encodes with `encode` into a scratch buffer of `pool` and gzips it; the scratch goes back once gzip has read it. */
export async function encodeAndGzip(encode: (allocate: (n: number) => Uint8Array) => Uint8Array, pool: ScratchBuffers, gzipper: Gzipper): Promise<Buffer> {
  const raw = encode((n) => pool.take(n));
  try {
    return await gzipper.gzip(raw);
  } finally {
    pool.release(raw);
  }
}
