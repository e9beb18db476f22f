import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseGrpcTimeout, percentEncodeGrpcMessage } from '../../../src/receivers/otlp/status.js';
import {
  parseBodyEncoding,
  decompressBody,
  decompressBodyAsync,
  outputChunkSize,
  ASYNC_FROM_BYTES,
  BudgetFullError,
} from '../../../src/receivers/otlp/decompress.js';
import { InflightBudget, Lease } from '../../../src/receivers/otlp/inflight.js';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

describe('gRPC header helpers', () => {
  it('percent-encodes grpc-message per the gRPC spec (UTF-8 bytes, % itself, control characters)', () => {
    expect(percentEncodeGrpcMessage('plain text: ok')).toBe('plain text: ok');
    expect(percentEncodeGrpcMessage('100% full')).toBe('100%25 full');
    expect(percentEncodeGrpcMessage('café\nnext')).toBe('caf%C3%A9%0Anext');
  });

  it('parses grpc-timeout values to ms', () => {
    expect(parseGrpcTimeout('2S')).toBe(2000);
    expect(parseGrpcTimeout('150m')).toBe(150);
    expect(parseGrpcTimeout('1H')).toBe(3_600_000);
    expect(parseGrpcTimeout('5000000u')).toBe(5000);
    expect(parseGrpcTimeout('123456789S')).toBeUndefined();
    expect(parseGrpcTimeout('10x')).toBeUndefined();
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
  });
});

