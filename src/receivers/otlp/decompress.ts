/**
 * Request body decompression with a hard output cap, for both transports.
 *
 * Bodies of `ASYNC_FROM_BYTES` or more are inflated on libuv's thread pool (one call, the output buffer sized for
 * the whole body), so that the event loop decodes one request while another inflates — on a 2-core machine that
 * is the second core working for the receiver (~0.35 µs per span of a 500-span request moved off the main thread).
 * Smaller bodies are inflated in place: the round trip to the pool would cost more than inflating them. The cap is
 * checked while inflating (zlib's `maxOutputLength` in place; on the pool, core/zlib-once.ts after each output
 * chunk, which is at most `maxBytes` + 1 bytes), so a gzip bomb (1 GB of zeros in 1 MB) is cut off after about
 * `maxBytes` of output rather than inflated first and measured after.
 *
 * The output counts against the receiver's in-flight budget before zlib allocates it (the request's `Lease`): every output
 * buffer on the pool is reserved first, so concurrent bombs (each of which would hold ~`maxBytes` until cut off)
 * are refused as "busy" once the budget is taken, rather than growing the heap by gigabytes.
 */
import { Gunzip, gunzipSync, Inflate, InflateRaw, inflateRawSync, inflateSync } from 'node:zlib';
import { crc32 } from '../../core/crc32.js';
import { PermanentError } from '../../core/errors.js';
import { zlibOnce } from '../../core/zlib-once.js';
import type { Lease } from './inflight.js';

export type BodyEncoding = 'identity' | 'gzip' | 'deflate';

/** Thrown when the decompressed body would exceed the cap; transports answer 413 / RESOURCE_EXHAUSTED. */
export const TOO_LARGE = 'PULSE_ERR_TOO_LARGE';

/** Maps a Content-Encoding / grpc-encoding value to a supported encoding; `undefined` when unsupported. */
export function parseBodyEncoding(header: string | undefined): BodyEncoding | undefined {
  if (header === undefined) return 'identity';
  const v = header.trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate') return 'deflate';
  return undefined;
}

/**
 * Returns the decompressed body, at most `maxBytes` long. Throws `PermanentError` with code `PULSE_ERR_TOO_LARGE`
 * when the output would be longer, or `PULSE_ERR_BAD_COMPRESSION` when the bytes are not valid for the encoding.
 * `deflate` accepts both the zlib-wrapped form (RFC 1950, what HTTP means by it) and raw deflate (RFC 1951, what
 * some clients send anyway).
 */
export function decompressBody(body: Buffer, encoding: BodyEncoding, maxBytes: number): Buffer {
  if (encoding === 'identity') return body;
  const opts = { maxOutputLength: Math.max(1, maxBytes) };
  try {
    if (encoding === 'gzip') return gunzipSync(body, opts);
    return hasZlibHeader(body) ? inflateSync(body, opts) : inflateRawSync(body, opts);
  } catch (err) {
    throw decompressError(err, encoding, maxBytes);
  }
}

/** Compressed bodies at least this large are inflated on the thread pool (~60 spans of OTLP protobuf). */
export const ASYNC_FROM_BYTES = 4096;

/** The in-flight budget could not hold the decompressed body: answered retryable (503 / UNAVAILABLE). */
export class BudgetFullError extends Error {
  constructor() {
    super('the decompressed body does not fit the in-flight budget now');
  }
}

/**
 * `decompressBody`, on the thread pool for bodies of `ASYNC_FROM_BYTES` or more (in one pool job, see
 * core/zlib-once.ts). Rejects with the same errors, or `BudgetFullError` when an output buffer could not be
 * reserved in `lease`. The decompressed body is counted there either way (before it is allocated on the
 * pool; after, for small bodies inflated in place, which hold at most ~1,000× 4 KiB once at a time).
 */
