/**
 * Pulse's span model → `ExportTraceServiceRequest` protobuf bytes, canonically: fields in field-number order,
 * proto3 defaults (empty strings, zero numbers, empty lists, an UNSET status) omitted, `resource`, `scope` and every
 * attribute `value` always written (an empty AnyValue for `null`), AnyValue members always written (even `""`, `0`,
 * `false`). So decoding and re-encoding canonical input gives the same bytes.
 *
 * Two passes and one allocation: pass 1 walks the batch and records, in visiting order, the body size of every
 * nested message and the UTF-8 length of every string in a reusable Int32Array; pass 2 allocates exactly that many
 * bytes and walks the batch again in the same order, reading those sizes back for the length prefixes. Recording
 * string lengths means each string is measured once, and a string whose UTF-8 length equals its JS length is known
 * to be ASCII, so pass 2 copies it without an encoder.
 *
 * **Spans decoded from protobuf are copied, not re-encoded**: the decoder leaves each span's bytes and position on
 * it (`Span.rawBuf` …), and a span that has only gained attributes since (the journeys connector's tags) is written
 * as those bytes plus the new attributes. This is byte-for-byte what arrived (unknown fields included), not the
 * canonical form, and ~20× cheaper than encoding the span's fields.
 *
 * Values outside their proto type wrap as protobuf does: a bigint beyond int64 is taken modulo 2^64, a timestamp
 * modulo 2^64, counts and flags modulo 2^32. Id strings are written one byte per char (the model's binary ids).
 */
import { KvList, type AnyValue, type KeyValue, type ResourceSpans, type ScopeSpans, type Span, type TraceBatch } from '../core/model.js';
import { decodedAttributes } from './proto-decode.js';

/** Node's Buffer write methods that @types/node does not declare (documented `buf.write` adds argument parsing). */
interface FastWriter {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
}

// Module state: encoding is synchronous and not re-entrant, so one sizes array and one output cursor serve all calls.
const INITIAL_SLOTS = 16384;
/** After an unusually large batch, the sizes array is dropped back to its initial size rather than kept. */
const MAX_KEPT_SLOTS = 1 << 20;
let sizes = new Int32Array(INITIAL_SLOTS);
/** Pass 1: next free slot. Pass 2: next slot to read. */
let top = 0;
const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);
const EMPTY_FAST = Buffer.alloc(0) as unknown as FastWriter;
let out: Uint8Array = EMPTY;
let outView: DataView = EMPTY_VIEW;
let outFast: FastWriter = EMPTY_FAST;
let pos = 0;

/**
 * Encodes `batch`. `allocate`, when given, provides the output (exactly `n` bytes, e.g. a view of a reused buffer):
 * for a caller that only needs the bytes until it has compressed them, so that each request does not allocate a
 * fresh buffer of its uncompressed size (allocations of ArrayBuffers are what drives V8's young-generation GCs here).
 */
export function encodeTraceRequest(batch: TraceBatch, allocate?: (n: number) => Uint8Array): Uint8Array {
  top = 0;
  let total = 0;
  for (const rs of batch.resourceSpans) total += messageField(1, sizeResourceSpans(rs));
  const buf = allocate === undefined ? new Uint8Array(total) : allocate(total);
  if (buf.length !== total) throw new Error(`BUG: allocate(${total}) returned ${buf.length} bytes`);
  start(buf);
  for (const rs of batch.resourceSpans) {
    out[pos++] = 10; // 1: resource_spans
    writeResourceSpans(rs);
  }
  return finish(buf);
}

/** Points the writer at `buf` for pass 2. */
function start(buf: Uint8Array): void {
  out = buf;
  outView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  outFast = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) as unknown as FastWriter;
  pos = 0;
  top = 0;
}

function finish(buf: Uint8Array): Uint8Array {
  if (pos !== buf.length) throw new Error(`BUG: OTLP encoder wrote ${pos} bytes into a ${buf.length}-byte buffer`);
  // Drop references so the module does not pin the last (possibly large) output.
  if (sizes.length > MAX_KEPT_SLOTS) sizes = new Int32Array(INITIAL_SLOTS);
  out = EMPTY;
  outView = EMPTY_VIEW;
  outFast = EMPTY_FAST;
  return buf;
}

