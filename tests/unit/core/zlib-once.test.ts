import { randomBytes } from 'node:crypto';
import { deflateRawSync, deflateSync, Gunzip, gunzipSync, Gzip, gzipSync, Inflate, InflateRaw } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { zlibOnce } from '../../../src/core/zlib-once.js';

describe('zlibOnce: a whole buffer through zlib on the thread pool', () => {
  const text = Buffer.from(randomBytes(60_000).toString('hex')); // 120,000 bytes gzip only halves

  it('gives what zlib gives, also when the output spans several chunks or the body has several gzip members', async () => {
    expect(await zlibOnce(Gunzip, gzipSync(text), {})).toEqual(text);
    expect(await zlibOnce(Inflate, deflateSync(text), {})).toEqual(text);
    expect(await zlibOnce(InflateRaw, deflateRawSync(text), {})).toEqual(text);
    expect(await zlibOnce(Gunzip, gzipSync(text), { chunkSize: 16 * 1024 })).toEqual(text);
    const two = Buffer.concat([gzipSync(text), gzipSync(Buffer.from('tail'))]);
    expect(await zlibOnce(Gunzip, two, {})).toEqual(Buffer.concat([text, Buffer.from('tail')]));
    const gz = await zlibOnce(Gzip, text, { level: 1, chunkSize: 16 * 1024 });
    expect(gunzipSync(gz)).toEqual(text);
    expect(await zlibOnce(Gunzip, gzipSync(Buffer.alloc(0)), {})).toEqual(Buffer.alloc(0));
  });

  it('rejects a truncated stream, though the last empty finishing step is skipped', async () => {
    const gz = gzipSync(text);
    await expect(zlibOnce(Gunzip, gz.subarray(0, gz.length - 10), {})).rejects.toThrow(/unexpected end of file/);
    await expect(zlibOnce(Gunzip, gz.subarray(0, 1000), {})).rejects.toThrow(/unexpected end of file/);
    await expect(zlibOnce(Gunzip, text, {})).rejects.toThrow(/incorrect header check/);
  });

  it('stops once the output passes maxOutputLength, with the code Node uses', async () => {
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
    await expect(zlibOnce(Gunzip, bomb, { maxOutputLength: 1_000_000, chunkSize: 64 * 1024 })).rejects.toMatchObject({ code: 'ERR_BUFFER_TOO_LARGE' });
    await expect(zlibOnce(Gunzip, gzipSync(text), { maxOutputLength: text.length - 1 })).rejects.toMatchObject({ code: 'ERR_BUFFER_TOO_LARGE' });
    expect(await zlibOnce(Gunzip, gzipSync(text), { maxOutputLength: text.length })).toEqual(text);
  });

  it('refuses bad options as zlib does, as a rejection', async () => {
    await expect(zlibOnce(Gzip, text, { level: 42 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});