export async function decompressBodyAsync(body: Buffer, encoding: BodyEncoding, maxBytes: number, lease: Lease): Promise<Buffer> {
  if (encoding === 'identity') return body;
  if (body.length < ASYNC_FROM_BYTES) {
    const out = decompressBody(body, encoding, maxBytes);
    lease.add(out.length);
    return out;
  }
  const chunkSize = outputChunkSize(body, encoding, maxBytes);
  if (!lease.tryReserve(chunkSize)) throw new BudgetFullError();
  // zlib allocates the next output buffer once one is full: reserve it when a full one comes out (refused: the
  // stream stops with ERR_OUTPUT_REFUSED).
  const opts = {
    maxOutputLength: Math.max(1, maxBytes),
    chunkSize,
    onChunk: (chunkLength: number) => chunkLength < chunkSize || lease.tryReserve(chunkSize),
  };
  try {
    return await zlibOnce(encoding === 'gzip' ? Gunzip : hasZlibHeader(body) ? Inflate : InflateRaw, body, opts);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_OUTPUT_REFUSED') throw new BudgetFullError();
    throw decompressError(err, encoding, maxBytes);
  }
}

/**
 * The size of the output buffer for one piece of pool work. Node allocates it for every call, and V8 starts a
 * young-generation GC for every few tens of MB of such buffers, so it should be no larger than the output.
 * A single-member gzip body says its inflated size in its last four bytes (ISIZE, RFC 1952 §2.3.1): one byte more
 * than that (at exactly the size, Node would allocate a second buffer to learn that the stream ended). ISIZE is
 * the sender's word, so it is believed only up to 32× the body (a 20-byte body claiming 4 GB gets 64 KiB; an
 * output longer than the buffer only costs one more buffer and a join). Otherwise (deflate, several gzip members,
 * or an ISIZE smaller than the body, which only several members explain) 4× the body: OTLP protobuf at gzip's
 * default level inflates 4–8×.
 */
export function outputChunkSize(body: Buffer, encoding: BodyEncoding, maxBytes: number): number {
  const cap = Math.max(MIN_CHUNK, maxBytes + 1);
  if (encoding === 'gzip' && body.length >= 18) {
    const isize = body.readUInt32LE(body.length - 4);
    if (isize >= body.length) return Math.min(Math.max(MIN_CHUNK, isize + 1), Math.max(64 * 1024, body.length * 32), cap);
  }
  return Math.min(Math.max(64 * 1024, body.length * 4), cap);
}

/** zlib's smallest `chunkSize`. */
const MIN_CHUNK = 64;

function decompressError(err: unknown, encoding: BodyEncoding, maxBytes: number): PermanentError {
  if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
    return new PermanentError(TOO_LARGE, `the ${encoding} body decompresses to more than ${maxBytes} bytes, the configured limit; send smaller batches`);
  }
  return new PermanentError(
    'PULSE_ERR_BAD_COMPRESSION',
    `the body is not valid ${encoding} data (${(err as Error).message}); check the Content-Encoding header matches the body`,
  );
}

/** RFC 1950: CM = 8 (deflate), CINFO ≤ 7, and the two header bytes are a multiple of 31. */
function hasZlibHeader(b: Buffer): boolean {
  if (b.length < 2) return false;
  const cmf = b[0]!;
  const flg = b[1]!;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

/**
 * Whether a gzip body that inflated to `inflated` ends with its last member's trailer, so that it can be forwarded
 * as it came (TraceBatch.received). zlib also accepts zero bytes after the last member, which other OTLP servers
 * (Go's gzip reader, so the OpenTelemetry Collector) refuse. A single member's trailer ends with the inflated length
 * (ISIZE, RFC 1952 §2.3.1), which padding would have to imitate exactly; for several members the last one's CRC-32
 * is checked over the last ISIZE bytes of the output (~6 µs for a 100-span member).
 */
export function gzipEndsCleanly(body: Uint8Array, inflated: Uint8Array): boolean {
  if (body.length < 18) return false;
  const at = body.length - 8;
  const crc = (body[at]! | (body[at + 1]! << 8) | (body[at + 2]! << 16) | (body[at + 3]! << 24)) >>> 0;
  const isize = (body[at + 4]! | (body[at + 5]! << 8) | (body[at + 6]! << 16) | (body[at + 7]! << 24)) >>> 0;
  if (isize === inflated.length % 2 ** 32) return true;
  return isize > 0 && isize < inflated.length && crc32(inflated.subarray(inflated.length - isize)) === crc;
}
