/**
 * A strict, bounds-checked protobuf wire-format reader for the hand-written OTLP decoders.
 *
 * Contract: every read is bounded by an `end` offset the caller passes (the end of the enclosing message), so a
 * length, varint or fixed-width value that runs past its message — not just past the buffer — is caught where it
 * happens. Every problem throws `PermanentError('PULSE_ERR_BAD_PROTOBUF')` with a message naming the field (number,
 * message and field name) and the byte offset of its tag, e.g.
 * `truncated length-delimited field 2 (ResourceSpans.scope_spans) at byte 1234: needs 500 bytes, 20 left`.
 * Nothing else is ever thrown for malformed input, and every loop advances `pos`, so no input can hang a decoder.
 *
 * Strings are copied into JS strings and `bytes()` returns a copy, so values never pin a request buffer. (The
 * protobuf decoder does keep the buffer, on purpose, through the spans it decodes: see `DecodedSpan`.)
 */
import { isUtf8 } from 'node:buffer';
import { PermanentError } from '../core/errors.js';

/**
 * A message's proto name and its known fields, `number → "<proto type> <name>"` (e.g. `7: 'fixed64 start_time'`).
 * Read only to word errors and to tell a known field met with the wrong wire type from an unknown field to skip.
 */
export interface MessageInfo {
  readonly name: string;
  readonly fields: Readonly<Record<number, string>>;
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'invalid (6)', 'invalid (7)'];

/** Groups (deprecated proto2) nested deeper than this are rejected rather than risking the stack. */
const MAX_GROUP_DEPTH = 32;

/** Node's Buffer has a `latin1Slice` that is not in @types/node; see `ProtoReader.string` for why it is used. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

// `fatal` so that invalid UTF-8 throws instead of becoming U+FFFD; `ignoreBOM` so that a leading U+FEFF in a string
// value is kept, as protobuf requires (the default would silently strip it).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function protobufError(message: string): PermanentError {
  return new PermanentError('PULSE_ERR_BAD_PROTOBUF', `invalid protobuf: ${message}`);
}

function describe(msg: MessageInfo, field: number): string {
  const spec = msg.fields[field];
  if (spec === undefined) return `field ${field} (unknown field of ${msg.name})`;
  return `field ${field} (${msg.name}.${spec.slice(spec.indexOf(' ') + 1)})`;
}

/** The error for a multi-byte tag at `at` that is over 32 bits (`high`) or has field number 0. */
function badTag(at: number, high: boolean): PermanentError {
  return protobufError(high ? `invalid tag at byte ${at}: larger than 32 bits` : `invalid field number 0 at byte ${at}`);
}

function varintWhat(msg: MessageInfo | null, field: number, what: string): string {
  return msg === null ? what : what + describe(msg, field);
}

/** The wire type a proto type is encoded with. */
function wireTypeOf(protoType: string): number {
  switch (protoType) {
    case 'message':
    case 'string':
    case 'bytes':
      return WIRE_LEN;
    case 'fixed64':
    case 'double':
      return WIRE_FIXED64;
    case 'fixed32':
      return WIRE_FIXED32;
    default:
      return WIRE_VARINT;
  }
}

export class ProtoReader {
  /** A plain Uint8Array view of the input (never a Buffer, so `slice()` copies). */
  readonly buf: Uint8Array;
  readonly view: DataView;
  /** A Buffer view of the same bytes, for `latin1Slice`. */
  private readonly latin1: Latin1Slicer;
  pos = 0;
  /** Set by the last general varint read: whether the value had bits above bit 31 (too big for a length or tag). */
  private varintHigh = false;

  constructor(input: Uint8Array) {
    this.buf = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    this.latin1 = Buffer.from(input.buffer, input.byteOffset, input.byteLength) as unknown as Latin1Slicer;
  }

