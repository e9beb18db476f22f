/**
 * `ExportTraceServiceRequest` protobuf bytes → Pulse's span model, in one hand-written pass.
 *
 * Why hand-written: generic protobuf libraries decode into their own objects that then need converting, and turn
 * every id into hex or base64; one pass straight into the model, with binary-string ids, bigint timestamps and
 * interned attribute keys, is ~2-4× faster (see /work/shared/PERFORMANCE.md).
 *
 * Strict: any malformed input throws `PermanentError('PULSE_ERR_BAD_PROTOBUF')` (see proto-reader.ts). Spans that
 * are well-formed but unusable (trace id not 16 non-zero bytes, span id not 8 non-zero bytes, parent span id neither
 * empty nor 8 bytes) are left out and counted in `rejectedSpans`. A parent span id of 8 zero bytes means "no
 * parent" and decodes as `''`. Unknown fields are skipped.
 *
 * **Span attributes are checked at once but decoded on first use.** Most spans are only forwarded (by copying
 * their bytes, see proto-encode.ts) and nothing ever reads their attributes, so the decoder validates each span's
 * attributes exactly as decoding them would (same errors: a malformed request is still refused whole) but builds
 * no objects for them; `span.attributes` decodes them from the request's bytes the first time it is read. That
 * saves ~8 objects and ~1 µs per span that no journey selector looks into. Resource, scope, event and link
 * attributes are decoded at once (few, and read for every resource).
 */
import { KvList, type AnyValue, type KeyValue, type ResourceSpans, type ScopeSpans, type Span, type SpanEvent, type SpanLink } from '../core/model.js';
import type { DecodeResult } from './decode-result.js';
import { ByteInterner } from './intern.js';
import { ProtoReader, protobufError } from './proto-reader.js';
import {
  ANY_VALUE,
  ARRAY_VALUE,
  EVENT,
  EXPORT_REQUEST,
  KEY_VALUE,
  KEY_VALUE_LIST,
  LINK,
  MAX_VALUE_DEPTH,
  RESOURCE,
  RESOURCE_SPANS,
  SCOPE,
  SCOPE_SPANS,
  SPAN,
  STATUS,
} from './proto-schema.js';
import { SpanRejections } from './rejections.js';

/**
 * Attribute keys, and short string values, shared by every decode in the process (they repeat across requests, not
 * just within one). Interning a value that repeats saves ~20 ns and an allocation; the interner turns itself off
 * for a while when values stop repeating (ids, user names), so unique values pay almost nothing.
 */
const keys = new ByteInterner(2048, 64);
const values = new ByteInterner(4096, 32);

const TRACE_ID_REASON = 'trace_id must be 16 bytes and not all zero';
const SPAN_ID_REASON = 'span_id must be 8 bytes and not all zero';
const PARENT_ID_REASON = 'parent_span_id must be empty or 8 bytes';

// Tags are `field << 3 | wire type`; the switches below match whole tags so the common case is one comparison.

export function decodeTraceRequest(buf: Uint8Array): DecodeResult {
  const r = new ProtoReader(buf);
  const rejections = new SpanRejections();
  const resourceSpans: ResourceSpans[] = [];
  const end = r.buf.length;
  let spanCount = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 10) {
      // 1: resource_spans
      const rs = decodeResourceSpans(r, r.sub(end, EXPORT_REQUEST, 1, at), rejections, resourceSpans.length);
      for (const ss of rs.scopeSpans) spanCount += ss.spans.length;
      resourceSpans.push(rs);
    } else {
      r.other(tag, end, EXPORT_REQUEST, at);
    }
  }
  // Spans the decoder rejected are not in the batch, so then the bytes no longer say what the batch holds.
  const received = rejections.count === 0 ? { protobuf: buf, gzip: undefined } : undefined;
  return { batch: { resourceSpans, spanCount, received }, rejectedSpans: rejections.count, rejectReason: rejections.message() };
}

