/**
 * A request nothing changed is forwarded as it came (`TraceBatch.received`): the otlphttp and otlp exporters send
 * the sender's bytes (its gzip members included) instead of encoding and compressing the batch again, the queue
 * merges such requests by concatenation and the persistent queue stores them as they are. What changed must not
 * go out as received: a tagged span, a span the decoder refused.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { markChanged, setSpanAttribute, type TraceBatch } from '../../../src/core/model.js';
import type { QueuedExporter } from '../../../src/exporters/exporterhelper/index.js';
import { mergeTraceBatches, traceBatchCodec } from '../../../src/exporters/exporterhelper/traces.js';
import { configSchema as httpConfig } from '../../../src/exporters/otlphttp/config.js';
import { otlphttpExporterFactory } from '../../../src/exporters/otlphttp/factory.js';
import { configSchema as grpcConfig } from '../../../src/exporters/otlp/config.js';
import { otlpExporterFactory } from '../../../src/exporters/otlp/factory.js';
import { decodeTraceRequest, encodeTraceRequest } from '../../../src/otlp/index.js';
import { gzipEndsCleanly } from '../../../src/receivers/otlp/decompress.js';
import { freePort } from '../../support/net.js';
import { makeRealisticBatch, withoutRaw } from '../../support/traces.js';
import { startFakeGrpcOtlp, startFakeHttpOtlp, type FakeGrpcOtlp, type FakeHttpOtlp } from '../../support/fake-otlp-servers.js';
import { useOtlpTestBed } from './otlp-test-bed.js';
import { host, makeSettings, until } from './settings.js';

const QUICK_RETRY = { retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' }, sending_queue: { num_consumers: 1 } };

const UNKNOWN_FIELD = Buffer.from([(15 << 3) | 0, 1]);

/** What a receiver makes of a gzipped protobuf request: the decoded batch, with the request as the sender sent it. */
function asReceived(seed: number, gzipLevel = 6): { batch: TraceBatch; protobuf: Uint8Array; gzip: Buffer } {
  // With a field this Pulse does not know (field 15, varint 1; a newer OTLP could add one): decoding skips it, so
  // encoding the batch again would drop it, and only bytes sent as they came keep it.
  const protobuf = Buffer.concat([encodeTraceRequest(makeRealisticBatch({ services: 2, spansPerService: 15, seed })), UNKNOWN_FIELD]);
  // Level 6 (a typical SDK's), not the exporters' level 1: bytes the exporter made itself would look different.
  const gzip = gzipSync(protobuf, { level: gzipLevel });
  const batch = decodeTraceRequest(protobuf).batch;
  batch.received = { protobuf, gzip };
  return { batch, protobuf, gzip };
}

