/**
 * A tiny, deliberately naive protobuf writer for hand-crafting test inputs (valid, non-canonical and malformed),
 * independent of the encoder under test.
 */
export type Bytes = number[];

export function varint(n: number | bigint): Bytes {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: Bytes = [];
  while (v > 127n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function tag(field: number, wireType: number): Bytes {
  return varint((field << 3) | wireType);
}

/** A length-delimited field: message, string or bytes. */
export function ld(field: number, ...body: Bytes[]): Bytes {
  const flat = body.flat();
  return [...tag(field, 2), ...varint(flat.length), ...flat];
}

export function str(field: number, s: string): Bytes {
  return ld(field, [...Buffer.from(s, 'utf8')]);
}

export function vint(field: number, n: number | bigint): Bytes {
  return [...tag(field, 0), ...varint(n)];
}

export function fixed64(field: number, n: bigint): Bytes {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return [...tag(field, 1), ...b];
}

export function fixed32(field: number, n: number): Bytes {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return [...tag(field, 5), ...b];
}

export function hex(h: string): Bytes {
  return [...Buffer.from(h, 'hex')];
}

export function bytes(...parts: Bytes[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

export const TRACE_ID = '5b8efff798038103d269b633813fc60c';
export const SPAN_ID = 'eee19b7ec3c1b174';

/** An ExportTraceServiceRequest with one resource, one scope and the given encoded spans. */
export function request(...spans: Bytes[]): Uint8Array {
  return bytes(ld(1, ld(1, ld(1, str(1, 'service.name'), ld(2, str(1, 'svc')))), ld(2, ld(1, str(1, 'scope')), ...spans.map((s) => ld(2, s)))));
}

/** The fields of a minimal valid span, to extend in tests. */
export function spanFields(...extra: Bytes[]): Bytes {
  return [...ld(1, hex(TRACE_ID)), ...ld(2, hex(SPAN_ID)), ...str(5, 'op'), ...extra.flat()];
}