function decodeResourceSpans(r: ProtoReader, end: number, rej: SpanRejections, ri: number): ResourceSpans {
  const rs: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, scopeSpans: [], schemaUrl: '' };
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: {
        // 1: resource (a repeated occurrence merges into the first, as protobuf specifies)
        const rend = r.sub(end, RESOURCE_SPANS, 1, at);
        const res = rs.resource;
        while (r.pos < rend) {
          const fat = r.pos;
          const t = r.tag(rend);
          if (t === 10) res.attributes.push(decodeKeyValue(r, r.sub(rend, RESOURCE, 1, fat), 0));
          else if (t === 16) res.droppedAttributesCount = r.uint32(rend, RESOURCE, 2, fat);
          else r.other(t, rend, RESOURCE, fat);
        }
        break;
      }
      case 18: {
        // 2: scope_spans
        rs.scopeSpans.push(decodeScopeSpans(r, r.sub(end, RESOURCE_SPANS, 2, at), rej, ri, rs.scopeSpans.length));
        break;
      }
      case 26: // 3: schema_url
        rs.schemaUrl = r.string(r.len(end, RESOURCE_SPANS, 3, at), RESOURCE_SPANS, 3, at);
        break;
      default:
        r.other(tag, end, RESOURCE_SPANS, at);
    }
  }
  return rs;
}

function decodeScopeSpans(r: ProtoReader, end: number, rej: SpanRejections, ri: number, si: number): ScopeSpans {
  const ss: ScopeSpans = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, spans: [], schemaUrl: '' };
  let spanIndex = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: {
        // 1: scope
        const send = r.sub(end, SCOPE_SPANS, 1, at);
        const scope = ss.scope;
        while (r.pos < send) {
          const fat = r.pos;
          const t = r.tag(send);
          switch (t) {
            case 10: // 1: name
              scope.name = r.string(r.len(send, SCOPE, 1, fat), SCOPE, 1, fat);
              break;
            case 18: // 2: version
              scope.version = r.string(r.len(send, SCOPE, 2, fat), SCOPE, 2, fat);
              break;
            case 26: // 3: attributes
              scope.attributes.push(decodeKeyValue(r, r.sub(send, SCOPE, 3, fat), 0));
              break;
            case 32: // 4: dropped_attributes_count
              scope.droppedAttributesCount = r.uint32(send, SCOPE, 4, fat);
              break;
            default:
              r.other(t, send, SCOPE, fat);
          }
        }
        break;
      }
      case 18: {
        // 2: spans
        const span = decodeSpan(r, r.sub(end, SCOPE_SPANS, 2, at), rej, ri, si, spanIndex++);
        if (span !== null) ss.spans.push(span);
        break;
      }
      case 26: // 3: schema_url
        ss.schemaUrl = r.string(r.len(end, SCOPE_SPANS, 3, at), SCOPE_SPANS, 3, at);
        break;
      default:
        r.other(tag, end, SCOPE_SPANS, at);
    }
  }
  return ss;
}