describe('otlphttp', () => {
  const bed = useOtlpTestBed<FakeHttpOtlp>('otlphttp/test', (port) => startFakeHttpOtlp(port));

  async function exporter(over: Record<string, unknown>): Promise<QueuedExporter<TraceBatch>> {
    const e = otlphttpExporterFactory.create.traces!(bed.settings, httpConfig.parse({ ...QUICK_RETRY, ...over })) as QueuedExporter<TraceBatch>;
    bed.exporters.push(e);
    await e.start(host);
    return e;
  }

  it('sends the gzip body as the sender made it, byte for byte', async () => {
    const s = await bed.server();
    const e = await exporter({ endpoint: s.url, compression: 'gzip' });
    const r = asReceived(1);
    await e.consume(r.batch);
    await until(() => s.delivered().length === 1);
    expect(s.requests[0]!.gzip).toBe(true);
    expect(s.requests[0]!.sent.equals(r.gzip)).toBe(true);
    expect(s.delivered()[0]).toEqual(withoutRaw(decodeTraceRequest(r.protobuf).batch));
  });

  it('with compression none, sends the request uncompressed as it came; without a received gzip, gzips those bytes', async () => {
    const s = await bed.server();
    const plain = await exporter({ endpoint: s.url, compression: 'none' });
    const r = asReceived(2);
    await plain.consume(r.batch);
    await until(() => s.delivered().length === 1);
    expect(s.requests[0]!.gzip).toBe(false);
    expect(s.requests[0]!.sent.equals(Buffer.from(r.protobuf))).toBe(true);

    const gz = await exporter({ endpoint: s.url, compression: 'gzip' });
    const grpcIn = asReceived(3);
    grpcIn.batch.received = { protobuf: grpcIn.protobuf, gzip: undefined }; // as an uncompressed gRPC call leaves it
    await gz.consume(grpcIn.batch);
    await until(() => s.delivered().length === 2);
    expect(s.requests[1]!.gzip).toBe(true);
    expect(gunzipSync(s.requests[1]!.sent).equals(Buffer.from(grpcIn.protobuf))).toBe(true);
  });

  it('encodes a batch that changed after it was received, and OTLP/JSON always', async () => {
    const s = await bed.server();
    const e = await exporter({ endpoint: s.url, compression: 'gzip' });
    const r = asReceived(4);
    const span = r.batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    markChanged(r.batch);
    setSpanAttribute(span, 'journey.name', 'checkout');
    await e.consume(r.batch);
    await until(() => s.delivered().length === 1);
    expect(s.requests[0]!.sent.equals(r.gzip)).toBe(false);
    const forwarded = s.delivered()[0]!.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(forwarded.attributes.find((kv) => kv.key === 'journey.name')?.value).toBe('checkout');

    const json = await exporter({ endpoint: s.url, compression: 'none', encoding: 'json' });
    const j = asReceived(5);
    await json.consume(j.batch);
    await until(() => s.delivered().length === 2);
    expect(s.requests[1]!.json).toBe(true);
    expect(s.delivered()[1]).toEqual(withoutRaw(decodeTraceRequest(j.protobuf).batch));
  });

  it('a persistent queue stores the request as it came and a new instance sends it unchanged', async () => {
    const port = await freePort();
    const cfg = { endpoint: `http://127.0.0.1:${port}`, compression: 'none', sending_queue: { num_consumers: 1, persistent: true } };
    const first = await exporter(cfg);
    const r = asReceived(6);
    await first.consume(r.batch);
    await first.shutdown(Date.now() + 100);

    const s = await bed.server(port);
    const e = otlphttpExporterFactory.create.traces!(makeSettings(bed.dir.path, 'otlphttp/test'), httpConfig.parse({ ...QUICK_RETRY, ...cfg })) as QueuedExporter<TraceBatch>;
    bed.exporters.push(e);
    await e.start(host);
    await until(() => s.delivered().length === 1);
    expect(s.requests[0]!.sent.equals(Buffer.from(r.protobuf))).toBe(true);
  });
});

describe('otlp (gRPC)', () => {
  const bed = useOtlpTestBed<FakeGrpcOtlp>('otlp/test', (port) => startFakeGrpcOtlp(port));

  async function exporter(over: Record<string, unknown>): Promise<QueuedExporter<TraceBatch>> {
    const e = otlpExporterFactory.create.traces!(bed.settings, grpcConfig.parse({ tls: { insecure: true }, ...QUICK_RETRY, ...over })) as QueuedExporter<TraceBatch>;
    bed.exporters.push(e);
    await e.start(host);
    return e;
  }

  it('sends the gzip message as the sender made it, and the protobuf as it came without compression', async () => {
    const s = await bed.server();
    const gz = await exporter({ endpoint: `127.0.0.1:${s.port}`, compression: 'gzip' });
    const r = asReceived(7);
    await gz.consume(r.batch);
    await until(() => s.delivered().length === 1);
    expect(s.requests[0]!.compressed).toBe(true);
    expect(s.requests[0]!.sent.equals(r.gzip)).toBe(true);

    const plain = await exporter({ endpoint: `127.0.0.1:${s.port}`, compression: 'none' });
    const p = asReceived(8);
    await plain.consume(p.batch);
    await until(() => s.delivered().length === 2);
    expect(s.requests[1]!.compressed).toBe(false);
    expect(s.requests[1]!.sent.equals(Buffer.from(p.protobuf))).toBe(true);
    expect(s.delivered()).toEqual([r, p].map((x) => withoutRaw(decodeTraceRequest(x.protobuf).batch)));
  });
});

