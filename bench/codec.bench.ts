/**
 * OTLP codec throughput on the realistic 500-span request (5 services × 100 spans, ~8 attributes per span).
 * Run: `npx vitest bench --run bench/codec.bench.ts`. Spans per second per core = hz × 500.
 *
 * Protobuf decode checks span attributes but decodes them on first read (most spans are only forwarded); "read every
 * span's attributes" adds that read for every span, the cost when everything is read.
 *
 * "encode it for forwarding" is what every forwarded protobuf request costs: decode, then encode the decoded spans,
 * which copies their bytes (runs of back-to-back spans in one piece); subtract "decode protobuf" for the encode.
 *
 * "unique values" re-runs protobuf decode on a request whose string attribute values never repeat (ids, user
 * names), the worst case for value interning.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { bench, describe } from 'vitest';
import {
  decodeTraceRequest,
  decodeTraceRequestJson,
  encodeTraceRequest,
  encodeTraceRequestJson,
} from '../src/otlp/index.js';
import { makeRealisticBatch } from '../tests/support/traces.js';

const batch = makeRealisticBatch();
const proto = encodeTraceRequest(batch);
const protoGz = gzipSync(proto);
const json = encodeTraceRequestJson(batch);
const jsonBytes = Buffer.from(json, 'utf8');

const unique = makeRealisticBatch({ seed: 2 });
let n = 0;
for (const rs of unique.resourceSpans) {
  for (const ss of rs.scopeSpans) {
    for (const span of ss.spans) {
      for (const kv of span.attributes) if (typeof kv.value === 'string') kv.value = `v-${(n++).toString(36).padStart(10, '0')}`;
    }
  }
}
const uniqueProto = encodeTraceRequest(unique);

describe(`OTLP codecs, ${batch.spanCount}-span request (protobuf ${proto.length} B, gzip ${protoGz.length} B, JSON ${jsonBytes.length} B)`, () => {
  bench('decode protobuf', () => {
    decodeTraceRequest(proto);
  });
  bench('decode protobuf + read every span\'s attributes', () => {
    const decoded = decodeTraceRequest(proto).batch;
    for (const rs of decoded.resourceSpans) for (const ss of rs.scopeSpans) for (const span of ss.spans) void span.attributes;
  });
  bench('gunzip + decode protobuf', () => {
    decodeTraceRequest(gunzipSync(protoGz));
  });
  bench('decode protobuf, unique values', () => {
    decodeTraceRequest(uniqueProto);
  });
  bench('decode protobuf + encode it for forwarding (decoded spans are copied)', () => {
    encodeTraceRequest(decodeTraceRequest(proto).batch);
  });
  bench('encode protobuf', () => {
    encodeTraceRequest(batch);
  });
  bench('decode JSON (bytes)', () => {
    decodeTraceRequestJson(jsonBytes);
  });
  bench('encode JSON', () => {
    encodeTraceRequestJson(batch);
  });
});