/** Decodes one span; `null` when its ids make it unusable (then it is counted in `rej`). */
function decodeSpan(r: ProtoReader, end: number, rej: SpanRejections, ri: number, si: number, pi: number): Span | null {
  const rawStart = r.pos;
  // Ids and times are checked now and read from the bytes on first use (see `DecodedSpan`): their offsets, -1 for
  // none (an id that is missing or invalid, a time that is absent and so 0).
  let traceIdAt = -1;
  let spanIdAt = -1;
  let traceState = '';
  let parentSpanIdAt = -1;
  let flags = 0;
  let name = '';
  let kind = 0;
  let startAt = -1;
  let endAt = -1;
  let attributeCount = 0;
  /** Where the first attribute's tag is and where the last attribute ends: what `DecodedSpan` decodes later. */
  let attributesStart = 0;
  let attributesEnd = 0;
  let droppedAttributesCount = 0;
  let events: SpanEvent[] | undefined;
  let droppedEventsCount = 0;
  let links: SpanLink[] | undefined;
  let droppedLinksCount = 0;
  let statusCode = 0;
  let statusMessage = '';
  let badParent = false;

  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: {
        // 1: trace_id — kept only when valid; '' marks the span for rejection
        const n = r.len(end, SPAN, 1, at);
        traceIdAt = n === 16 && !r.allZero(16) ? r.pos : -1;
        r.pos += n;
        break;
      }
      case 18: {
        // 2: span_id
        const n = r.len(end, SPAN, 2, at);
        spanIdAt = n === 8 && !r.allZero(8) ? r.pos : -1;
        r.pos += n;
        break;
      }
      case 26: // 3: trace_state
        traceState = r.string(r.len(end, SPAN, 3, at), SPAN, 3, at);
        break;
      case 34: {
        // 4: parent_span_id
        const n = r.len(end, SPAN, 4, at);
        badParent = n !== 0 && n !== 8;
        parentSpanIdAt = n === 8 && !r.allZero(8) ? r.pos : -1;
        r.pos += n;
        break;
      }
      case 42: // 5: name
        name = r.string(r.len(end, SPAN, 5, at), SPAN, 5, at);
        break;
      case 48: // 6: kind (enum: int32)
        kind = r.uint32(end, SPAN, 6, at) | 0;
        break;
      case 57: // 7: start_time_unix_nano
        startAt = r.skipFixed64(end, SPAN, 7, at);
        break;
      case 65: // 8: end_time_unix_nano
        endAt = r.skipFixed64(end, SPAN, 8, at);
        break;
      case 74: // 9: attributes — checked now, decoded on first use (see the file comment)
        if (attributeCount++ === 0) attributesStart = at;
        checkKeyValue(r, r.sub(end, SPAN, 9, at), 0);
        attributesEnd = r.pos;
        break;
      case 80: // 10: dropped_attributes_count
        droppedAttributesCount = r.uint32(end, SPAN, 10, at);
        break;
      case 90: // 11: events
        (events ??= []).push(decodeEvent(r, r.sub(end, SPAN, 11, at)));
        break;
      case 96: // 12: dropped_events_count
        droppedEventsCount = r.uint32(end, SPAN, 12, at);
        break;
      case 106: // 13: links
        (links ??= []).push(decodeLink(r, r.sub(end, SPAN, 13, at)));
        break;
      case 112: // 14: dropped_links_count
        droppedLinksCount = r.uint32(end, SPAN, 14, at);
        break;
      case 122: {
        // 15: status (fields of repeated occurrences merge, as protobuf specifies)
        const send = r.sub(end, SPAN, 15, at);
        while (r.pos < send) {
          const fat = r.pos;
          const t = r.tag(send);
          if (t === 18) statusMessage = r.string(r.len(send, STATUS, 2, fat), STATUS, 2, fat);
          else if (t === 24) statusCode = r.uint32(send, STATUS, 3, fat) | 0;
          else r.other(t, send, STATUS, fat);
        }
        break;
      }
      case 133: // 16: flags (fixed32; the only two-byte tag)
        flags = r.fixed32(end, SPAN, 16, at);
        break;
      default:
        r.other(tag, end, SPAN, at);
    }
  }

  if (traceIdAt < 0 || spanIdAt < 0 || badParent) {
    const reason = traceIdAt < 0 ? TRACE_ID_REASON : spanIdAt < 0 ? SPAN_ID_REASON : PARENT_ID_REASON;
    rej.reject(reason, 'resource_spans', ri, si, 'scope_spans', pi, 'spans');
    return null;
  }
  return new DecodedSpan(
    traceIdAt,
    spanIdAt,
    traceState,
    parentSpanIdAt,
    flags,
    name,
    kind,
    startAt,
    endAt,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    statusCode,
    statusMessage,
    r,
    rawStart,
    end,
    attributeCount,
    attributesStart,
    attributesEnd,
  );
}

/**
 * A span decoded from protobuf: a plain `Span` except that `attributes` is decoded from the request's bytes the
 * first time it is read (or replaced by assignment). Until then the span holds no attribute objects, only the
 * reader of its request (shared by all its spans) and where its bytes are.
 */
export class DecodedSpan implements Span {
  /** The decoded attributes; `undefined` until first read. */
  decoded: KeyValue[] | undefined = undefined;
  rawBuf: Uint8Array | undefined;

