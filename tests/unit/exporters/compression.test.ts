import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeAndGzip, Gzipper, ScratchBuffers, SYNC_GZIP_BELOW_BYTES } from '../../../src/exporters/exporterhelper/compression.js';
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
    const gzipper = new Gzipper(1);
    for (const size of [0, 1, 200, SYNC_GZIP_BELOW_BYTES - 1, SYNC_GZIP_BELOW_BYTES, 3 * SYNC_GZIP_BELOW_BYTES]) {
      const raw = Uint8Array.from({ length: size }, (_, i) => (i * 31) % 251);
      expect(gunzipSync(await gzipper.gzip(raw))).toEqual(Buffer.from(raw));
    }
  });

  it('compresses a realistic request losslessly; a higher level trades CPU for fewer bytes', async () => {
    const raw = encodeTraceRequest(makeRealisticBatch());
    const fast = await new Gzipper(1).gzip(raw);
    const small = await new Gzipper(9).gzip(raw);
    expect(gunzipSync(fast)).toEqual(Buffer.from(raw));
    expect(gunzipSync(small)).toEqual(Buffer.from(raw));
    expect(small.length).toBeLessThan(fast.length);
    expect(fast.length).toBeLessThan(raw.length / 4);
  });

  it('reuses its streams: every body is one whole gzip member, in sequence, in parallel and after close', async () => {
    const gzipper = new Gzipper(1);
    // Bodies of different sizes, so that members start at different offsets of the shared output buffer and some
    // straddle two of them; each must still be exactly its own body, with nothing of its neighbours.
    const bodies = [1, 3, 2, 5, 1, 4, 2, 2, 6, 1].map((k, n) =>
      Uint8Array.from({ length: k * SYNC_GZIP_BELOW_BYTES + n * 7 }, (_, i) => ((i * (n + 3)) ^ (i >> 9)) % 256),
    );
    for (const body of bodies) expect(gunzipSync(await gzipper.gzip(body))).toEqual(Buffer.from(body));
    const parallel = await Promise.all(bodies.map((b) => gzipper.gzip(b)));
    parallel.forEach((gz, i) => expect(gunzipSync(gz)).toEqual(Buffer.from(bodies[i]!)));
    gzipper.close();
    expect(gunzipSync(await gzipper.gzip(bodies[1]!))).toEqual(Buffer.from(bodies[1]!));
  });
});

describe('encoding into reused buffers before gzip', () => {
  it('gives the same bytes as encoding afresh, also for requests in flight at the same time', async () => {
    const pool = new ScratchBuffers();
    const gzipper = new Gzipper(1);
    const batches = [makeRealisticBatch({ seed: 1 }), makeRealisticBatch({ seed: 2 }), makeRealisticBatch({ seed: 3, spansPerService: 7 })];
    for (let round = 0; round < 3; round++) {
      const gz = await Promise.all(batches.map((b) => encodeAndGzip((allocate) => encodeTraceRequest(b, allocate), pool, gzipper)));
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
