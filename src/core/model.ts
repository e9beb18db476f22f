/**
 * Pulse's internal span model: what a receiver decodes into, what processors read and tag, and what exporters
 * re-encode. It mirrors OTLP's ResourceSpans → ScopeSpans → Span nesting, with three deliberate choices made for
 * the hot path:
 *
 * - **Ids are binary strings.** `traceId` (16 bytes) and `spanId`/`parentSpanId` (8 bytes) hold the raw id bytes,
 *   one byte per UTF-16 code unit (latin1). They compare with `===`, key a `Map` directly, and cost no hex
 *   conversion; `idToHex()` makes the hex form only where a human or JSON needs it. An absent id is `''`.
 * - **Timestamps are `bigint` nanoseconds**, exact to the nanosecond so that forwarding never alters them.
 * - **Attribute values are plain JS values**, discriminated by `typeof`: `string`, `boolean`, `bigint` (OTLP
 *   `intValue`), `number` (OTLP `doubleValue`), `Uint8Array` (`bytesValue`), `AnyValue[]` (`arrayValue`),
 *   `KvList` (`kvlistValue`) and `null` (an empty AnyValue). Keys are interned by the decoders, so a lookup
 *   by key is a short scan comparing mostly identical string pointers.
 * - **`Span.attributes` may be lazy.** The protobuf decoder's spans decode their attributes from the request's bytes
 *   the first time the property is read (see `DecodedSpan` in src/otlp/proto-decode.ts); reading it is always
 *   safe, but code that needs only other fields should not read it.
 */

/** An OTLP AnyValue. `bigint` is an int64 (`intValue`); `number` is always a double (`doubleValue`). */
export type AnyValue = string | boolean | bigint | number | Uint8Array | AnyValue[] | KvList | null;

/** An OTLP KeyValueList (`kvlistValue`); a class so it can be told apart from an array value with `instanceof`. */
export class KvList {
  constructor(public values: KeyValue[]) {}
}

export interface KeyValue {
  key: string;
  value: AnyValue;
}

/** OTLP Span.SpanKind numbers. */
export const SpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

/** OTLP Status.StatusCode numbers. */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  flags: number;
}

export interface Span {
  traceId: string;
  spanId: string;
  traceState: string;
  /** `''` for a root span. */
  parentSpanId: string;
  /** W3C trace flags in the low 8 bits, OTLP's has-is-remote bits above them. */
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  statusCode: number;
  statusMessage: string;
  /**
   * Set by the protobuf decoder: the request the span was decoded from, and where the span's message body sits in
   * it (`[rawStart, rawEnd)`) when it held `rawAttributes` attributes. The protobuf encoder copies those bytes
   * instead of re-encoding the span (~20× cheaper), and appends attributes added after decoding. So a span may be
   * changed only by appending attributes (`setSpanAttribute`); anything else that changes a decoded span must
   * call `forgetRaw(span)` first.
   */
  rawBuf?: Uint8Array | undefined;
  rawStart?: number;
  rawEnd?: number;
  rawAttributes?: number;
}

