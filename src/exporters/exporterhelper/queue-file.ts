/**
 * The on-disk format of one persistent-queue entry, one file per batch:
 *
 *     offset  size  field
 *     0       4     magic "PLSQ"
 *     4       1     format version (1)
 *     5       3     reserved, 0
 *     8       4     item count, uint32 LE
 *     12      4     payload length, uint32 LE
 *     16      4     CRC-32 of the payload, uint32 LE
 *     20      n     payload: the exporter's encode(item) (OTLP protobuf for traces)
 *
 * The length and checksum turn a torn or bit-rotted file into a clean "corrupt" verdict instead of a decoder
 * throwing somewhere deep (or, worse, decoding garbage that happens to parse).
 *
 * File names are `<sequence, 16 digits>-<item count>.batch`: sorting names sorts by enqueue order, and the count
 * is known at startup without opening every file.
 */
import { crc32 } from '../../core/crc32.js';

export const HEADER_BYTES = 20;
const MAGIC = 0x51534c50; // "PLSQ" read as uint32 LE
const VERSION = 1;
export const FILE_RE = /^(\d{16})-(\d{1,10})\.batch$/;

export function entryFileName(seq: number, count: number): string {
  return `${String(seq).padStart(16, '0')}-${count}.batch`;
}

/** A queue file as the pieces to write one after the other: the header, then the payload's pieces. */
export interface QueueFileParts {
  readonly parts: readonly Uint8Array[];
  /** The file's length. */
  readonly bytes: number;
}

/**
 * The header for `payload` followed by the payload's pieces as given (no copy: the file is written with one
 * vectored system call).
 */
export function queueFileParts(count: number, payload: Uint8Array | readonly Uint8Array[]): QueueFileParts {
  const pieces: readonly Uint8Array[] = payload instanceof Uint8Array ? [payload] : payload;
  let length = 0;
  let crc = 0;
  for (const p of pieces) {
    length += p.length;
    crc = crc32(p, crc);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(VERSION, 4);
  header.writeUInt32LE(count, 8);
  header.writeUInt32LE(length, 12);
  header.writeUInt32LE(crc, 16);
  return { parts: [header, ...pieces], bytes: HEADER_BYTES + length };
}


/** The payload of a queue file, or a string saying why the file is corrupt. */
export function decodeQueueFile(buf: Buffer): { count: number; payload: Buffer } | string {
  if (buf.length < HEADER_BYTES) return `file is ${buf.length} bytes, shorter than the ${HEADER_BYTES}-byte header`;
  if (buf.readUInt32LE(0) !== MAGIC) return 'not a Pulse queue file (bad magic)';
  const version = buf.readUInt8(4);
  if (version !== VERSION) return `unknown queue file version ${version}`;
  const count = buf.readUInt32LE(8);
  const length = buf.readUInt32LE(12);
  if (buf.length - HEADER_BYTES !== length) {
    return `payload is ${buf.length - HEADER_BYTES} bytes but the header says ${length} (torn write?)`;
  }
  const payload = buf.subarray(HEADER_BYTES);
  if (crc32(payload) !== buf.readUInt32LE(16)) return 'checksum mismatch';
  return { count, payload };
}
