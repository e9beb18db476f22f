import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipBody } from '../../../src/exporters/exporterhelper/compression.js';
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
