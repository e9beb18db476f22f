/**
 * Spans decoded from protobuf are forwarded by copying their bytes (plus attributes added since), not by
 * re-encoding them. What a user would notice if this went wrong: a forwarded span that lost its journey tags,
 * kept a value Pulse had changed, lost fields Pulse does not know, or a corrupt request downstream.
 */
import { describe, expect, it } from 'vitest';
import { cloneBatch, forgetRaw, getAttribute, setSpanAttribute, type Span, type TraceBatch } from '../../../src/core/model.js';
import { decodeTraceRequest, decodeTraceRequestJson, encodeTraceRequest, encodeTraceRequestJson } from '../../../src/otlp/index.js';
import { decodedAttributes } from '../../../src/otlp/proto-decode.js';
import { makeBatch, makeRealisticBatch, makeSpan, toAttributes, withoutRaw } from '../../support/traces.js';

// A minimal protobuf writer, to build requests our encoder would never write (unknown fields, odd field order).
const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
};
const len = (field: number, body: number[]): number[] => [...varint((field << 3) | 2), ...varint(body.length), ...body];
const str = (field: number, s: string): number[] => len(field, [...Buffer.from(s)]);
const uint = (field: number, v: number): number[] => [...varint(field << 3), ...varint(v)];

const TRACE = Array.from({ length: 16 }, (_, i) => i + 1);
const SPAN_ID = [9, 8, 7, 6, 5, 4, 3, 2];
const UNKNOWN = uint(99, 4242); // a field a newer OTLP might add

function handWrittenRequest(): Uint8Array {
  const span = [
    ...str(5, 'charge card'), // name before ids: any order is valid
    ...len(1, TRACE),
    ...len(2, SPAN_ID),
    ...len(9, [...str(1, 'payment.method'), ...len(2, str(1, 'card'))]),
    ...UNKNOWN,
  ];
  const scopeSpans = [...len(1, str(1, 'payments-lib')), ...len(2, span)];
  const resourceSpans = [...len(1, len(1, [...str(1, 'service.name'), ...len(2, str(1, 'payments'))])), ...len(2, scopeSpans)];
  return Uint8Array.from(len(1, resourceSpans));
}

function firstSpan(batch: TraceBatch): Span {
  return batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}

