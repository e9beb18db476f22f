import { describe, expect, it } from 'vitest';
import { parseGrpcTimeout, percentEncodeGrpcMessage } from '../../../src/receivers/otlp/status.js';
import { parseBodyEncoding, decompressBody } from '../../../src/receivers/otlp/decompress.js';
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
});