describe('received requests through the queue helpers', () => {
  it('merging concatenates them: one request with every resource, one gzip body of several members', () => {
    const a = asReceived(11);
    const b = asReceived(12);
    const merged = mergeTraceBatches([a.batch, b.batch]);
    expect(merged.received).toBeDefined();
    const union = withoutRaw(mergeTraceBatches([decodeTraceRequest(a.protobuf).batch, decodeTraceRequest(b.protobuf).batch]));
    expect(withoutRaw(decodeTraceRequest(merged.received!.protobuf).batch)).toEqual(union);
    expect(gunzipSync(merged.received!.gzip!).equals(Buffer.from(merged.received!.protobuf))).toBe(true);
    expect(merged.spanCount).toBe(60);

    // One without its gzip: the merge keeps the protobuf only; one changed: nothing.
    const c = asReceived(13);
    c.batch.received = { protobuf: c.protobuf, gzip: undefined };
    expect(mergeTraceBatches([a.batch, c.batch]).received?.gzip).toBeUndefined();
    expect(mergeTraceBatches([a.batch, c.batch]).received?.protobuf.length).toBe(a.protobuf.length + c.protobuf.length);
    const d = asReceived(14);
    markChanged(d.batch);
    expect(mergeTraceBatches([a.batch, d.batch]).received).toBeUndefined();
  });

  it('the persistent-queue codec stores the protobuf as it came and gives the batch back with it', () => {
    const r = asReceived(15);
    const encoded = traceBatchCodec.encode(r.batch);
    expect(encoded).toBeInstanceOf(Uint8Array);
    const stored = encoded as Uint8Array;
    expect(Buffer.from(stored).equals(Buffer.from(r.protobuf))).toBe(true);
    expect(traceBatchCodec.decode(stored).received?.protobuf).toBe(stored);
  });
});

describe('what a receiver keeps', () => {
  it('the decoder attaches the request only when it kept every span', () => {
    const good = makeRealisticBatch({ services: 1, spansPerService: 3, seed: 21 });
    const bytes = encodeTraceRequest(good);
    expect(decodeTraceRequest(bytes).batch.received?.protobuf).toBe(bytes);
    // A span without a trace id is refused by the decoder: the bytes no longer say what the batch holds.
    good.resourceSpans[0]!.scopeSpans[0]!.spans[1]!.traceId = '';
    const partly = decodeTraceRequest(encodeTraceRequest(good));
    expect(partly.rejectedSpans).toBe(1);
    expect(partly.batch.spanCount).toBe(2);
    expect(partly.batch.received).toBeUndefined();
  });

  it('keeps a gzip body only when it ends with its last member (zero padding, which zlib accepts, does not)', () => {
    const a = Buffer.from(encodeTraceRequest(makeRealisticBatch({ services: 1, spansPerService: 20, seed: 22 })));
    const b = Buffer.from(encodeTraceRequest(makeRealisticBatch({ services: 1, spansPerService: 5, seed: 23 })));
    const one = gzipSync(a);
    expect(gzipEndsCleanly(one, gunzipSync(one))).toBe(true);
    const two = Buffer.concat([gzipSync(a), gzipSync(b)]);
    expect(gunzipSync(two).equals(Buffer.concat([a, b]))).toBe(true);
    expect(gzipEndsCleanly(two, gunzipSync(two))).toBe(true);
    for (const pad of [1, 3, 4, 16]) {
      const padded = Buffer.concat([one, Buffer.alloc(pad)]);
      expect(gunzipSync(padded).equals(a)).toBe(true); // zlib takes it …
      expect(gzipEndsCleanly(padded, a)).toBe(false); // … Go's gzip reader would not
      const paddedTwo = Buffer.concat([two, Buffer.alloc(pad)]);
      expect(gzipEndsCleanly(paddedTwo, gunzipSync(paddedTwo))).toBe(false);
    }
  });
});