describe('forwarding decoded spans', () => {
  it('writes an unchanged request back byte for byte, unknown fields and field order included', () => {
    const input = handWrittenRequest();
    const decoded = decodeTraceRequest(input).batch;
    expect(firstSpan(decoded).name).toBe('charge card');
    expect(Buffer.from(encodeTraceRequest(decoded))).toEqual(Buffer.from(input));
  });

  it('appends the attributes Pulse adds (journey tags) and keeps the rest as it came', () => {
    const decoded = decodeTraceRequest(handWrittenRequest()).batch;
    setSpanAttribute(firstSpan(decoded), 'journey.name', 'checkout');
    setSpanAttribute(firstSpan(decoded), 'journey.step', 'charge');
    const out = encodeTraceRequest(decoded);
    const again = firstSpan(decodeTraceRequest(out).batch);
    expect(again.attributes.map((a) => [a.key, a.value])).toEqual([
      ['payment.method', 'card'],
      ['journey.name', 'checkout'],
      ['journey.step', 'charge'],
    ]);
    expect(Buffer.from(out).indexOf(Buffer.from(UNKNOWN))).toBeGreaterThan(0);
  });

  it('encodes a span afresh when Pulse changed an attribute it arrived with', () => {
    const original = makeBatch([makeSpan({ attributes: toAttributes({ 'journey.name': 'old', 'http.route': '/x' }) })]);
    const decoded = decodeTraceRequest(encodeTraceRequest(original)).batch;
    setSpanAttribute(firstSpan(decoded), 'journey.name', 'checkout');
    const again = firstSpan(decodeTraceRequest(encodeTraceRequest(decoded)).batch);
    expect(getAttribute(again.attributes, 'journey.name')).toBe('checkout');
    expect(again.attributes).toHaveLength(2);
  });

  it('encodes a span afresh after forgetRaw, for changes other than added attributes', () => {
    const decoded = decodeTraceRequest(encodeTraceRequest(makeBatch([makeSpan({ name: 'before' })]))).batch;
    const span = firstSpan(decoded);
    forgetRaw(span);
    span.name = 'after';
    expect(firstSpan(decodeTraceRequest(encodeTraceRequest(decoded)).batch).name).toBe('after');
  });

  it('encodes a span afresh when attributes were removed', () => {
    const decoded = decodeTraceRequest(encodeTraceRequest(makeBatch([makeSpan({ attributes: toAttributes({ a: 'x', b: 'y' }) })]))).batch;
    firstSpan(decoded).attributes.pop();
    expect(firstSpan(decodeTraceRequest(encodeTraceRequest(decoded)).batch).attributes.map((a) => a.key)).toEqual(['a']);
  });

  it('mixes copied and encoded spans in one request: protobuf and JSON arrivals merged, realistic data', () => {
    const proto = decodeTraceRequest(encodeTraceRequest(makeRealisticBatch({ seed: 3 }))).batch;
    const json = decodeTraceRequestJson(encodeTraceRequestJson(makeRealisticBatch({ seed: 4 }))).batch;
    for (const rs of proto.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) setSpanAttribute(s, 'journey.name', 'x');
    const merged: TraceBatch = { resourceSpans: [...proto.resourceSpans, ...json.resourceSpans], spanCount: proto.spanCount + json.spanCount };
    const decoded = decodeTraceRequest(encodeTraceRequest(merged));
    expect(decoded.rejectedSpans).toBe(0);
    expect(withoutRaw(decoded.batch)).toEqual(withoutRaw(merged));
  });

  it('copies back-to-back spans in one piece, and span by span where anything lies between them', () => {
    // An unchanged realistic request comes back byte for byte, and so does one with every third span tagged.
    const input = encodeTraceRequest(makeRealisticBatch({ seed: 5 }));
    expect(Buffer.from(encodeTraceRequest(decodeTraceRequest(input).batch))).toEqual(Buffer.from(input));
    const tagged = decodeTraceRequest(input).batch;
    let n = 0;
    for (const rs of tagged.resourceSpans) for (const ss of rs.scopeSpans) for (const sp of ss.spans) if (n++ % 3 === 0) setSpanAttribute(sp, 'journey.name', 'x');
    expect(withoutRaw(decodeTraceRequest(encodeTraceRequest(tagged)).batch)).toEqual(withoutRaw(tagged));
    // Reordered spans (a processor sorting them) are not back to back in the source any more.
    const reordered = decodeTraceRequest(input).batch;
    for (const rs of reordered.resourceSpans) for (const ss of rs.scopeSpans) ss.spans.reverse();
    expect(withoutRaw(decodeTraceRequest(encodeTraceRequest(reordered)).batch)).toEqual(withoutRaw(reordered));
    // Between spans: an unknown field, then a span whose length is a non-minimal varint (valid protobuf). The
    // forwarded request holds the three spans, minimal lengths, and the unknown field nowhere between them.
    const span = (name: string) => [...str(5, name), ...len(1, TRACE), ...len(2, SPAN_ID)];
    const a = span('a');
    const b = span('b');
    const c = span('c');
    const scopeSpans = [...len(2, a), ...UNKNOWN, ...len(2, b), ...varint((2 << 3) | 2), (c.length & 0x7f) | 0x80, 0x00, ...c];
    const request = Uint8Array.from(len(1, [...len(1, len(1, [...str(1, 'service.name'), ...len(2, str(1, 'svc'))])), ...len(2, scopeSpans)]));
    const decoded = decodeTraceRequest(request).batch;
    const out = encodeTraceRequest(decoded);
    expect(decodeTraceRequest(out).batch.resourceSpans[0]!.scopeSpans[0]!.spans.map((sp) => sp.name)).toEqual(['a', 'b', 'c']);
    expect(Buffer.from(out).indexOf(Buffer.from([...len(2, a), ...len(2, b), ...len(2, c)]))).toBeGreaterThan(0);
  });

  it('does not forward the bytes of spans the decoder rejected', () => {
    const good = makeSpan({ name: 'good' });
    const bad = makeSpan({ name: 'bad', traceId: '\0'.repeat(16) });
    const decoded = decodeTraceRequest(encodeTraceRequest(makeBatch([good, bad])));
    expect(decoded.rejectedSpans).toBe(1);
    const again = decodeTraceRequest(encodeTraceRequest(decoded.batch));
    expect(again.batch.spanCount).toBe(1);
    expect(firstSpan(again.batch).name).toBe('good');
  });
});

