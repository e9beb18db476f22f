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
 * Large bodies are gzipped on libuv's thread pool, off the event loop, in one pool job (core/zlib-once.ts); small
 * ones at once (`SYNC_GZIP_BELOW_BYTES`). The output buffer is 64 KiB, which holds a
 * compressed 500-span request in one piece of pool work (16 KiB, the default, takes two round trips); a larger
 * one costs the event loop more to allocate than it saves (measured: 32 µs of event-loop time per request at
 * 64 KiB, 114 µs at 256 KiB).
 */
import { Gzip, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { BufferPool } from '../../core/buffer-pool.js';
import type { ReceivedRequest } from '../../core/model.js';
import { zlibOnce } from '../../core/zlib-once.js';

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

/** gzip at `level`: on the thread pool, or at once for a body under `SYNC_GZIP_BELOW_BYTES`. */
export function gzipBody(raw: Uint8Array, level: number): Promise<Buffer> {
  if (raw.length < SYNC_GZIP_BELOW_BYTES) {
    try {
      return Promise.resolve(gzipSync(raw, { level, memLevel: MEM_LEVEL }));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
  return zlibOnce(Gzip, raw, { level, memLevel: MEM_LEVEL, chunkSize: 64 * 1024 });
}

/**
 * The body for a request nothing changed (`TraceBatch.received`), instead of encoding its batch: with `gzip`, the
 * body as the sender gzipped it, or its protobuf gzipped here when it came uncompressed; else the protobuf as it came.
 */
export async function receivedBody(received: ReceivedRequest, gzip: boolean, level: number): Promise<Uint8Array> {
  if (!gzip) return received.protobuf;
  return received.gzip ?? (await gzipBody(received.protobuf, level));
}

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
export async function encodeAndGzip(encode: (allocate: (n: number) => Uint8Array) => Uint8Array, pool: ScratchBuffers, level: number): Promise<Buffer> {
  const raw = encode((n) => pool.take(n));
  try {
    return await gzipBody(raw, level);
  } finally {
    pool.release(raw);
  }
}
