import { describe, expect, it } from 'vitest';
import type { PermanentError } from '../../../src/core/errors.js';
import { KvList, idToHex, type TraceBatch } from '../../../src/core/model.js';
import { decodeTraceRequestJson, encodeTraceRequest, encodeTraceRequestJson, decodeTraceRequest } from '../../../src/otlp/index.js';
import { expectPermanent } from '../../support/permanent-error.js';
import { id, makeBatch, makeEveryTypeSpan, makeRealisticBatch, makeSpan, toAttributes, withoutRaw } from '../../support/traces.js';

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

function jsonError(body: string | Uint8Array): PermanentError {
  return expectPermanent(() => decodeTraceRequestJson(body), 'PULSE_ERR_BAD_JSON');
}

/** A request with one span whose JSON fields are `span` (plus valid ids unless given). */
function requestWithSpan(span: Record<string, unknown>): string {
  return JSON.stringify({ resourceSpans: [{ resource: {}, scopeSpans: [{ scope: { name: 's' }, spans: [{ traceId: TRACE, spanId: SPAN, ...span }] }] }] });
}

function onlySpan(batch: TraceBatch) {
  return batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}

describe('OTLP/JSON round trip', () => {
  it('decodes what it encodes: the realistic 500-span batch', () => {
    const batch = makeRealisticBatch();
    const result = decodeTraceRequestJson(encodeTraceRequestJson(batch));
    expect(result.rejectedSpans).toBe(0);
    expect(result.batch).toEqual(batch);
  });

  it('keeps every attribute type, int64 extremes, non-finite and negative-zero doubles, bytes and non-ASCII text', () => {
    const batch = makeBatch([makeEveryTypeSpan()]);
    const back = decodeTraceRequestJson(encodeTraceRequestJson(batch)).batch;
    expect(back).toEqual(batch);
    // and the protobuf encoding of both is identical, so JSON and protobuf agree on the model
    expect(Buffer.from(encodeTraceRequest(back)).equals(Buffer.from(encodeTraceRequest(batch)))).toBe(true);
  });

  it('accepts the body as UTF-8 bytes, with or without a BOM', () => {
    const batch = makeBatch([makeEveryTypeSpan()]);
    const text = encodeTraceRequestJson(batch);
    expect(decodeTraceRequestJson(Buffer.from(text, 'utf8')).batch).toEqual(batch);
    expect(decodeTraceRequestJson(Buffer.from('\ufeff' + text, 'utf8')).batch).toEqual(batch);
    expect(decodeTraceRequestJson('\ufeff' + text).batch).toEqual(batch);
  });
});

describe('OTLP/JSON encoding is canonical', () => {
  it('writes hex ids, 64-bit integers as strings, enums as integers, and omits defaults', () => {
    const span = makeSpan({
      traceId: id(TRACE),
      spanId: id(SPAN),
      flags: 0,
      kind: 2,
      name: 'GET /',
      startTimeUnixNano: 1_763_805_600_123_456_789n,
      endTimeUnixNano: 1_763_805_600_223_456_789n,
      attributes: toAttributes({ n: 9_007_199_254_740_993n, d: 1.5, inf: -Infinity, b: new Uint8Array([0xfb, 0xff]), nil: null }),
      statusCode: 2,
    });
    const text = encodeTraceRequestJson(makeBatch([span], { 'service.name': 'svc' }, { name: 'scope' }));
    expect(text).toBe(
      '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},' +
        '"scopeSpans":[{"scope":{"name":"scope"},"spans":[{' +
        `"traceId":"${TRACE}","spanId":"${SPAN}","name":"GET /","kind":2,` +
        '"startTimeUnixNano":"1763805600123456789","endTimeUnixNano":"1763805600223456789",' +
        '"attributes":[{"key":"n","value":{"intValue":"9007199254740993"}},{"key":"d","value":{"doubleValue":1.5}},' +
        '{"key":"inf","value":{"doubleValue":"-Infinity"}},{"key":"b","value":{"bytesValue":"+/8="}},{"key":"nil","value":{}}],' +
        '"status":{"code":2}}]}]}]}',
    );
  });
});