describe('body decompression', () => {
  const data = Buffer.from('x'.repeat(10_000));
  const roomy = () => new Lease(new InflightBudget(1e9));

  it('maps encodings, case-insensitively, and refuses unknown ones', () => {
    expect(parseBodyEncoding(undefined)).toBe('identity');
    expect(parseBodyEncoding('GZIP')).toBe('gzip');
    expect(parseBodyEncoding('deflate')).toBe('deflate');
    expect(parseBodyEncoding('br')).toBeUndefined();
  });

  it('inflates gzip, zlib-wrapped deflate and raw deflate', () => {
    expect(decompressBody(gzipSync(data), 'gzip', 1e6)).toEqual(data);
    expect(decompressBody(deflateSync(data), 'deflate', 1e6)).toEqual(data);
    expect(decompressBody(deflateRawSync(data), 'deflate', 1e6)).toEqual(data);
  });

  it('stops at the output cap with PULSE_ERR_TOO_LARGE, and reports corrupt data as PULSE_ERR_BAD_COMPRESSION', () => {
    expect(() => decompressBody(gzipSync(data), 'gzip', 9_999)).toThrow(expect.objectContaining({ code: 'PULSE_ERR_TOO_LARGE' }));
    expect(() => decompressBody(data, 'gzip', 1e6)).toThrow(expect.objectContaining({ code: 'PULSE_ERR_BAD_COMPRESSION' }));
  });

  it('inflates large bodies on the thread pool with the same results and errors', async () => {
    const big = Buffer.from(randomBytes(100_000).toString('hex')); // 200,000 bytes that gzip only halves
    const gz = gzipSync(big);
    expect(gz.length).toBeGreaterThanOrEqual(ASYNC_FROM_BYTES);
    expect(await decompressBodyAsync(gz, 'gzip', 1e6, roomy())).toEqual(big);
    expect(await decompressBodyAsync(deflateSync(big), 'deflate', 1e6, roomy())).toEqual(big);
    expect(await decompressBodyAsync(deflateRawSync(big), 'deflate', 1e6, roomy())).toEqual(big);
    await expect(decompressBodyAsync(gz, 'gzip', 199_999, roomy())).rejects.toMatchObject({ code: 'PULSE_ERR_TOO_LARGE' });
    // A gzip bomb: 64 MiB of zeros in ~64 KiB is cut off at the cap, not inflated first.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    await expect(decompressBodyAsync(bomb, 'gzip', 1e6, roomy())).rejects.toMatchObject({ code: 'PULSE_ERR_TOO_LARGE' });
    await expect(decompressBodyAsync(Buffer.alloc(ASYNC_FROM_BYTES, 7), 'gzip', 1e6, roomy())).rejects.toMatchObject({ code: 'PULSE_ERR_BAD_COMPRESSION' });
    // Small bodies and identity take the in-place path and still answer.
    expect(await decompressBodyAsync(gzipSync(data), 'gzip', 1e6, roomy())).toEqual(data);
    expect(await decompressBodyAsync(data, 'identity', 1e6, roomy())).toBe(data);
  });

  it('inflates a gzip body into one buffer of the size its trailer states, without trusting an inflated claim', async () => {
    const big = Buffer.from(randomBytes(100_000).toString('hex'));
    const gz = gzipSync(big);
    // V8 starts a young-generation GC per few tens of MB of such buffers: this one holds the output and one byte.
    const out = await decompressBodyAsync(gz, 'gzip', 1e6, roomy());
    expect(out).toEqual(big);
    expect(out.buffer.byteLength).toBe(big.length + 1);
    // Two members: the trailer states only the last one's size; the output is still whole.
    const two = Buffer.concat([gzipSync(big), gzipSync(Buffer.from('tail'))]);
    expect(await decompressBodyAsync(two, 'gzip', 1e6, roomy())).toEqual(Buffer.concat([big, Buffer.from('tail')]));
    // A trailer claiming 4 GB buys at most 32× the body (or 64 KiB), never the whole cap.
    const liar = Buffer.from(gz);
    liar.writeUInt32LE(0xffffffff, liar.length - 4);
    expect(outputChunkSize(liar, 'gzip', 64 * 1024 * 1024)).toBe(Math.max(64 * 1024, liar.length * 32));
    await expect(decompressBodyAsync(liar, 'gzip', 1e6, roomy())).rejects.toMatchObject({ code: 'PULSE_ERR_BAD_COMPRESSION' });
    // Deflate has no trailer size: 4× the body.
    expect(outputChunkSize(deflateSync(big), 'deflate', 64 * 1024 * 1024)).toBe(Math.max(64 * 1024, deflateSync(big).length * 4));
  });

  it('counts the output in the in-flight budget before inflating, and refuses when it cannot hold it', async () => {
    const big = Buffer.from(randomBytes(100_000).toString('hex'));
    const gz = gzipSync(big);
    const budget = new InflightBudget(10_000_000);
    const lease = new Lease(budget);
    expect(await decompressBodyAsync(gz, 'gzip', 1e6, lease)).toEqual(big);
    // The output buffer (its size and one byte) was reserved before zlib allocated it.
    expect(budget.bytes).toBe(big.length + 1);
    lease.release();
    expect(budget.bytes).toBe(0);
    // Small bodies inflate in place and are counted after.
    const small = new Lease(budget);
    await decompressBodyAsync(gzipSync(data), 'gzip', 1e6, small);
    expect(budget.bytes).toBe(data.length);
    small.release();

    // Concurrent bombs: each would hold ~the 20 MB cap until cut off. Once the budget is taken the next ones are
    // refused as busy (retryable) instead of allocated, and every byte comes back when their leases are released.
    const bomb = gzipSync(Buffer.alloc(600 * 1024 * 1024));
    const tight = new InflightBudget(64 * 1024 * 1024);
    const leases = Array.from({ length: 20 }, () => new Lease(tight));
    const outcomes = await Promise.allSettled(leases.map((l) => decompressBodyAsync(bomb, 'gzip', 20 * 1024 * 1024, l)));
    const reasons = outcomes.map((o) => (o.status === 'rejected' ? o.reason : undefined));
    expect(reasons.every((r) => r instanceof BudgetFullError || (r as { code?: string } | undefined)?.code === 'PULSE_ERR_TOO_LARGE')).toBe(true);
    expect(reasons.filter((r) => r instanceof BudgetFullError).length).toBeGreaterThanOrEqual(15);
    expect(tight.bytes).toBeLessThanOrEqual(tight.limit);
    for (const l of leases) l.release();
    expect(tight.bytes).toBe(0);
  });
});