// ---- sizes (pass 1) -------------------------------------------------------------------------------------------

function reserve(): number {
  if (top === sizes.length) {
    const bigger = new Int32Array(sizes.length * 2);
    bigger.set(sizes);
    sizes = bigger;
  }
  return top++;
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** The size of a length-delimited field with a one-byte tag (fields 1..15) and a body of `n` bytes. */
function messageField(_field: number, n: number): number {
  return 1 + varintSize(n) + n;
}

/** UTF-8 byte length of a JS string (lone surrogates count 3, as they are written as U+FFFD). */
export function utf8Length(s: string): number {
  const len = s.length;
  let n = len;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 chars, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** Records a string's UTF-8 length; returns the size of the string as a field (tag, length, bytes). */
function stringField(s: string): number {
  const n = utf8Length(s);
  const slot = reserve(); // not `sizes[reserve()] = n`: reserve() may replace `sizes`, and the write would be lost
  sizes[slot] = n;
  return 1 + varintSize(n) + n;
}

function bytesField(n: number): number {
  return 1 + varintSize(n) + n;
}

// Int64 halves shared by int64Size and writeInt64, so each bigint is split with one set of bigint operations.
let lo64 = 0;
let hi64 = 0;

function splitInt64(v: bigint): void {
  if (v >= 0n && v <= 0xffffffffn) {
    lo64 = Number(v);
    hi64 = 0;
  } else {
    const u = BigInt.asUintN(64, v);
    lo64 = Number(u & 0xffffffffn);
    hi64 = Number(u >> 32n);
  }
}

function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return varintSize(lo);
  return Math.ceil((64 - Math.clz32(hi)) / 7);
}

/** An int32 enum as protobuf writes it: negative values sign-extend to 10 bytes. */
function enumSize(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

function sizeAttributes(attrs: readonly KeyValue[]): number {
  let n = 0;
  for (let i = 0; i < attrs.length; i++) n += messageField(1, sizeKeyValue(attrs[i]!));
  return n;
}

function sizeKeyValue(kv: KeyValue): number {
  const slot = reserve();
  let n = kv.key.length === 0 ? 0 : stringField(kv.key);
  n += messageField(2, sizeAnyValue(kv.value));
  sizes[slot] = n;
  return n;
}

function sizeAnyValue(v: AnyValue): number {
  const slot = reserve();
  let n: number;
  switch (typeof v) {
    case 'string':
      n = stringField(v);
      break;
    case 'boolean':
      n = 2;
      break;
    case 'bigint':
      splitInt64(v);
      n = 1 + varint64Size(lo64, hi64);
      break;
    case 'number':
      n = 9;
      break;
    case 'object':
      if (v === null) n = 0;
      else if (v instanceof Uint8Array) n = bytesField(v.length);
      else if (v instanceof KvList) {
        const inner = reserve();
        const m = sizeAttributes(v.values);
        sizes[inner] = m;
        n = messageField(6, m);
      } else if (Array.isArray(v)) {
        const inner = reserve();
        let m = 0;
        for (let i = 0; i < v.length; i++) m += messageField(1, sizeAnyValue(v[i]!));
        sizes[inner] = m;
        n = messageField(5, m);
      } else n = 0; // not an AnyValue (a bug upstream): written as an empty value rather than failing the batch
      break;
    case 'undefined':
    case 'function':
    case 'symbol':
      n = 0; // likewise
      break;
  }
  sizes[slot] = n;
  return n;
}

function sizeResourceSpans(rs: ResourceSpans): number {
  const slot = reserve();
  const resSlot = reserve();
  let res = sizeAttributes(rs.resource.attributes);
  if (rs.resource.droppedAttributesCount !== 0) res += 1 + varintSize(rs.resource.droppedAttributesCount >>> 0);
  sizes[resSlot] = res;
  let n = messageField(1, res);
  for (const ss of rs.scopeSpans) n += messageField(2, sizeScopeSpans(ss));
  if (rs.schemaUrl.length !== 0) n += stringField(rs.schemaUrl);
  sizes[slot] = n;
  return n;
}

function sizeScopeSpans(ss: ScopeSpans): number {
  const slot = reserve();
  const scopeSlot = reserve();
  const scope = ss.scope;
  let sc = 0;
  if (scope.name.length !== 0) sc += stringField(scope.name);
  if (scope.version.length !== 0) sc += stringField(scope.version);
  sc += sizeAttributes(scope.attributes);
  if (scope.droppedAttributesCount !== 0) sc += 1 + varintSize(scope.droppedAttributesCount >>> 0);
  sizes[scopeSlot] = sc;
  let n = messageField(1, sc);
  const spans = ss.spans;
  for (let i = 0; i < spans.length; i++) n += messageField(2, sizeSpan(spans[i]!));
  if (ss.schemaUrl.length !== 0) n += stringField(ss.schemaUrl);
  sizes[slot] = n;
  return n;
}

/**
 * Whether `s` can be written by copying its decoded bytes: it has them and has only gained attributes since (its
 * attributes were never read, or they still start with the decoded ones). Reads no attributes that are not decoded.
 */
function copyable(s: Span): boolean {
  if (s.rawBuf === undefined) return false;
  const attrs = decodedAttributes(s);
  return attrs === undefined || attrs.length >= s.rawAttributes!;
}

function sizeSpan(s: Span): number {
  const slot = reserve();
  if (copyable(s)) {
    let n = s.rawEnd! - s.rawStart!;
    const attrs = decodedAttributes(s);
    if (attrs !== undefined) for (let i = s.rawAttributes!; i < attrs.length; i++) n += messageField(9, sizeKeyValue(attrs[i]!));
    sizes[slot] = n;
    return n;
  }
  let n = 0;
  if (s.traceId.length !== 0) n += bytesField(s.traceId.length);
  if (s.spanId.length !== 0) n += bytesField(s.spanId.length);
  if (s.traceState.length !== 0) n += stringField(s.traceState);
  if (s.parentSpanId.length !== 0) n += bytesField(s.parentSpanId.length);
  if (s.name.length !== 0) n += stringField(s.name);
  if (s.kind !== 0) n += 1 + enumSize(s.kind);
  if (s.startTimeUnixNano !== 0n) n += 9;
  if (s.endTimeUnixNano !== 0n) n += 9;
  n += sizeAttributes(s.attributes);
  if (s.droppedAttributesCount !== 0) n += 1 + varintSize(s.droppedAttributesCount >>> 0);
  for (const e of s.events) {
    const eslot = reserve();
    let m = 0;
    if (e.timeUnixNano !== 0n) m += 9;
    if (e.name.length !== 0) m += stringField(e.name);
    m += sizeAttributes(e.attributes);
    if (e.droppedAttributesCount !== 0) m += 1 + varintSize(e.droppedAttributesCount >>> 0);
    sizes[eslot] = m;
    n += messageField(11, m);
  }
  if (s.droppedEventsCount !== 0) n += 1 + varintSize(s.droppedEventsCount >>> 0);
  for (const l of s.links) {
    const lslot = reserve();
    let m = 0;
    if (l.traceId.length !== 0) m += bytesField(l.traceId.length);
    if (l.spanId.length !== 0) m += bytesField(l.spanId.length);
    if (l.traceState.length !== 0) m += stringField(l.traceState);
    m += sizeAttributes(l.attributes);
    if (l.droppedAttributesCount !== 0) m += 1 + varintSize(l.droppedAttributesCount >>> 0);
    if (l.flags !== 0) m += 5;
    sizes[lslot] = m;
    n += messageField(13, m);
  }
  if (s.droppedLinksCount !== 0) n += 1 + varintSize(s.droppedLinksCount >>> 0);
  if (s.statusCode !== 0 || s.statusMessage.length !== 0) {
    const stSlot = reserve();
    let m = 0;
    if (s.statusMessage.length !== 0) m += stringField(s.statusMessage);
    if (s.statusCode !== 0) m += 1 + enumSize(s.statusCode);
    sizes[stSlot] = m;
    n += messageField(15, m);
  }
  if (s.flags !== 0) n += 6; // two-byte tag + fixed32
  sizes[slot] = n;
  return n;
}

// ---- writing (pass 2) ----------------------------------------------------------------------------------------

function writeVarint(v: number): void {
  while (v > 127) {
    out[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  out[pos++] = v;
}

function writeVarint64(lo: number, hi: number): void {
  while (hi !== 0 || lo > 127) {
    out[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out[pos++] = lo;
}

function writeEnum(v: number): void {
  if (v < 0) writeVarint64(v >>> 0, 0xffffffff);
  else writeVarint(v);
}

/** Length prefix of the next recorded message. */
function writeLength(): void {
  writeVarint(sizes[top++]!);
}

/** A string whose UTF-8 length pass 1 recorded: length prefix, then the bytes. */
function writeString(s: string): void {
  const n = sizes[top++]!;
  writeVarint(n);
  if (n === s.length) {
    // ASCII (UTF-8 length equals UTF-16 length only when every char is < 0x80). Short strings are cheaper to copy
    // in JS than to hand to the native writer, whose call overhead is ~40 ns.
    if (n <= 24) for (let i = 0; i < n; i++) out[pos + i] = s.charCodeAt(i);
    else outFast.latin1Write(s, pos, n);
  } else {
    outFast.utf8Write(s, pos, n);
  }
  pos += n;
}

/** A binary id string, one byte per char, with its length prefix. */
function writeId(id: string): void {
  const n = id.length;
  writeVarint(n);
  for (let i = 0; i < n; i++) out[pos + i] = id.charCodeAt(i);
  pos += n;
}

function writeFixed64(v: bigint): void {
  // setBigUint64 reduces the value modulo 2^64 itself.
  outView.setBigUint64(pos, v, true);
  pos += 8;
}

function writeFixed32(v: number): void {
  outView.setUint32(pos, v >>> 0, true);
  pos += 4;
}

function writeAttributes(attrs: readonly KeyValue[], tag: number): void {
  for (let i = 0; i < attrs.length; i++) {
    out[pos++] = tag;
    writeKeyValue(attrs[i]!);
  }
}

function writeKeyValue(kv: KeyValue): void {
  writeLength();
  if (kv.key.length !== 0) {
    out[pos++] = 10; // 1: key
    writeString(kv.key);
  }
  out[pos++] = 18; // 2: value
  writeAnyValue(kv.value);
}

function writeAnyValue(v: AnyValue): void {
  writeLength();
  switch (typeof v) {
    case 'string':
      out[pos++] = 10; // 1: string_value
      writeString(v);
      return;
    case 'boolean':
      out[pos++] = 16; // 2: bool_value
      out[pos++] = v ? 1 : 0;
      return;
    case 'bigint':
      out[pos++] = 24; // 3: int_value
      splitInt64(v);
      writeVarint64(lo64, hi64);
      return;
    case 'number':
      out[pos++] = 33; // 4: double_value
      outView.setFloat64(pos, v, true);
      pos += 8;
      return;
    case 'object':
      if (v === null) return;
      if (v instanceof Uint8Array) {
        out[pos++] = 58; // 7: bytes_value
        writeVarint(v.length);
        out.set(v, pos);
        pos += v.length;
      } else if (v instanceof KvList) {
        out[pos++] = 50; // 6: kvlist_value
        writeLength();
        writeAttributes(v.values, 10); // KeyValueList 1: values
      } else if (Array.isArray(v)) {
        out[pos++] = 42; // 5: array_value
        writeLength();
        for (let i = 0; i < v.length; i++) {
          out[pos++] = 10; // ArrayValue 1: values
          writeAnyValue(v[i]!);
        }
      }
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
      return;
  }
}

function writeResourceSpans(rs: ResourceSpans): void {
  writeLength();
  out[pos++] = 10; // 1: resource
  writeLength();
  writeAttributes(rs.resource.attributes, 10); // Resource 1: attributes
  if (rs.resource.droppedAttributesCount !== 0) {
    out[pos++] = 16; // Resource 2: dropped_attributes_count
    writeVarint(rs.resource.droppedAttributesCount >>> 0);
  }
  for (const ss of rs.scopeSpans) {
    out[pos++] = 18; // 2: scope_spans
    writeScopeSpans(ss);
  }
  if (rs.schemaUrl.length !== 0) {
    out[pos++] = 26; // 3: schema_url
    writeString(rs.schemaUrl);
  }
}

function writeScopeSpans(ss: ScopeSpans): void {
  writeLength();
  const scope = ss.scope;
  out[pos++] = 10; // 1: scope
  writeLength();
  if (scope.name.length !== 0) {
    out[pos++] = 10; // InstrumentationScope 1: name
    writeString(scope.name);
  }
  if (scope.version.length !== 0) {
    out[pos++] = 18; // 2: version
    writeString(scope.version);
  }
  writeAttributes(scope.attributes, 26); // 3: attributes
  if (scope.droppedAttributesCount !== 0) {
    out[pos++] = 32; // 4: dropped_attributes_count
    writeVarint(scope.droppedAttributesCount >>> 0);
  }
  const spans = ss.spans;
  for (let i = 0; i < spans.length; ) {
    out[pos++] = 18; // 2: spans
    const run = copiedRun(spans, i);
    if (run > 1) {
      // Spans that were back to back in the request and are copied as they came: one copy for all of them, tags
      // and lengths included (they are the ones pass 1 computed, see `copiedRun`), skipping their size slots.
      const first = spans[i]!;
      const end = spans[i + run - 1]!.rawEnd!;
      writeLength();
      out.set(first.rawBuf!.subarray(first.rawStart!, end), pos);
      pos += end - first.rawStart!;
      top += run - 1;
      i += run;
    } else {
      writeSpan(spans[i]!);
      i++;
    }
  }
  if (ss.schemaUrl.length !== 0) {
    out[pos++] = 26; // 3: schema_url
    writeString(ss.schemaUrl);
  }
}

/**
 * How many spans from `spans[i]` on can be written as one copy of the request's bytes: each is copied as it came
 * (no attribute added) and starts right after the previous one's end plus exactly a one-byte tag and its length
 * as a minimal varint — the bytes pass 2 would write between them. Then the source holds nothing else between
 * them (an unknown field, another message, a longer varint would take more bytes). 0 or 1: copy span by span.
 */
function copiedRun(spans: readonly Span[], i: number): number {
  const first = spans[i]!;
  if (!copiedAsIs(first)) return 0;
  const buf = first.rawBuf!;
  let end = first.rawEnd!;
  let n = 1;
  while (i + n < spans.length) {
    const next = spans[i + n]!;
    if (next.rawBuf !== buf || !copiedAsIs(next)) break;
    const len = next.rawEnd! - next.rawStart!;
    if (next.rawStart !== end + 1 + varintSize(len) || buf[end] !== 18) break;
    end = next.rawEnd!;
    n++;
  }
  return n;
}

/** `copyable` with no attribute added: pass 1 reserved exactly one size slot for it. */
function copiedAsIs(s: Span): boolean {
  if (s.rawBuf === undefined) return false;
  const attrs = decodedAttributes(s);
  return attrs === undefined || attrs.length === s.rawAttributes!;
}

function writeSpan(s: Span): void {
  writeLength();
  if (copyable(s)) {
    // The decoded bytes as they came (unknown fields included), then the attributes added since, as more
    // occurrences of field 9: protobuf appends repeated fields wherever they appear.
    out.set(s.rawBuf!.subarray(s.rawStart!, s.rawEnd!), pos);
    pos += s.rawEnd! - s.rawStart!;
    const attrs = decodedAttributes(s);
    if (attrs === undefined) return;
    for (let i = s.rawAttributes!; i < attrs.length; i++) {
      out[pos++] = 74; // 9: attributes
      writeKeyValue(attrs[i]!);
    }
    return;
  }
  if (s.traceId.length !== 0) {
    out[pos++] = 10; // 1: trace_id
    writeId(s.traceId);
  }
  if (s.spanId.length !== 0) {
    out[pos++] = 18; // 2: span_id
    writeId(s.spanId);
  }
  if (s.traceState.length !== 0) {
    out[pos++] = 26; // 3: trace_state
    writeString(s.traceState);
  }
  if (s.parentSpanId.length !== 0) {
    out[pos++] = 34; // 4: parent_span_id
    writeId(s.parentSpanId);
  }
  if (s.name.length !== 0) {
    out[pos++] = 42; // 5: name
    writeString(s.name);
  }
  if (s.kind !== 0) {
    out[pos++] = 48; // 6: kind
    writeEnum(s.kind);
  }
  if (s.startTimeUnixNano !== 0n) {
    out[pos++] = 57; // 7: start_time_unix_nano
    writeFixed64(s.startTimeUnixNano);
  }
  if (s.endTimeUnixNano !== 0n) {
    out[pos++] = 65; // 8: end_time_unix_nano
    writeFixed64(s.endTimeUnixNano);
  }
  writeAttributes(s.attributes, 74); // 9: attributes
  if (s.droppedAttributesCount !== 0) {
    out[pos++] = 80; // 10: dropped_attributes_count
    writeVarint(s.droppedAttributesCount >>> 0);
  }
  for (const e of s.events) {
    out[pos++] = 90; // 11: events
    writeLength();
    if (e.timeUnixNano !== 0n) {
      out[pos++] = 9; // Event 1: time_unix_nano
      writeFixed64(e.timeUnixNano);
    }
    if (e.name.length !== 0) {
      out[pos++] = 18; // Event 2: name
      writeString(e.name);
    }
    writeAttributes(e.attributes, 26); // Event 3: attributes
    if (e.droppedAttributesCount !== 0) {
      out[pos++] = 32; // Event 4: dropped_attributes_count
      writeVarint(e.droppedAttributesCount >>> 0);
    }
  }
  if (s.droppedEventsCount !== 0) {
    out[pos++] = 96; // 12: dropped_events_count
    writeVarint(s.droppedEventsCount >>> 0);
  }
  for (const l of s.links) {
    out[pos++] = 106; // 13: links
    writeLength();
    if (l.traceId.length !== 0) {
      out[pos++] = 10; // Link 1: trace_id
      writeId(l.traceId);
    }
    if (l.spanId.length !== 0) {
      out[pos++] = 18; // Link 2: span_id
      writeId(l.spanId);
    }
    if (l.traceState.length !== 0) {
      out[pos++] = 26; // Link 3: trace_state
      writeString(l.traceState);
    }
    writeAttributes(l.attributes, 34); // Link 4: attributes
    if (l.droppedAttributesCount !== 0) {
      out[pos++] = 40; // Link 5: dropped_attributes_count
      writeVarint(l.droppedAttributesCount >>> 0);
    }
    if (l.flags !== 0) {
      out[pos++] = 53; // Link 6: flags
      writeFixed32(l.flags);
    }
  }
  if (s.droppedLinksCount !== 0) {
    out[pos++] = 112; // 14: dropped_links_count
    writeVarint(s.droppedLinksCount >>> 0);
  }
  if (s.statusCode !== 0 || s.statusMessage.length !== 0) {
    out[pos++] = 122; // 15: status
    writeLength();
    if (s.statusMessage.length !== 0) {
      out[pos++] = 18; // Status 2: message
      writeString(s.statusMessage);
    }
    if (s.statusCode !== 0) {
      out[pos++] = 24; // Status 3: code
      writeEnum(s.statusCode);
    }
  }
  if (s.flags !== 0) {
    out[pos++] = 133; // 16: flags, as the two-byte tag varint 0x85 0x01
    out[pos++] = 1;
    writeFixed32(s.flags);
  }
}
