import { describe, expect, it } from 'vitest';
import { encodeGrpcFrame, parseGrpcFrames } from '../../../src/otlp/index.js';
import { expectPermanent } from '../../support/permanent-error.js';

describe('gRPC message framing', () => {
  it('writes a 1-byte compressed flag and a 4-byte big-endian length before the message', () => {
    expect(encodeGrpcFrame(new Uint8Array([7, 8, 9]), false).toString('hex')).toBe('0000000003070809');
    expect(encodeGrpcFrame(new Uint8Array(300), true).subarray(0, 5).toString('hex')).toBe('010000012c');
    expect(encodeGrpcFrame(new Uint8Array(0), false).toString('hex')).toBe('0000000000');
  });

  it('parses what it writes, including several frames in one body and empty messages', () => {
    const body = Buffer.concat([encodeGrpcFrame(Buffer.from('hello'), false), encodeGrpcFrame(new Uint8Array(0), true), encodeGrpcFrame(Buffer.from('x'), true)]);
    const frames = parseGrpcFrames(body, 1024);
    expect(frames.map((f) => [f.compressed, f.message.toString()])).toEqual([
      [false, 'hello'],
      [true, ''],
      [true, 'x'],
    ]);
    expect(parseGrpcFrames(Buffer.alloc(0), 1024)).toEqual([]);
  });

  it('rejects a truncated header or message', () => {
    const frame = encodeGrpcFrame(Buffer.from('hello world'), false);
    for (let n = 1; n < frame.length; n++) {
      const err = expectPermanent(() => parseGrpcFrames(frame.subarray(0, n), 1024), 'PULSE_ERR_BAD_GRPC_FRAME');
      expect(err.message).toMatch(n < 5 ? /truncated gRPC frame header at byte 0: needs 5 bytes/ : /truncated gRPC message at byte 0: the frame announces 11 bytes/);
    }
  });

  it('rejects a compressed flag other than 0 or 1', () => {
    expect(expectPermanent(() => parseGrpcFrames(Buffer.from([2, 0, 0, 0, 0]), 1024), 'PULSE_ERR_BAD_GRPC_FRAME').message).toContain('compressed flag is 2');
  });

  it('refuses a message over the limit with PULSE_ERR_TOO_LARGE, from the header alone', () => {
    const header = Buffer.from([0, 0, 0x10, 0, 0]); // announces 1 MiB, carries nothing
    const err = expectPermanent(() => parseGrpcFrames(header, 4 * 1024), 'PULSE_ERR_TOO_LARGE');
    expect(err.message).toContain('1048576 bytes exceeds the limit of 4096 bytes');
    expect(parseGrpcFrames(encodeGrpcFrame(new Uint8Array(4096), false), 4096)[0]!.message.length).toBe(4096);
  });
});