describe('span ids and times read on first use', () => {
  it('are the ones sent, absent ones empty or zero, and an assignment replaces them', () => {
    const sent = makeSpan({ name: 'pay', parentSpanId: '', startTimeUnixNano: 1_700_000_000_123_456_789n, endTimeUnixNano: 0n });
    const span = firstSpan(decodeTraceRequest(encodeTraceRequest(makeBatch([sent]))).batch);
    expect([span.traceId, span.spanId, span.parentSpanId, span.startTimeUnixNano, span.endTimeUnixNano]).toEqual([sent.traceId, sent.spanId, '', sent.startTimeUnixNano, 0n]);
    span.traceId = 'T'.repeat(16);
    span.startTimeUnixNano = 5n;
    expect([span.traceId, span.startTimeUnixNano]).toEqual(['T'.repeat(16), 5n]);
    const child = firstSpan(decodeTraceRequest(encodeTraceRequest(makeBatch([makeSpan({ parentSpanId: sent.spanId })]))).batch);
    expect(child.parentSpanId).toBe(sent.spanId);
  });
});

describe('span attributes decoded on first read', () => {
  const original = makeBatch([makeSpan({ name: 'pay', attributes: toAttributes({ 'http.route': '/pay', 'http.status_code': 200n, ok: true, ratio: 0.5 }) })]);
  const source = () => cloneBatch(original);

  it('are not built when nobody reads them, and forwarding still carries them', () => {
    const decoded = decodeTraceRequest(encodeTraceRequest(source())).batch;
    const span = firstSpan(decoded);
    expect(decodedAttributes(span)).toBeUndefined();
    const forwarded = encodeTraceRequest(decoded);
    expect(decodedAttributes(span)).toBeUndefined(); // copying the bytes did not decode them either
    expect(withoutRaw(decodeTraceRequest(forwarded).batch)).toEqual(source());
  });

  it('are decoded once, on first read, with every value type intact', () => {
    const span = firstSpan(decodeTraceRequest(encodeTraceRequest(source())).batch);
    const attributes = span.attributes;
    expect(attributes.map((a) => [a.key, a.value])).toEqual([
      ['http.route', '/pay'],
      ['http.status_code', 200n],
      ['ok', true],
      ['ratio', 0.5],
    ]);
    expect(span.attributes).toBe(attributes);
    expect(decodedAttributes(span)).toBe(attributes);
  });

  it('survive forgetRaw, cloning and assignment', () => {
    const decoded = decodeTraceRequest(encodeTraceRequest(source())).batch;
    const clone = cloneBatch(decoded);
    const span = firstSpan(decoded);
    forgetRaw(span);
    expect(getAttribute(span.attributes, 'http.route')).toBe('/pay');
    expect(withoutRaw(decodeTraceRequest(encodeTraceRequest(clone)).batch)).toEqual(source());
    span.attributes = toAttributes({ replaced: 'yes' });
    expect(firstSpan(decodeTraceRequest(encodeTraceRequest(decoded)).batch).attributes).toEqual(toAttributes({ replaced: 'yes' }));
  });

  it('are still checked at once: a request with a broken attribute is refused whole', () => {
    const good = encodeTraceRequest(source());
    const broken = Uint8Array.from(good);
    const at = Buffer.from(broken).indexOf(Buffer.from('/pay'));
    broken[at + 1] = 0xff; // not UTF-8
    expect(() => decodeTraceRequest(broken)).toThrow(/field 1 \(AnyValue\.string_value\) at byte \d+ is not valid UTF-8/);
  });
});