describe('OTLP/JSON decoding accepts every form the mapping allows', () => {
  it('accepts snake_case field names, as protobuf JSON parsers do', () => {
    const camel = makeBatch([makeEveryTypeSpan()]);
    const snake = encodeTraceRequestJson(camel).replace(/"([a-z]+[A-Z][A-Za-z]*)":/g, (_, name: string) => `"${name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())}":`);
    expect(snake).toContain('"resource_spans":');
    expect(snake).toContain('"start_time_unix_nano":');
    expect(decodeTraceRequestJson(snake).batch).toEqual(camel);
  });

  it('accepts enum names, uppercase hex, integers as numbers and doubles as strings', () => {
    const body = requestWithSpan({
      traceId: TRACE.toUpperCase(),
      parentSpanId: '00F067AA0BA902B7',
      kind: 'SPAN_KIND_SERVER',
      startTimeUnixNano: 1_700_000_000_000_000,
      endTimeUnixNano: '1763805600123456789',
      flags: '257',
      droppedAttributesCount: '4',
      attributes: [
        { key: 'i', value: { intValue: 42 } },
        { key: 's', value: { intValue: '-9223372036854775808' } },
        { key: 'nan', value: { doubleValue: 'NaN' } },
        { key: 'inf', value: { doubleValue: 'Infinity' } },
        { key: 'str', value: { doubleValue: '2.25' } },
        { key: 'b64url', value: { bytesValue: '-_8' } },
      ],
      status: { code: 'STATUS_CODE_ERROR', message: 'boom' },
    });
    const span = onlySpan(decodeTraceRequestJson(body).batch);
    expect(idToHex(span.traceId)).toBe(TRACE);
    expect(idToHex(span.parentSpanId)).toBe('00f067aa0ba902b7');
    expect(span.kind).toBe(2);
    expect(span.startTimeUnixNano).toBe(1_700_000_000_000_000n);
    expect(span.endTimeUnixNano).toBe(1_763_805_600_123_456_789n);
    expect(span.flags).toBe(257);
    expect(span.droppedAttributesCount).toBe(4);
    expect(span.statusCode).toBe(2);
    expect(span.statusMessage).toBe('boom');
    expect(span.attributes).toEqual([
      { key: 'i', value: 42n },
      { key: 's', value: -9_223_372_036_854_775_808n },
      { key: 'nan', value: NaN },
      { key: 'inf', value: Infinity },
      { key: 'str', value: 2.25 },
      { key: 'b64url', value: new Uint8Array([0xfb, 0xff]) },
    ]);
  });

  it('treats null and missing fields as defaults and ignores unknown fields', () => {
    const body = JSON.stringify({
      futureField: { anything: [1, 2] },
      resourceSpans: [
        {
          resource: null,
          scopeSpans: [{ scope: null, spans: [{ traceId: TRACE, spanId: SPAN, name: null, attributes: null, events: null, links: null, status: null, newField: 1, parentSpanId: null }] }],
          schemaUrl: null,
        },
        { scopeSpans: null },
        {},
      ],
    });
    const result = decodeTraceRequestJson(body);
    expect(result.batch.spanCount).toBe(1);
    expect(result.batch.resourceSpans).toHaveLength(3);
    expect(onlySpan(result.batch)).toEqual(
      makeSpan({ traceId: id(TRACE), spanId: id(SPAN), name: '', flags: 0, kind: 0, startTimeUnixNano: 0n, endTimeUnixNano: 0n }),
    );
    expect(decodeTraceRequestJson('{}').batch).toEqual({ resourceSpans: [], spanCount: 0 });
  });

  it('decodes an empty AnyValue and a missing value as null, and nested lists and maps', () => {
    const body = requestWithSpan({
      attributes: [
        { key: 'empty', value: {} },
        { key: 'missing' },
        { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, {}, { kvlistValue: { values: [{ key: 'k', value: { boolValue: true } }] } }] } } },
        { key: 'emptyList', value: { arrayValue: {} } },
        { key: 'emptyMap', value: { kvlistValue: {} } },
      ],
    });
    expect(onlySpan(decodeTraceRequestJson(body).batch).attributes).toEqual([
      { key: 'empty', value: null },
      { key: 'missing', value: null },
      { key: 'list', value: ['a', null, new KvList([{ key: 'k', value: true }])] },
      { key: 'emptyList', value: [] },
      { key: 'emptyMap', value: new KvList([]) },
    ]);
  });

  it('decodes the same model as protobuf for the same data', () => {
    const batch = makeRealisticBatch({ services: 2, spansPerService: 20, seed: 9 });
    expect(decodeTraceRequestJson(encodeTraceRequestJson(batch)).batch).toEqual(withoutRaw(decodeTraceRequest(encodeTraceRequest(batch)).batch));
  });
});

