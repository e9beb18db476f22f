import { describe, expect, it } from 'vitest';
import {
  RETRY_INFO_TYPE_URL,
  decodeStatus,
  decodeStatusJson,
  decodeTraceResponse,
  decodeTraceResponseJson,
  encodeStatus,
  encodeStatusJson,
  encodeTraceResponse,
  encodeTraceResponseJson,
} from '../../../src/otlp/index.js';
import { expectPermanent } from '../../support/permanent-error.js';
import { bytes, ld, str, vint } from './proto-bytes.js';

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('ExportTraceServiceResponse', () => {
  it('is empty when everything was accepted', () => {
    expect(encodeTraceResponse(0, '').length).toBe(0);
    expect(encodeTraceResponseJson(0, '')).toBe('{}');
    expect(decodeTraceResponse(new Uint8Array(0))).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(decodeTraceResponseJson('{}')).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(decodeTraceResponseJson('')).toEqual({ rejectedSpans: 0, errorMessage: '' });
  });

  it('carries partial_success { rejected_spans = 1, error_message = 2 }', () => {
    const encoded = encodeTraceResponse(2, 'bad ids');
    expect(hexOf(encoded)).toBe(hexOf(bytes(ld(1, vint(1, 2), str(2, 'bad ids')))));
    expect(decodeTraceResponse(encoded)).toEqual({ rejectedSpans: 2, errorMessage: 'bad ids' });
    expect(decodeTraceResponse(encodeTraceResponse(0, 'warning only'))).toEqual({ rejectedSpans: 0, errorMessage: 'warning only' });
    expect(decodeTraceResponse(encodeTraceResponse(3_000_000_000, ''))).toEqual({ rejectedSpans: 3_000_000_000, errorMessage: '' });
  });

  it('in OTLP/JSON writes rejectedSpans as an int64 string and reads strings or numbers', () => {
    const json = encodeTraceResponseJson(2, 'bad "ids"');
    expect(json).toBe('{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad \\"ids\\""}}');
    expect(decodeTraceResponseJson(json)).toEqual({ rejectedSpans: 2, errorMessage: 'bad "ids"' });
    expect(decodeTraceResponseJson('{"partialSuccess":{"rejectedSpans":5}}')).toEqual({ rejectedSpans: 5, errorMessage: '' });
    expect(decodeTraceResponseJson('{"partial_success":{"rejected_spans":"1","error_message":"x"}}')).toEqual({ rejectedSpans: 1, errorMessage: 'x' });
  });

  it('rejects malformed responses with a PermanentError', () => {
    expectPermanent(() => decodeTraceResponse(bytes([0x0a, 0x05, 0x08])), 'PULSE_ERR_BAD_PROTOBUF');
    expectPermanent(() => decodeTraceResponseJson('{"partialSuccess":'), 'PULSE_ERR_BAD_JSON');
    expect(expectPermanent(() => decodeTraceResponseJson('{"partialSuccess":{"rejectedSpans":true}}'), 'PULSE_ERR_BAD_JSON').message).toContain(
      'partialSuccess.rejectedSpans',
    );
    expectPermanent(() => decodeTraceResponseJson('[1]'), 'PULSE_ERR_BAD_JSON');
  });
});

describe('google.rpc.Status', () => {
  it('encodes code = 1 and message = 2, and decodes them back', () => {
    const encoded = encodeStatus(14, 'queue full');
    expect(hexOf(encoded)).toBe(hexOf(bytes(vint(1, 14), str(2, 'queue full'))));
    expect(decodeStatus(encoded)).toEqual({ code: 14, message: 'queue full' });
    expect('retryDelayMs' in decodeStatus(encoded)).toBe(false);
  });

  it('adds a RetryInfo detail (google.protobuf.Any) when given a retry delay', () => {
    const encoded = encodeStatus(8, 'slow down', 1500);
    const duration = [...vint(1, 1), ...vint(2, 500_000_000)];
    const expected = bytes(vint(1, 8), str(2, 'slow down'), ld(3, str(1, RETRY_INFO_TYPE_URL), ld(2, ld(1, duration))));
    expect(hexOf(encoded)).toBe(hexOf(expected));
    expect(decodeStatus(encoded)).toEqual({ code: 8, message: 'slow down', retryDelayMs: 1500 });
    expect(decodeStatus(encodeStatus(14, '', 0))).toEqual({ code: 14, message: '', retryDelayMs: 0 });
    expect(decodeStatus(encodeStatus(14, '', 250))).toEqual({ code: 14, message: '', retryDelayMs: 250 });
  });

  it('skips details of other types', () => {
    const other = ld(3, str(1, 'type.googleapis.com/google.rpc.ErrorInfo'), ld(2, str(1, 'REASON')));
    expect(decodeStatus(bytes(vint(1, 3), other))).toEqual({ code: 3, message: '' });
  });

  it('has a JSON form', () => {
    expect(encodeStatusJson(3, 'bad "data"')).toBe('{"code":3,"message":"bad \\"data\\""}');
    expect(decodeStatusJson(encodeStatusJson(3, 'x'))).toEqual({ code: 3, message: 'x' });
    expectPermanent(() => decodeStatusJson('{"code":"three"}'), 'PULSE_ERR_BAD_JSON');
  });

  it('rejects malformed bytes with a PermanentError', () => {
    const full = encodeStatus(8, 'slow down', 1500);
    // A cut right after a complete top-level field (code: 2 bytes, message: 11 more) is a valid shorter Status;
    // every other cut is malformed.
    for (let n = 1; n < full.length; n++) {
      if (n === 2 || n === 13) expect(() => decodeStatus(full.subarray(0, n))).not.toThrow();
      else expectPermanent(() => decodeStatus(full.subarray(0, n)), 'PULSE_ERR_BAD_PROTOBUF');
    }
  });
});
