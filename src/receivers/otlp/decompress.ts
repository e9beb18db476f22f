/**
 * Request body decompression with a hard output cap, for both transports.
 *
 * The sync zlib functions are used on purpose: a body is at most `max_request_body_size` (20 MiB by default) and
 * inflating it in one call is ~2.5M spans/s (PERFORMANCE.md), cheaper than a stream's per-chunk callbacks. The cap
 * is zlib's `maxOutputLength`, which zlib checks while inflating, so a gzip bomb (1 GB of zeros in 1 MB) is cut off
 * after `maxBytes` of output rather than inflated first and measured after.
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { PermanentError } from '../../core/errors.js';

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
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PermanentError(TOO_LARGE, `the ${encoding} body decompresses to more than ${maxBytes} bytes, the configured limit; send smaller batches`);
    }
    throw new PermanentError(
      'PULSE_ERR_BAD_COMPRESSION',
      `the body is not valid ${encoding} data (${(err as Error).message}); check the Content-Encoding header matches the body`,
    );
  }
}

/** RFC 1950: CM = 8 (deflate), CINFO ≤ 7, and the two header bytes are a multiple of 31. */
function hasZlibHeader(b: Buffer): boolean {
  if (b.length < 2) return false;
  const cmf = b[0]!;
  const flg = b[1]!;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 === 0;
}