  /** Reads a tag; returns `fieldNumber << 3 | wireType`. Tags of fields 1..15 are one byte: the fast path. */
  tag(end: number): number {
    const b = this.pos < end ? this.buf[this.pos]! : 0x80;
    if (b < 0x80) {
      this.pos++;
      if (b < 8) throw protobufError(`invalid field number 0 at byte ${this.pos - 1}`);
      return b;
    }
    const at = this.pos;
    const t = this.varintAt(end, null, 0, at, 'tag');
    // One throw, not one per check: TurboFan hoisted the `${at}` that two throws shared above both checks, so every
    // multi-byte tag (each span's `flags`) paid a number-to-string conversion (~1.5% of Pulse's CPU under `perf`).
    if (this.varintHigh || t >>> 3 === 0) throw badTag(at, this.varintHigh);
    return t;
  }

  /** A varint's low 32 bits as an unsigned number (uint32 fields; an int32 caller applies `| 0`). */
  uint32(end: number, msg: MessageInfo, field: number, at: number): number {
    const b = this.pos < end ? this.buf[this.pos]! : 0x80;
    if (b < 0x80) {
      this.pos++;
      return b;
    }
    return this.varintAt(end, msg, field, at, '');
  }

  /**
   * The general varint reader; returns the low 32 bits, unsigned. `msg`/`field`/`what` only word errors (built
   * lazily: wording them up front cost ~1% of a whole decode).
   */
  private varintAt(end: number, msg: MessageInfo | null, field: number, at: number, what: string): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let high = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) throw protobufError(`truncated varint in ${varintWhat(msg, field, what)} at byte ${at}`);
      const b = buf[pos++]!;
      // Bits past 32 are dropped from the result (uint32/int32 fields keep the low 32 bits; int32 enums are
      // sign-extended to 10 bytes) but noted, so that lengths and tags can refuse them.
      if (shift < 32) {
        result |= (b & 0x7f) << shift;
        if (shift === 28) high |= b & 0x70;
      } else high |= b & 0x7f;
      if (b < 0x80) {
        this.pos = pos;
        this.varintHigh = high !== 0;
        return result >>> 0;
      }
    }
    throw protobufError(`varint longer than 10 bytes in ${varintWhat(msg, field, what)} at byte ${at}`);
  }

  /** An int64 varint as a bigint (two's complement: 10-byte varints are negative). */
  int64(end: number, msg: MessageInfo, field: number, at: number): bigint {
    const buf = this.buf;
    let pos = this.pos;
    // Up to 7 bytes (49 bits) accumulate exactly in a double: the common case of small ints stays off bigint math.
    let low = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (pos >= end) throw protobufError(`truncated varint in ${describe(msg, field)} at byte ${at}`);
      const b = buf[pos++]!;
      low += (b & 0x7f) * mul;
      if (b < 0x80) {
        this.pos = pos;
        return BigInt(low);
      }
      mul *= 128;
    }
    let high = 0n;
    let shift = 0n;
    for (let i = 7; i < 10; i++) {
      if (pos >= end) throw protobufError(`truncated varint in ${describe(msg, field)} at byte ${at}`);
      const b = buf[pos++]!;
      high |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return BigInt.asIntN(64, (high << 49n) | BigInt(low));
      }
      shift += 7n;
    }
    throw protobufError(`varint longer than 10 bytes in ${describe(msg, field)} at byte ${at}`);
  }

  /** A varint read only for its truth value (bool fields). */
  bool(end: number, msg: MessageInfo, field: number, at: number): boolean {
    const buf = this.buf;
    let pos = this.pos;
    let any = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw protobufError(`truncated varint in ${describe(msg, field)} at byte ${at}`);
      const b = buf[pos++]!;
      any |= b & 0x7f;
      if (b < 0x80) {
        this.pos = pos;
        return any !== 0;
      }
    }
    throw protobufError(`varint longer than 10 bytes in ${describe(msg, field)} at byte ${at}`);
  }

  fixed32(end: number, msg: MessageInfo, field: number, at: number): number {
    this.need(4, end, msg, field, at, 'fixed32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  fixed64(end: number, msg: MessageInfo, field: number, at: number): bigint {
    this.need(8, end, msg, field, at, 'fixed64');
    // DataView.getBigUint64 is ~10-16 ns, far cheaper than assembling a bigint from two 32-bit halves.
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Checks that a fixed64 fits, steps over it and returns its offset (for a value read later, e.g. `view.getBigUint64`). */
  skipFixed64(end: number, msg: MessageInfo, field: number, at: number): number {
    this.need(8, end, msg, field, at, 'fixed64');
    const p = this.pos;
    this.pos = p + 8;
    return p;
  }

  double(end: number, msg: MessageInfo, field: number, at: number): number {
    this.need(8, end, msg, field, at, 'fixed64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  private need(n: number, end: number, msg: MessageInfo, field: number, at: number, what: string): void {
    if (end - this.pos < n) {
      throw protobufError(`truncated ${what} ${describe(msg, field)} at byte ${at}: needs ${n} bytes, ${end - this.pos} left`);
    }
  }

  /** Reads the length of a length-delimited field and checks it fits in the enclosing message. */
  len(end: number, msg: MessageInfo, field: number, at: number): number {
    const b = this.pos < end ? this.buf[this.pos]! : 0x80;
    let n: number;
    if (b < 0x80) {
      this.pos++;
      n = b;
    } else {
      n = this.varintAt(end, msg, field, at, 'the length of ');
      if (this.varintHigh) n = Infinity; // beyond 4 GiB: certainly longer than what is left
    }
    if (n > end - this.pos) {
      throw protobufError(
        `truncated length-delimited ${describe(msg, field)} at byte ${at}: needs ${n === Infinity ? 'over 4 GiB' : `${n} bytes`}, ${end - this.pos} left`,
      );
    }
    return n;
  }

  /** Reads the length of an embedded message (checked like `len`) and returns the offset where the message ends. */
  sub(end: number, msg: MessageInfo, field: number, at: number): number {
    const n = this.len(end, msg, field, at);
    return this.pos + n;
  }

  /**
   * A proto3 `string` of `n` bytes at `pos` (already bounds-checked by `len`). ASCII — nearly every key and value —
   * takes the fast path: one scan, then `latin1Slice` (~45 ns flat, which beats building the string char by char
   * beyond ~8 bytes and skips TextDecoder's ~80 ns call overhead). Anything else goes through a fatal TextDecoder,
   * so invalid UTF-8 is rejected rather than silently replaced.
   */
  string(n: number, msg: MessageInfo, field: number, at: number): string {
    const buf = this.buf;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    const i = this.asciiUpTo(start, end);
    if (i === end) return n === 0 ? '' : this.latin1.latin1Slice(start, end);
    try {
      return utf8Decoder.decode(buf.subarray(start, end));
    } catch {
      throw this.notUtf8(msg, field, at, i, end);
    }
  }

  /**
   * Checks the proto3 `string` of `n` bytes at `pos` like `string` does (same error), and moves past it without
   * building it: what the decoder does for attributes it leaves to be decoded on first use.
   */
  checkString(n: number, msg: MessageInfo, field: number, at: number): void {
    const buf = this.buf;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    const i = this.asciiUpTo(start, end);
    // From the first non-ASCII byte on (a character boundary: the byte before it is ASCII, or it is the first).
    if (i !== end && !isUtf8(buf.subarray(i, end))) throw this.notUtf8(msg, field, at, i, end);
  }

  /** The error for a string field whose bytes from `from` (its first non-ASCII byte) to `end` are not UTF-8. */
  private notUtf8(msg: MessageInfo, field: number, at: number, from: number, end: number): PermanentError {
    return protobufError(`${describe(msg, field)} at byte ${at} is not valid UTF-8 (invalid sequence at byte ${invalidUtf8At(this.buf, from, end)})`);
  }

  /** The offset of the first byte in `[start, end)` that is not ASCII, or `end`. Four bytes per step while it can. */
  private asciiUpTo(start: number, end: number): number {
    const view = this.view;
    let i = start;
    for (const last4 = end - 4; i <= last4; i += 4) if ((view.getUint32(i, true) & 0x80808080) !== 0) break;
    const buf = this.buf;
    while (i < end && buf[i]! < 0x80) i++;
    return i;
  }

  /** `n` raw bytes as a binary string, one char per byte (trace and span ids). */
  binary(n: number): string {
    const b = this.buf;
    const p = this.pos;
    this.pos = p + n;
    // Spread-free fixed-arity calls for the two id sizes: ~15-22 ns, about half of latin1Slice.
    if (n === 16) {
      return String.fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!);
    }
    if (n === 8) return String.fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    return n === 0 ? '' : this.latin1.latin1Slice(p, p + n);
  }

  /** `binary` of the `n` bytes at `offset`, without moving `pos` (for values read after decoding). */
  binaryAt(offset: number, n: number): string {
    const saved = this.pos;
    this.pos = offset;
    const id = this.binary(n);
    this.pos = saved;
    return id;
  }

  /** `n` raw bytes as a fresh copy (never a view: a view would keep the whole request buffer alive). */
  bytes(n: number): Uint8Array {
    const p = this.pos;
    this.pos = p + n;
    return this.buf.slice(p, p + n);
  }

  /** True when the `n` bytes at `pos` are all zero (an invalid id). Does not move `pos`. */
  allZero(n: number): boolean {
    const b = this.buf;
    let acc = 0;
    for (let i = this.pos, e = this.pos + n; i < e; i++) acc |= b[i]!;
    return acc === 0;
  }

  /** Throws unless the field has the wire type the schema gives it. */
  expect(wireType: number, expected: number, msg: MessageInfo, field: number, at: number): void {
    if (wireType !== expected) {
      throw protobufError(
        `${describe(msg, field)} at byte ${at} has wire type ${wireType} (${WIRE_NAMES[wireType]}), expected ${expected} (${WIRE_NAMES[expected]})`,
      );
    }
  }

  /**
   * For a tag the decoder's switch did not take: a known field with the wrong wire type is an error; an unknown field
   * is skipped (forward compatibility).
   */
  other(tag: number, end: number, msg: MessageInfo, at: number): void {
    const field = tag >>> 3;
    const spec = msg.fields[field];
    if (spec !== undefined) this.expect(tag & 7, wireTypeOf(spec.slice(0, spec.indexOf(' '))), msg, field, at);
    this.skip(tag & 7, end, msg, field, at);
  }

  /** Skips a field's value (forward compatibility), including proto2 groups. */
  skip(wireType: number, end: number, msg: MessageInfo, field: number, at: number, depth = 0): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varintAt(end, msg, field, at, '');
        return;
      case WIRE_FIXED64:
        this.need(8, end, msg, field, at, 'fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN: {
        const n = this.len(end, msg, field, at); // not `this.pos += this.len(…)`: len() moves pos itself
        this.pos += n;
        return;
      }
      case WIRE_FIXED32:
        this.need(4, end, msg, field, at, 'fixed32');
        this.pos += 4;
        return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw protobufError(`groups nested deeper than ${MAX_GROUP_DEPTH} at byte ${at}`);
        for (;;) {
          if (this.pos >= end) throw protobufError(`unterminated group ${describe(msg, field)} at byte ${at}`);
          const innerAt = this.pos;
          const t = this.tag(end);
          if ((t & 7) === WIRE_END_GROUP) {
            if (t >>> 3 !== field) {
              throw protobufError(`group ${describe(msg, field)} at byte ${at} closed by an end-group tag for field ${t >>> 3} at byte ${innerAt}`);
            }
            return;
          }
          this.skip(t & 7, end, msg, t >>> 3, innerAt, depth + 1);
        }
      }
      default:
        throw protobufError(
          wireType === WIRE_END_GROUP
            ? `unexpected end-group tag for ${describe(msg, field)} at byte ${at}`
            : `${describe(msg, field)} at byte ${at} has invalid wire type ${wireType}`,
        );
    }
  }
}

/** Locates the first invalid UTF-8 sequence at or after `from`, for the error message only. */
function invalidUtf8At(buf: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const b = buf[i]!;
    let n: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + n >= end) return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return i;
}
