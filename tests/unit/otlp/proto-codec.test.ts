import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../../src/core/errors.js';
import { KvList, idToHex, type TraceBatch } from '../../../src/core/model.js';
import { decodeTraceRequest, encodeTraceRequest } from '../../../src/otlp/index.js';
import { expectPermanent } from '../../support/permanent-error.js';
import { id, makeBatch, makeEveryTypeSpan, makeRealisticBatch, makeSpan, toAttributes, withoutRaw } from '../../support/traces.js';
import { SPAN_ID, TRACE_ID, bytes, fixed32, fixed64, hex, ld, request, spanFields, str, tag, varint, vint } from './proto-bytes.js';

function roundTrip(batch: TraceBatch): TraceBatch {
  const result = decodeTraceRequest(encodeTraceRequest(batch));
  expect(result.rejectedSpans).toBe(0);
  expect(result.rejectReason).toBe('');
  return withoutRaw(result.batch);
}

function decodeError(buf: Uint8Array): PermanentError {
  return expectPermanent(() => decodeTraceRequest(buf), 'PULSE_ERR_BAD_PROTOBUF');
}

function onlySpan(batch: TraceBatch) {
  return batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}

describe('protobuf round trip', () => {
  it('decodes what it encodes: a realistic 500-span batch, deep-equal and byte-identical when re-encoded', () => {
    const batch = makeRealisticBatch();
    expect(batch.spanCount).toBe(500);
    const bytes1 = encodeTraceRequest(batch);
    const decoded = decodeTraceRequest(bytes1);
    expect(withoutRaw(decoded.batch)).toEqual(batch);
    expect(decoded.batch.spanCount).toBe(500);
    // Both ways of writing a decoded span give the canonical bytes back: copying them, and encoding the fields.
    expect(Buffer.from(encodeTraceRequest(decoded.batch)).equals(Buffer.from(bytes1))).toBe(true);
    expect(Buffer.from(encodeTraceRequest(withoutRaw(decoded.batch))).equals(Buffer.from(bytes1))).toBe(true);
  });

  it('keeps every attribute type exactly: nested arrays and kvlists, bytes, int64 extremes, -0, NaN, non-ASCII, BOM', () => {
    const batch = makeBatch([makeEveryTypeSpan()]);
    const back = roundTrip(batch);
    expect(back).toEqual(batch);
    const attrs = onlySpan(back).attributes;
    const get = (k: string) => attrs.find((a) => a.key === k)!.value;
    expect(get('max')).toBe(9_223_372_036_854_775_807n);
    expect(get('min')).toBe(-9_223_372_036_854_775_808n);
    expect(get('big')).toBe(9_007_199_254_740_993n);
    expect(get('negative')).toBe(-7n);
    expect(Object.is(get('negZero'), -0)).toBe(true);
    expect(get('doubleWhole')).toBe(2);
    expect(typeof get('doubleWhole')).toBe('number');
    expect(get('nan')).toBeNaN();
    expect(get('unicode')).toBe('こんにちは — ünïcödé 🎉');
    expect(get('bomFirst')).toBe('\ufeffleading BOM');
    expect(get('nothing')).toBeNull();
    expect(get('map')).toBeInstanceOf(KvList);
    expect(get('emptyMap')).toEqual(new KvList([]));
    expect(get('emptyList')).toEqual([]);
    expect(Buffer.from(encodeTraceRequest(back)).equals(Buffer.from(encodeTraceRequest(batch)))).toBe(true);
  });

  it('keeps nanosecond timestamps above 2^53 exact, up to 2^64-1', () => {
    const start = 1_763_805_600_123_456_789n;
    const back = onlySpan(roundTrip(makeBatch([makeSpan({ startTimeUnixNano: start, endTimeUnixNano: 18_446_744_073_709_551_615n })])));
    expect(back.startTimeUnixNano).toBe(start);
    expect(back.endTimeUnixNano).toBe(18_446_744_073_709_551_615n);
  });

  it('keeps flags, trace state, dropped counts, status, schema urls, scope attributes, events and links', () => {
    const batch = makeBatch([makeEveryTypeSpan()]);
    const rs = batch.resourceSpans[0]!;
    rs.schemaUrl = 'https://opentelemetry.io/schemas/1.28.0';
    rs.resource.droppedAttributesCount = 7;
    const ss = rs.scopeSpans[0]!;
    ss.schemaUrl = 'https://example.com/scope-schema';
    ss.scope.attributes = toAttributes({ 'scope.attr': 'x' });
    ss.scope.droppedAttributesCount = 1;
    const back = roundTrip(batch);
    expect(back).toEqual(batch);
    const span = onlySpan(back);
    expect(span.flags).toBe(0x301);
    expect(span.links[0]!.flags).toBe(0x101);
    expect(span.statusCode).toBe(2);
    expect(span.statusMessage).toBe('it broke — überhaupt');
    expect([span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount]).toEqual([3, 2, 5]);
  });

  it('round-trips a negative (unknown) enum value, which protobuf writes as a 10-byte varint', () => {
    const back = onlySpan(roundTrip(makeBatch([makeSpan({ kind: -3, statusCode: -1 })])));
    expect(back.kind).toBe(-3);
    expect(back.statusCode).toBe(-1);
  });

  it('encodes an empty batch as zero bytes and decodes zero bytes as an empty batch', () => {
    expect(encodeTraceRequest({ resourceSpans: [], spanCount: 0 }).length).toBe(0);
    const empty = new Uint8Array(0);
    expect(decodeTraceRequest(empty)).toEqual({ batch: { resourceSpans: [], spanCount: 0, received: { protobuf: empty, gzip: undefined } }, rejectedSpans: 0, rejectReason: '' });
  });

  it('writes canonical bytes that match a hand-assembled message', () => {
    const span = makeSpan({
      traceId: id(TRACE_ID),
      spanId: id(SPAN_ID),
      parentSpanId: '',
      flags: 0x101,
      name: 'op',
      kind: 2,
      startTimeUnixNano: 5n,
      endTimeUnixNano: 6n,
      attributes: toAttributes({ k: 1n }),
      statusCode: 2,
    });
    const batch = makeBatch([span], { 'service.name': 'svc' }, { name: 'scope' });
    const expected = bytes(
      ld(
        1,
        ld(1, ld(1, str(1, 'service.name'), ld(2, str(1, 'svc')))),
        ld(
          2,
          ld(1, str(1, 'scope')),
          ld(2, ld(1, hex(TRACE_ID)), ld(2, hex(SPAN_ID)), str(5, 'op'), vint(6, 2), fixed64(7, 5n), fixed64(8, 6n), ld(9, str(1, 'k'), ld(2, vint(3, 1))), ld(15, vint(3, 2)), fixed32(16, 0x101)),
        ),
      ),
    );
    expect(Buffer.from(encodeTraceRequest(batch)).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
  });

  it('returns bytes values as copies, never views of the request buffer', () => {
    const input = Buffer.from(encodeTraceRequest(makeBatch([makeSpan({ attributes: toAttributes({ b: new Uint8Array([1, 2, 3]) }) })])));
    const value = onlySpan(decodeTraceRequest(input).batch).attributes[0]!.value as Uint8Array;
    expect(value.constructor).toBe(Uint8Array);
    expect(value.buffer).not.toBe(input.buffer);
    input.fill(0);
    expect([...value]).toEqual([1, 2, 3]);
  });
});

describe('protobuf decode of non-canonical input', () => {
  it('accepts fields in any order and skips unknown fields of every wire type, including groups', () => {
    const unknown = [
      ...vint(99, 12345),
      ...fixed64(98, 1n),
      ...ld(97, [1, 2, 3]),
      ...fixed32(96, 7),
      ...tag(95, 3), ...vint(1, 1), ...tag(94, 3), ...tag(94, 4), ...tag(95, 4), // a group with a nested group
    ];
    const buf = request([...str(5, 'op'), ...unknown, ...ld(2, hex(SPAN_ID)), ...fixed32(16, 1), ...ld(1, hex(TRACE_ID)), ...unknown]);
    const span = onlySpan(decodeTraceRequest(buf).batch);
    expect(idToHex(span.traceId)).toBe(TRACE_ID);
    expect(idToHex(span.spanId)).toBe(SPAN_ID);
    expect(span.name).toBe('op');
    expect(span.flags).toBe(1);
  });

  it('merges a repeated status field and lets a repeated scalar field win last, as protobuf does', () => {
    const buf = request(spanFields(ld(15, str(2, 'first')), ld(15, vint(3, 2)), str(5, 'renamed')));
    const span = onlySpan(decodeTraceRequest(buf).batch);
    expect(span.statusMessage).toBe('first');
    expect(span.statusCode).toBe(2);
    expect(span.name).toBe('renamed');
  });

  it('decodes a parent span id of eight zero bytes as "no parent"', () => {
    const span = onlySpan(decodeTraceRequest(request(spanFields(ld(4, hex('0000000000000000'))))).batch);
    expect(span.parentSpanId).toBe('');
  });

  it('decodes an AnyValue with no value set as null, and an absent KeyValue value as null', () => {
    const buf = request(spanFields(ld(9, str(1, 'a'), ld(2)), ld(9, str(1, 'b'))));
    expect(onlySpan(decodeTraceRequest(buf).batch).attributes).toEqual([
      { key: 'a', value: null },
      { key: 'b', value: null },
    ]);
  });
});

describe('spans with unusable ids', () => {
  it('drops them, counts them and says why and where the first one was', () => {
    const good = spanFields();
    const shortTrace = [...ld(1, hex('5b8efff798038103d269b633813fc6')), ...ld(2, hex(SPAN_ID))];
    const zeroTrace = [...ld(1, hex('00000000000000000000000000000000')), ...ld(2, hex(SPAN_ID))];
    const result = decodeTraceRequest(request(good, shortTrace, good, zeroTrace));
    expect(result.rejectedSpans).toBe(2);
    expect(result.batch.spanCount).toBe(2);
    expect(result.batch.resourceSpans[0]!.scopeSpans[0]!.spans).toHaveLength(2);
    expect(result.rejectReason).toBe(
      '2 spans rejected: trace_id must be 16 bytes and not all zero (first at resource_spans[0].scope_spans[0].spans[1])',
    );
  });

  it('rejects a missing or all-zero span id, a missing trace id, and a parent span id that is not 8 bytes', () => {
    const cases: Array<[number[], string]> = [
      [[...ld(1, hex(TRACE_ID))], 'span_id must be 8 bytes and not all zero'],
      [[...ld(1, hex(TRACE_ID)), ...ld(2, hex('0000000000000000'))], 'span_id must be 8 bytes and not all zero'],
      [[...ld(1, hex(TRACE_ID)), ...ld(2, hex('eee19b7ec3c1b1'))], 'span_id must be 8 bytes and not all zero'],
      [[...ld(2, hex(SPAN_ID))], 'trace_id must be 16 bytes and not all zero'],
      [spanFields(ld(4, hex('00f067aa'))), 'parent_span_id must be empty or 8 bytes'],
    ];
    for (const [span, reason] of cases) {
      const result = decodeTraceRequest(request(span));
      expect(result.rejectedSpans).toBe(1);
      expect(result.batch.spanCount).toBe(0);
      expect(result.rejectReason).toBe(`1 span rejected: ${reason} (first at resource_spans[0].scope_spans[0].spans[0])`);
    }
  });

  it('keeps the (now empty) resource and scope of rejected spans', () => {
    const result = decodeTraceRequest(request([...ld(2, hex(SPAN_ID))]));
    expect(result.batch.resourceSpans[0]!.scopeSpans[0]!.scope.name).toBe('scope');
    expect(result.batch.resourceSpans[0]!.scopeSpans[0]!.spans).toEqual([]);
  });
});

describe('malformed protobuf', () => {
  it('throws PermanentError for every truncation of a message, and never anything else', () => {
    const full = encodeTraceRequest(makeBatch([makeEveryTypeSpan()]));
    expect(full.length).toBeGreaterThan(500);
    // One top-level field: every strict prefix ends inside it, so every one is malformed.
    for (let n = 1; n < full.length; n++) decodeError(full.subarray(0, n));
  });

  it('names the field, the byte and the shortfall when a length runs past its message', () => {
    const buf = bytes(ld(1, [...tag(2, 2), ...varint(500), ...new Array<number>(20).fill(0)]));
    expect(decodeError(buf).message).toBe(
      'invalid protobuf: truncated length-delimited field 2 (ResourceSpans.scope_spans) at byte 2: needs 500 bytes, 20 left',
    );
  });

  it('rejects a known field with the wrong wire type', () => {
    const err = decodeError(request(spanFields(vint(7, 5))));
    expect(err.message).toContain('field 7 (Span.start_time_unix_nano)');
    expect(err.message).toContain('has wire type 0 (varint), expected 1 (fixed64)');
  });

  it('rejects varints longer than 10 bytes', () => {
    const err = decodeError(request(spanFields([...tag(6, 0), ...new Array<number>(10).fill(0xff), 0x01])));
    expect(err.message).toContain('varint longer than 10 bytes in field 6 (Span.kind)');
  });

  it('rejects field number 0, wire types 6 and 7, and an end-group tag without a group', () => {
    expect(decodeError(bytes([0x00, 0x00])).message).toContain('invalid field number 0');
    // The same in a multi-byte tag (a padded varint), and a tag over 32 bits: both name where the tag starts.
    expect(decodeError(bytes([...vint(50, 1), 0x80, 0x00])).message).toContain('invalid field number 0 at byte 3');
    expect(decodeError(bytes([0x80, 0x80, 0x80, 0x80, 0x10])).message).toContain('invalid tag at byte 0: larger than 32 bits');
    expect(decodeError(bytes(tag(50, 6))).message).toContain('invalid wire type 6');
    expect(decodeError(bytes(tag(50, 7))).message).toContain('invalid wire type 7');
    expect(decodeError(bytes(tag(50, 4))).message).toContain('unexpected end-group tag');
    expect(decodeError(bytes([...tag(50, 3), ...vint(1, 1)])).message).toContain('unterminated group');
    expect(decodeError(bytes([...tag(50, 3), ...tag(51, 4)])).message).toContain('closed by an end-group tag for field 51');
  });

  it('rejects invalid UTF-8 in strings, naming the field', () => {
    const invalid: number[][] = [
      [0xff],
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xe2, 0x82], // truncated sequence
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];
    for (const seq of invalid) {
      const err = decodeError(request(spanFields(ld(5, [0x61, ...seq]))));
      expect(err.message).toMatch(/^invalid protobuf: field 5 \(Span\.name\) at byte \d+ is not valid UTF-8/);
    }
    const key = decodeError(request(spanFields(ld(9, ld(1, [0xff]), ld(2, str(1, 'v'))))));
    expect(key.message).toContain('field 1 (KeyValue.key)');
    const value = decodeError(request(spanFields(ld(9, str(1, 'k'), ld(2, ld(1, [0x80]))))));
    expect(value.message).toContain('field 1 (AnyValue.string_value)');
  });

  it('rejects attribute values nested deeper than 64 levels instead of exhausting the stack', () => {
    let value: number[] = str(1, 'leaf');
    for (let i = 0; i < 200; i++) value = ld(5, ld(1, value)); // arrayValue { values: [ value ] }
    const err = decodeError(request(spanFields(ld(9, str(1, 'deep'), ld(2, value)))));
    expect(err.message).toContain('nested deeper than 64');
  });

  it('survives a few thousand random mutations of a valid request: success or PermanentError only, and an accepted request never fails later', () => {
    const base = encodeTraceRequest(makeRealisticBatch({ services: 2, spansPerService: 6, seed: 3 }));
    let seed = 0x5eed;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let failures = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const buf = Uint8Array.from(base);
      const mutations = 1 + rnd(4);
      let view: Uint8Array = buf;
      for (let m = 0; m < mutations; m++) {
        const at = rnd(view.length);
        switch (rnd(4)) {
          case 0:
            view[at] = rnd(256);
            break;
          case 1:
            view[at]! ^= 1 << rnd(8);
            break;
          case 2:
            view = view.subarray(0, at);
            break;
          default:
            view[at] = [0x00, 0x7f, 0x80, 0xff][rnd(4)]!;
        }
        if (view.length === 0) break;
      }
      let result;
      try {
        result = decodeTraceRequest(view);
      } catch (err) {
        failures++;
        if (!(err instanceof PermanentError) || err.code !== 'PULSE_ERR_BAD_PROTOBUF') throw err;
        continue;
      }
      // Span attributes are decoded on first read: what the decoder accepted must decode then without an error,
      // forward (copied) and re-encode (after a change) as well.
      encodeTraceRequest(result.batch);
      const plain = withoutRaw(result.batch);
      encodeTraceRequest(plain);
    }
    // Most random mutations break something; if none failed, the mutations were not reaching the decoder.
    expect(failures).toBeGreaterThan(1000);
  });
});

describe('spanCount', () => {
  it('is exact across several resources and scopes', () => {
    const batch = makeRealisticBatch({ services: 3, spansPerService: 7 });
    const decoded = decodeTraceRequest(encodeTraceRequest(batch)).batch;
    let n = 0;
    for (const rs of decoded.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    expect(decoded.spanCount).toBe(21);
    expect(n).toBe(21);
  });
});