describe('spans with unusable ids in OTLP/JSON', () => {
  it('are dropped and counted, with the JSON path of the first', () => {
    const body = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            { spans: [{ traceId: TRACE, spanId: SPAN }] },
            { spans: [{ traceId: TRACE, spanId: SPAN }, { traceId: TRACE }, { traceId: '', spanId: SPAN }, { traceId: TRACE, spanId: SPAN, parentSpanId: 'abcd' }] },
          ],
        },
      ],
    });
    const result = decodeTraceRequestJson(body);
    expect(result.batch.spanCount).toBe(2);
    expect(result.rejectedSpans).toBe(3);
    expect(result.rejectReason).toBe(
      '3 spans rejected: spanId must be 16 hex digits (8 bytes) and not all zero (first at resourceSpans[0].scopeSpans[1].spans[1])',
    );
  });

  it('rejects an all-zero trace id and a 64-bit trace id', () => {
    for (const traceId of ['00000000000000000000000000000000', 'eee19b7ec3c1b174']) {
      const result = decodeTraceRequestJson(requestWithSpan({ traceId }));
      expect(result.rejectedSpans).toBe(1);
      expect(result.rejectReason).toContain('traceId must be 32 hex digits (16 bytes) and not all zero');
    }
  });
});

describe('malformed OTLP/JSON', () => {
  it('reports JSON.parse errors for garbage', () => {
    for (const garbage of ['', 'not json', '{"resourceSpans": [', '{"a":1,}', '\u0000']) {
      const err = jsonError(garbage);
      expect(err.message).toMatch(/^invalid JSON: /);
      expect(err.message.length).toBeGreaterThan('invalid JSON: '.length);
    }
  });

  it('rejects a body that is not UTF-8, and a top level that is not an object', () => {
    expect(jsonError(new Uint8Array([0x7b, 0xff, 0x7d])).message).toContain('not valid UTF-8');
    expect(jsonError('[]').message).toContain('expected an ExportTraceServiceRequest object, got an array');
    expect(jsonError('42').message).toContain('got 42');
  });

  it('names the JSON path of a wrong type', () => {
    const cases: Array<[string, string]> = [
      [JSON.stringify({ resourceSpans: {} }), 'resourceSpans: expected an array, got an object'],
      [JSON.stringify({ resourceSpans: [1] }), 'resourceSpans[0]: expected an object, got 1'],
      [JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] }), 'resourceSpans[0].scopeSpans[0].spans: expected an array, got "x"'],
      [requestWithSpan({ startTimeUnixNano: true }), 'resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected a 64-bit integer as a string or number, got true'],
      [requestWithSpan({ endTimeUnixNano: '-1' }), 'spans[0].endTimeUnixNano: "-1" is outside the unsigned 64-bit range'],
      [requestWithSpan({ endTimeUnixNano: '1.5e9' }), 'spans[0].endTimeUnixNano: expected a 64-bit integer as a string or number, got "1.5e9"'],
      [requestWithSpan({ name: 5 }), 'spans[0].name: expected a string, got 5'],
      [requestWithSpan({ kind: 'SERVER' }), 'spans[0].kind: expected an integer or one of SPAN_KIND_UNSPECIFIED'],
      [requestWithSpan({ kind: 1.5 }), 'spans[0].kind: expected an integer'],
      [requestWithSpan({ flags: -1 }), 'spans[0].flags: expected a 32-bit unsigned integer, got -1'],
      [requestWithSpan({ status: { code: 'BAD' } }), 'spans[0].status.code: expected an integer or one of STATUS_CODE_UNSET'],
      [requestWithSpan({ events: [{}, { timeUnixNano: {} }] }), 'spans[0].events[1].timeUnixNano: expected a 64-bit integer as a string or number, got an object'],
      [requestWithSpan({ links: [{ traceId: 'xyz0' }] }), 'spans[0].links[0].traceId: invalid hex id "xyz0"'],
      [requestWithSpan({ attributes: [{ key: 1 }] }), 'spans[0].attributes[0].key: expected a string, got 1'],
      [requestWithSpan({ attributes: [{ key: 'k', value: 'plain' }] }), 'spans[0].attributes[0].value: expected an AnyValue object'],
      [requestWithSpan({ attributes: [{ key: 'k', value: { intValue: 'ten' } }] }), 'spans[0].attributes[0].value.intValue: expected a 64-bit integer as a string or number, got "ten"'],
      [requestWithSpan({ attributes: [{ key: 'k', value: { intValue: '9223372036854775808' } }] }), 'attributes[0].value.intValue: "9223372036854775808" is outside the signed 64-bit range'],
      [requestWithSpan({ attributes: [{ key: 'k', value: { boolValue: 'true' } }] }), 'attributes[0].value.boolValue: expected true or false, got "true"'],
      [requestWithSpan({ attributes: [{ key: 'k', value: { doubleValue: 'fast' } }] }), 'attributes[0].value.doubleValue: expected a number'],
      [requestWithSpan({ attributes: [{ key: 'k', value: { bytesValue: 'not base64!' } }] }), 'attributes[0].value.bytesValue: expected base64 text'],
      [
        requestWithSpan({ attributes: [{ key: 'k', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: true }] } } }] }),
        'spans[0].attributes[0].value.arrayValue.values[1].intValue: expected a 64-bit integer as a string or number, got true',
      ],
      [
        requestWithSpan({ attributes: [{ key: 'k', value: { kvlistValue: { values: [{ key: 'inner', value: { stringValue: 1 } }] } } }] }),
        'spans[0].attributes[0].value.kvlistValue.values[0].value.stringValue: expected a string, got 1',
      ],
      [JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'k', value: { stringValue: [] } }] } }] }), 'resourceSpans[0].resource.attributes[0].value.stringValue: expected a string, got an array'],
      [JSON.stringify({ resourceSpans: [{ scopeSpans: [{ scope: { version: 2 } }] }] }), 'resourceSpans[0].scopeSpans[0].scope.version: expected a string, got 2'],
    ];
    for (const [body, expected] of cases) {
      const err = jsonError(body);
      expect(err.message.startsWith('invalid OTLP/JSON: ')).toBe(true);
      expect(err.message).toContain(expected);
    }
  });

  it('rejects invalid hex ids: odd length, non-hex characters, base64', () => {
    for (const traceId of ['abc', 'zz8efff798038103d269b633813fc60c', 'W46/95gDgQPSabYzgT/GDA==']) {
      expect(jsonError(requestWithSpan({ traceId })).message).toContain('spans[0].traceId: invalid hex id');
    }
  });

  it('rejects nesting too deep for the parser or for the model with a PermanentError', () => {
    let value = '{"stringValue":"leaf"}';
    for (let i = 0; i < 100; i++) value = `{"arrayValue":{"values":[${value}]}}`;
    const body = requestWithSpan({}).replace('"spanId"', `"attributes":[{"key":"deep","value":${value}}],"spanId"`);
    expect(jsonError(body).message).toContain('nested deeper than 64');
    expect(jsonError('['.repeat(200_000) + ']'.repeat(200_000)).message).toMatch(/^invalid (JSON|OTLP\/JSON): /);
  });
});
