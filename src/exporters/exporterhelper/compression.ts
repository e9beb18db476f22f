/**
 * Request-body compression shared by the OTLP exporters: the `compression_params` config field and the gzip call.
 *
 * Level 1 (zlib's fastest) is the default. On OTLP protobuf bodies of 500 spans it measured 0.73 µs per span
 * against 1.74 µs at zlib's default level 6, for ~12% more bytes (BENCHMARKS.md, `bench/e2e/`); for a sidecar or
 * gateway the CPU is the scarcer resource. Raise it when bandwidth costs more than CPU.
 *
 * The async `gzip` runs on libuv's thread pool, off the event loop. Its output buffer is 64 KiB, which holds a
 * compressed 500-span request in one piece of pool work (16 KiB, the default, takes two round trips); a larger
 * one costs the event loop more to allocate than it saves (measured: 32 µs of event-loop time per request at
 * 64 KiB, 114 µs at 256 KiB).
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { z } from 'zod';

const gzipAsync = promisify(gzipCb);

const DEFAULT_GZIP_LEVEL = 1;

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

/** gzip at `level` on the thread pool. */
export function gzipBody(raw: Uint8Array, level: number): Promise<Buffer> {
  return gzipAsync(raw, { level, chunkSize: 64 * 1024 });
}