  constructor(
    /**
     * Ids and times: where they are in the request (the 16-byte trace id, the 8-byte span and parent span ids and
     * the fixed64 times; -1 for none) until read or assigned, then the value. One field each, not two: a span is
     * ~30 fields already, and most never get read.
     */
    private traceIdRef: number | string,
    private spanIdRef: number | string,
    public traceState: string,
    private parentSpanIdRef: number | string,
    public flags: number,
    public name: string,
    public kind: number,
    private startRef: number | bigint,
    private endRef: number | bigint,
    public droppedAttributesCount: number,
    /** Events and links, `undefined` when the span has none (most have none) until read: then `[]`. */
    private eventsRef: SpanEvent[] | undefined,
    public droppedEventsCount: number,
    private linksRef: SpanLink[] | undefined,
    public droppedLinksCount: number,
    public statusCode: number,
    public statusMessage: string,
    /** The reader the span was decoded with; `reader.buf` is its request. */
    private readonly reader: ProtoReader,
    public rawStart: number,
    public rawEnd: number,
    public rawAttributes: number,
    /** `[attributesStart, attributesEnd)`: from the first attribute's tag to the end of the last attribute. */
    private readonly attributesStart: number,
    private readonly attributesEnd: number,
  ) {
    this.rawBuf = reader.buf;
  }

  get attributes(): KeyValue[] {
    return (this.decoded ??= this.decodeAttributes());
  }

  set attributes(attributes: KeyValue[]) {
    this.decoded = attributes;
  }

  // Most spans are only forwarded, by copying their bytes: nothing reads their ids, times, events or links, so
  // they are read from the request on first use (~180 bytes of strings, bigints and arrays per span otherwise
  // allocated for nothing).

  get traceId(): string {
    const ref = this.traceIdRef;
    return typeof ref === 'string' ? ref : (this.traceIdRef = this.reader.binaryAt(ref, 16));
  }

  set traceId(id: string) {
    this.traceIdRef = id;
  }

  get spanId(): string {
    const ref = this.spanIdRef;
    return typeof ref === 'string' ? ref : (this.spanIdRef = this.reader.binaryAt(ref, 8));
  }

  set spanId(id: string) {
    this.spanIdRef = id;
  }

  get parentSpanId(): string {
    const ref = this.parentSpanIdRef;
    return typeof ref === 'string' ? ref : (this.parentSpanIdRef = ref < 0 ? '' : this.reader.binaryAt(ref, 8));
  }

  set parentSpanId(id: string) {
    this.parentSpanIdRef = id;
  }

  get startTimeUnixNano(): bigint {
    const ref = this.startRef;
    return typeof ref === 'bigint' ? ref : (this.startRef = ref < 0 ? 0n : this.reader.view.getBigUint64(ref, true));
  }

  set startTimeUnixNano(ns: bigint) {
    this.startRef = ns;
  }

  get endTimeUnixNano(): bigint {
    const ref = this.endRef;
    return typeof ref === 'bigint' ? ref : (this.endRef = ref < 0 ? 0n : this.reader.view.getBigUint64(ref, true));
  }

  set endTimeUnixNano(ns: bigint) {
    this.endRef = ns;
  }

  get events(): SpanEvent[] {
    return (this.eventsRef ??= []);
  }

  set events(events: SpanEvent[]) {
    this.eventsRef = events;
  }

  get links(): SpanLink[] {
    return (this.linksRef ??= []);
  }

  set links(links: SpanLink[]) {
    this.linksRef = links;
  }

  /** Decodes the attributes from the span's bytes, which `decodeSpan` already checked: this cannot throw. */
  private decodeAttributes(): KeyValue[] {
    const attributes: KeyValue[] = [];
    if (this.rawAttributes === 0) return attributes;
    const r = this.reader;
    const end = this.attributesEnd;
    r.pos = this.attributesStart;
    // Usually one run of attributes; other fields the sender wrote between them are skipped.
    while (r.pos < end) {
      const at = r.pos;
      const tag = r.tag(end);
      if (tag === 74) attributes.push(decodeKeyValue(r, r.sub(end, SPAN, 9, at), 0));
      else r.other(tag, end, SPAN, at);
    }
    return attributes;
  }
}

/**
 * The attributes of `span` that exist as objects: all of them for a span built or already read, `undefined` for a
 * `DecodedSpan` whose attributes are still only bytes (then it has gained none since decoding). Lets the encoder
 * copy a span without decoding attributes nobody read.
 */