export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface ScopeSpans {
  scope: InstrumentationScope;
  spans: Span[];
  schemaUrl: string;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface ResourceSpans {
  resource: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl: string;
}

/**
 * The unit that flows through a traces pipeline: one decoded export request, or several merged by `batch`.
 * `spanCount` is kept exact by whoever builds or changes the batch, so counting never walks the tree.
 */
export interface TraceBatch {
  resourceSpans: ResourceSpans[];
  spanCount: number;
  /**
   * The OTLP protobuf request this batch was decoded from, while the batch still holds exactly what it says. The
   * OTLP exporters and the persistent queue send or store these bytes instead of encoding (and gzipping) the batch
   * again: a request Pulse did not change is forwarded as it came. So whoever changes a batch or its spans in place
   * calls `markChanged(batch)` first; a batch built anew (merged, split, copied by hand) simply has none.
   */
  received?: ReceivedRequest | undefined;
}

/** An export request as a receiver got it (see `TraceBatch.received`). */
export interface ReceivedRequest {
  /** The ExportTraceServiceRequest, uncompressed. */
  readonly protobuf: Uint8Array;
  /** The same request as the sender gzipped it (one or more gzip members), when it came gzipped. */
  readonly gzip: Uint8Array | undefined;
}

/**
 * The request that `parts` make when concatenated in order (see `TraceBatch.received`), for a batch made of whole
 * batches: protobuf requests concatenated are one request with all their resources (its only field is repeated),
 * and gzip bodies concatenated are one body of several members (RFC 1952 §2.2), which OTLP servers inflate as one
 * stream. `undefined` when a part has none; `gzip` only when every part came gzipped. Each form is joined when first
 * read: an exporter that sends the gzip never copies the protobuf, and one that sends protobuf never the gzip.
 */
export function concatReceived(parts: ReadonlyArray<ReceivedRequest | undefined>): ReceivedRequest | undefined {
  if (parts.length === 1) return parts[0];
  for (const p of parts) if (p === undefined) return undefined;
  return new JoinedRequest(parts as readonly ReceivedRequest[]);
}

class JoinedRequest implements ReceivedRequest {
  private joinedProtobuf: Uint8Array | undefined;
  private joinedGzip: Uint8Array | null | undefined;

  constructor(private readonly parts: readonly ReceivedRequest[]) {}

  get protobuf(): Uint8Array {
    return (this.joinedProtobuf ??= Buffer.concat(this.parts.map((p) => p.protobuf)));
  }

  get gzip(): Uint8Array | undefined {
    if (this.joinedGzip === undefined) {
      const gzips = this.parts.map((p) => p.gzip);
      this.joinedGzip = gzips.every((g) => g !== undefined) ? Buffer.concat(gzips as Uint8Array[]) : null;
    }
    return this.joinedGzip ?? undefined;
  }
}

/** Forgets the request `batch` was decoded from: call before changing the batch or any of its spans in place. */
export function markChanged(batch: TraceBatch): void {
  batch.received = undefined;
}

/**
 * Sets a span attribute: replaces the value of an existing key, else appends. Replacing one of the attributes the
 * span was decoded with makes its decoded bytes stale, so they are forgotten (the encoder then encodes the span).
 */
export function setSpanAttribute(span: Span, key: string, value: AnyValue): void {
  const attrs = span.attributes;
  for (let i = 0; i < attrs.length; i++) {
    if (attrs[i]!.key === key) {
      if (span.rawBuf !== undefined && i < span.rawAttributes!) forgetRaw(span);
      attrs[i]!.value = value;
      return;
    }
  }
  attrs.push({ key, value });
}

/** Drops a span's decoded bytes: call before changing a decoded span other than by `setSpanAttribute`. */
export function forgetRaw(span: Span): void {
  if (span.rawBuf === undefined) return;
  // Lazily decoded attributes come from those bytes: read them (which decodes them) before letting the bytes go.
  void span.attributes;
  span.rawBuf = undefined;
}

/** Finds an attribute's value by key; `undefined` when absent. Keys are interned, so this is a pointer scan. */
export function getAttribute(attributes: readonly KeyValue[], key: string): AnyValue | undefined {
  for (let i = 0; i < attributes.length; i++) {
    const kv = attributes[i]!;
    if (kv.key === key) return kv.value;
  }
  return undefined;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Binary id string → lowercase hex ('' stays ''). */
export function idToHex(id: string): string {
  let out = '';
  for (let i = 0; i < id.length; i++) out += HEX[id.charCodeAt(i) & 0xff]!;
  return out;
}

/** Lowercase or uppercase hex → binary id string; `undefined` when the text is not valid hex of even length. */
export function hexToId(hex: string): string | undefined {
  if (hex.length % 2 !== 0) return undefined;
  let out = '';
  for (let i = 0; i < hex.length; i += 2) {
    const hi = hexNibble(hex.charCodeAt(i));
    const lo = hexNibble(hex.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return undefined;
    out += String.fromCharCode((hi << 4) | lo);
  }
  return out;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** `service.name` of a resource, or '' when it has none (OTel SDKs send `unknown_service:<process>`). */
export function serviceNameOf(resource: Resource): string {
  const v = getAttribute(resource.attributes, 'service.name');
  return typeof v === 'string' ? v : '';
}

/** Deep copy of a batch, for fan-out to a consumer that mutates data while others read the same batch. */
export function cloneBatch(batch: TraceBatch): TraceBatch {
  return {
    spanCount: batch.spanCount,
    // Never written to, so shared; the copy's consumer calls `markChanged` on the copy if it changes it.
    received: batch.received,
    resourceSpans: batch.resourceSpans.map((rs) => ({
      schemaUrl: rs.schemaUrl,
      resource: { attributes: cloneAttributes(rs.resource.attributes), droppedAttributesCount: rs.resource.droppedAttributesCount },
      scopeSpans: rs.scopeSpans.map((ss) => ({
        schemaUrl: ss.schemaUrl,
        scope: { ...ss.scope, attributes: cloneAttributes(ss.scope.attributes) },
        spans: ss.spans.map(cloneSpan),
      })),
    })),
  };
}

/** A plain, independent copy of a span (its decoded bytes are shared: they are never written to). */
export function cloneSpan(span: Span): Span {
  // Field by field rather than `{ ...span }`: a spread would miss `attributes` when it is a getter (DecodedSpan).
  const copy: Span = {
    traceId: span.traceId,
    spanId: span.spanId,
    traceState: span.traceState,
    parentSpanId: span.parentSpanId,
    flags: span.flags,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: span.startTimeUnixNano,
    endTimeUnixNano: span.endTimeUnixNano,
    attributes: cloneAttributes(span.attributes),
    droppedAttributesCount: span.droppedAttributesCount,
    events: span.events.map((e) => ({ ...e, attributes: cloneAttributes(e.attributes) })),
    droppedEventsCount: span.droppedEventsCount,
    links: span.links.map((l) => ({ ...l, attributes: cloneAttributes(l.attributes) })),
    droppedLinksCount: span.droppedLinksCount,
    statusCode: span.statusCode,
    statusMessage: span.statusMessage,
  };
  if (span.rawBuf !== undefined) {
    copy.rawBuf = span.rawBuf;
    copy.rawStart = span.rawStart!;
    copy.rawEnd = span.rawEnd!;
    copy.rawAttributes = span.rawAttributes!;
  }
  return copy;
}

export function cloneAttributes(attributes: readonly KeyValue[]): KeyValue[] {
  return attributes.map((kv) => ({ key: kv.key, value: cloneValue(kv.value) }));
}

function cloneValue(v: AnyValue): AnyValue {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return v.slice();
  if (v instanceof KvList) return new KvList(cloneAttributes(v.values));
  return v.map(cloneValue);
}

export function countSpans(resourceSpans: readonly ResourceSpans[]): number {
  let n = 0;
  for (const rs of resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}
