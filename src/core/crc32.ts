/**
 * CRC-32 (IEEE, zlib's polynomial): of bytes with zlib's native `crc32` when Node has it (20.15+), else a table;
 * and of a binary string (one char per byte, as Pulse holds trace and span ids), which zlib would UTF-8-encode,
 * walked char by char so that the hot path allocates nothing.
 */
import * as zlib from 'node:zlib';

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `data`; with `prev`, of the bytes that gave `prev` followed by `data`. */
export function crc32(data: Uint8Array, prev = 0): number {
  if (nativeCrc32) return nativeCrc32(data, prev);
  let crc = (prev ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 of the bytes of a binary string (char codes 0–255). */
export function crc32OfBinary(s: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < s.length; i++) crc = TABLE[(crc ^ s.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