export function decodedAttributes(span: Span): KeyValue[] | undefined {
  return span instanceof DecodedSpan ? span.decoded : span.attributes;
}

function decodeEvent(r: ProtoReader, end: number): SpanEvent {
  let timeUnixNano = 0n;
  let name = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 9: // 1: time_unix_nano
        timeUnixNano = r.fixed64(end, EVENT, 1, at);
        break;
      case 18: // 2: name
        name = r.string(r.len(end, EVENT, 2, at), EVENT, 2, at);
        break;
      case 26: // 3: attributes
        attributes.push(decodeKeyValue(r, r.sub(end, EVENT, 3, at), 0));
        break;
      case 32: // 4: dropped_attributes_count
        droppedAttributesCount = r.uint32(end, EVENT, 4, at);
        break;
      default:
        r.other(tag, end, EVENT, at);
    }
  }
  return { timeUnixNano, name, attributes, droppedAttributesCount };
}

function decodeLink(r: ProtoReader, end: number): SpanLink {
  let traceId = '';
  let spanId = '';
  let traceState = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: // 1: trace_id (links are kept as sent; only a span's own ids decide whether it is usable)
        traceId = r.binary(r.len(end, LINK, 1, at));
        break;
      case 18: // 2: span_id
        spanId = r.binary(r.len(end, LINK, 2, at));
        break;
      case 26: // 3: trace_state
        traceState = r.string(r.len(end, LINK, 3, at), LINK, 3, at);
        break;
      case 34: // 4: attributes
        attributes.push(decodeKeyValue(r, r.sub(end, LINK, 4, at), 0));
        break;
      case 40: // 5: dropped_attributes_count
        droppedAttributesCount = r.uint32(end, LINK, 5, at);
        break;
      case 53: // 6: flags
        flags = r.fixed32(end, LINK, 6, at);
        break;
      default:
        r.other(tag, end, LINK, at);
    }
  }
  return { traceId, spanId, traceState, attributes, droppedAttributesCount, flags };
}

function decodeKeyValue(r: ProtoReader, end: number, depth: number): KeyValue {
  let key = '';
  let value: AnyValue = null;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 10) {
      // 1: key — interned: a cache hit costs a hash and a compare, and allocates nothing
      const n = r.len(end, KEY_VALUE, 1, at);
      const start = r.pos;
      const cached = keys.lookup(r.buf, start, n);
      if (cached !== undefined) {
        key = cached;
        r.pos = start + n;
      } else {
        key = r.string(n, KEY_VALUE, 1, at);
        keys.store(r.buf, start, n, key);
      }
    } else if (tag === 18) {
      // 2: value
      value = decodeAnyValue(r, r.sub(end, KEY_VALUE, 2, at), depth);
    } else {
      r.other(tag, end, KEY_VALUE, at);
    }
  }
  return { key, value };
}

/**
 * Checks a KeyValue exactly as `decodeKeyValue` would decode it (same errors, in the same order), building nothing.
 * Keys and string values are checked for UTF-8; every other check is the reader's, as in decoding.
 */
function checkKeyValue(r: ProtoReader, end: number, depth: number): void {
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 10) r.checkString(r.len(end, KEY_VALUE, 1, at), KEY_VALUE, 1, at);
    else if (tag === 18) checkAnyValue(r, r.sub(end, KEY_VALUE, 2, at), depth);
    else r.other(tag, end, KEY_VALUE, at);
  }
}

