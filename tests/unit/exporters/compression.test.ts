import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeAndGzip, gzipBody, ScratchBuffers, SYNC_GZIP_BELOW_BYTES } from '../../../src/exporters/exporterhelper/compression.js';
import { configSchema as otlpConfig } from '../../../src/exporters/otlp/config.js';
import { configSchema as otlpHttpConfig } from '../../../src/exporters/otlphttp/config.js';
import { encodeTraceRequest } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';

describe('compression_params', () => {
  it('defaults to gzip level 1 in both OTLP exporters and refuses levels outside 1..9', () => {
    expect(otlpHttpConfig.parse({ endpoint: 'http://x:4318' }).compression_params.level).toBe(1);
    expect(otlpConfig.parse({ endpoint: 'x:4317' }).compression_params.level).toBe(1);
    for (const level of [0, 10, 1.5]) {
      expect(otlpHttpConfig.safeParse({ endpoint: 'http://x:4318', compression_params: { level } }).success).toBe(false);
    }
  });

  it('compresses small bodies (done at once) and large ones (on the thread pool) alike', async () => {
    for (const size of [0, 1, 200, SYNC_GZIP_BELOW_BYTES - 1, SYNC_GZIP_BELOW_BYTES, 3 * SYNC_GZIP_BELOW_BYTES]) {
      const raw = Uint8Array.from({ length: size }, (_, i) => (i * 31) % 251);
      expect(gunzipSync(await gzipBody(raw, 1))).toEqual(Buffer.from(raw));
    }
  });

  it('compresses a realistic request losslessly; a higher level trades CPU for fewer bytes', async () => {
    const raw = encodeTraceRequest(makeRealisticBatch());
    const fast = await gzipBody(raw, 1);
    const small = await gzipBody(raw, 9);
    expect(gunzipSync(fast)).toEqual(Buffer.from(raw));
    expect(gunzipSync(small)).toEqual(Buffer.from(raw));
    expect(small.length).toBeLessThan(fast.length);
    expect(fast.length).toBeLessThan(raw.length / 4);
  });
});

describe('encoding into reused buffers before gzip', () => {
  it('gives the same bytes as encoding afresh, also for requests in flight at the same time', async () => {
    const pool = new ScratchBuffers();
    const batches = [makeRealisticBatch({ seed: 1 }), makeRealisticBatch({ seed: 2 }), makeRealisticBatch({ seed: 3, spansPerService: 7 })];
    for (let round = 0; round < 3; round++) {
      const gz = await Promise.all(batches.map((b) => encodeAndGzip((allocate) => encodeTraceRequest(b, allocate), pool, 1)));
      gz.forEach((g, i) => expect(gunzipSync(g)).toEqual(Buffer.from(encodeTraceRequest(batches[i]!))));
    }
  });

  it('reuses a buffer once it is given back, never one still in use, and keeps only bounded ones', () => {
    const pool = new ScratchBuffers();
    const a = pool.take(1000);
    const b = pool.take(1000);
    expect(a).toHaveLength(1000);
    expect(a.buffer).not.toBe(b.buffer);
    pool.release(a);
    const c = pool.take(2000);
    expect(c.buffer).toBe(a.buffer); // the 256 KiB minimum holds 2000 bytes
    expect(c).toHaveLength(2000);
    const huge = pool.take(5 * 1024 * 1024);
    pool.release(huge);
    expect(pool.take(5 * 1024 * 1024).buffer).not.toBe(huge.buffer); // over 4 MiB: not kept
  });
});