/** Checks an AnyValue as `decodeAnyValue` would decode it, building nothing. */
function checkAnyValue(r: ProtoReader, end: number, depth: number): void {
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: // 1: string_value
        r.checkString(r.len(end, ANY_VALUE, 1, at), ANY_VALUE, 1, at);
        break;
      case 16: // 2: bool_value
        r.bool(end, ANY_VALUE, 2, at);
        break;
      case 24: // 3: int_value — read as a bool: the same varint checks and errors, without making a bigint
        r.bool(end, ANY_VALUE, 3, at);
        break;
      case 33: // 4: double_value
        r.double(end, ANY_VALUE, 4, at);
        break;
      case 42: {
        // 5: array_value
        const aend = r.sub(end, ANY_VALUE, 5, at);
        if (depth >= MAX_VALUE_DEPTH) throw protobufError(`attribute values nested deeper than ${MAX_VALUE_DEPTH} at byte ${at}`);
        while (r.pos < aend) {
          const fat = r.pos;
          const t = r.tag(aend);
          if (t === 10) checkAnyValue(r, r.sub(aend, ARRAY_VALUE, 1, fat), depth + 1);
          else r.other(t, aend, ARRAY_VALUE, fat);
        }
        break;
      }
      case 50: {
        // 6: kvlist_value
        const kend = r.sub(end, ANY_VALUE, 6, at);
        if (depth >= MAX_VALUE_DEPTH) throw protobufError(`attribute values nested deeper than ${MAX_VALUE_DEPTH} at byte ${at}`);
        while (r.pos < kend) {
          const fat = r.pos;
          const t = r.tag(kend);
          if (t === 10) checkKeyValue(r, r.sub(kend, KEY_VALUE_LIST, 1, fat), depth + 1);
          else r.other(t, kend, KEY_VALUE_LIST, fat);
        }
        break;
      }
      case 58: {
        // 7: bytes_value (not `r.pos += r.len(…)`: len() moves pos itself)
        const n = r.len(end, ANY_VALUE, 7, at);
        r.pos += n;
        break;
      }
      default:
        r.other(tag, end, ANY_VALUE, at);
    }
  }
}

/** An AnyValue; `null` when empty. When several oneof members are present the last wins, as in protobuf. */
function decodeAnyValue(r: ProtoReader, end: number, depth: number): AnyValue {
  let value: AnyValue = null;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    switch (tag) {
      case 10: {
        // 1: string_value — short ones interned too: most repeat (methods, routes, tiers, hosts)
        const n = r.len(end, ANY_VALUE, 1, at);
        const start = r.pos;
        const cached = values.lookup(r.buf, start, n);
        if (cached !== undefined) {
          value = cached;
          r.pos = start + n;
        } else {
          value = r.string(n, ANY_VALUE, 1, at);
          values.store(r.buf, start, n, value);
        }
        break;
      }
      case 16: // 2: bool_value
        value = r.bool(end, ANY_VALUE, 2, at);
        break;
      case 24: // 3: int_value
        value = r.int64(end, ANY_VALUE, 3, at);
        break;
      case 33: // 4: double_value
        value = r.double(end, ANY_VALUE, 4, at);
        break;
      case 42: {
        // 5: array_value
        const aend = r.sub(end, ANY_VALUE, 5, at);
        if (depth >= MAX_VALUE_DEPTH) throw protobufError(`attribute values nested deeper than ${MAX_VALUE_DEPTH} at byte ${at}`);
        const values: AnyValue[] = [];
        while (r.pos < aend) {
          const fat = r.pos;
          const t = r.tag(aend);
          if (t === 10) values.push(decodeAnyValue(r, r.sub(aend, ARRAY_VALUE, 1, fat), depth + 1));
          else r.other(t, aend, ARRAY_VALUE, fat);
        }
        value = values;
        break;
      }
      case 50: {
        // 6: kvlist_value
        const kend = r.sub(end, ANY_VALUE, 6, at);
        if (depth >= MAX_VALUE_DEPTH) throw protobufError(`attribute values nested deeper than ${MAX_VALUE_DEPTH} at byte ${at}`);
        const values: KeyValue[] = [];
        while (r.pos < kend) {
          const fat = r.pos;
          const t = r.tag(kend);
          if (t === 10) values.push(decodeKeyValue(r, r.sub(kend, KEY_VALUE_LIST, 1, fat), depth + 1));
          else r.other(t, kend, KEY_VALUE_LIST, fat);
        }
        value = new KvList(values);
        break;
      }
      case 58: // 7: bytes_value (a copy, never a view of the request)
        value = r.bytes(r.len(end, ANY_VALUE, 7, at));
        break;
      default:
        r.other(tag, end, ANY_VALUE, at);
    }
  }
  return value;
}
