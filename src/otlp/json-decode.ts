/**
 * OTLP/JSON `ExportTraceServiceRequest` → Pulse's span model, following the OTLP/JSON mapping
 * (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 *
 * - field names in lowerCamelCase, and also the proto's snake_case names, as protobuf JSON parsers accept both;
 *   unknown fields are ignored; `null` or a missing field is the field's default;
 * - trace and span ids as hex (either case; invalid hex is an error), not base64;
 * - enums as integers or as their names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`);
 * - 64-bit integers (`*TimeUnixNano`, `intValue`) as decimal strings or JSON numbers; 32-bit ones likewise;
 * - `bytesValue` as base64 (standard or URL-safe alphabet, padding optional);
 * - `doubleValue` as a number, or a string: `"NaN"`, `"Infinity"`, `"-Infinity"` or a decimal.
 *
 * Strict like the protobuf decoder: anything that is not JSON, or a value of the wrong type, throws
 * `PermanentError('PULSE_ERR_BAD_JSON')` whose message carries the JSON path, e.g.
 * `resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano: expected a 64-bit integer as a string or number, got true`.
 * Spans with unusable ids are left out and counted, as in proto-decode.ts.
 */
import { PermanentError } from '../core/errors.js';
import { KvList, type AnyValue, type KeyValue, type ResourceSpans, type ScopeSpans, type Span, type SpanEvent, type SpanLink } from '../core/model.js';
import type { DecodeResult } from './decode-result.js';
import { MAX_VALUE_DEPTH } from './proto-schema.js';
import { SpanRejections } from './rejections.js';

type JsonObject = Record<string, unknown>;

/** A problem at a JSON path; containers prepend their segment as it propagates, the entry point words it. */
class JsonPathError extends Error {
  constructor(
    public path: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function prefix(err: unknown, segment: string): unknown {
  if (err instanceof JsonPathError) {
    err.path = err.path === '' ? segment : err.path.charCodeAt(0) === 91 /* [ */ ? segment + err.path : `${segment}.${err.path}`;
  }
  return err;
}

function jsonError(message: string): PermanentError {
  return new PermanentError('PULSE_ERR_BAD_JSON', message);
}

/** A short rendering of an offending value for error messages. */
function got(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  const s = typeof v === 'bigint' ? String(v) : JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

const TRACE_ID_REASON = 'traceId must be 32 hex digits (16 bytes) and not all zero';
const SPAN_ID_REASON = 'spanId must be 16 hex digits (8 bytes) and not all zero';
const PARENT_ID_REASON = 'parentSpanId must be empty or 16 hex digits (8 bytes)';

export function decodeTraceRequestJson(body: string | Uint8Array): DecodeResult {
  let text: string;
  if (typeof body === 'string') text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  else {
    try {
      text = utf8Decoder.decode(body); // also drops a leading BOM
    } catch {
      throw jsonError('invalid JSON: the request body is not valid UTF-8');
    }
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    // JSON.parse's own message says what and where ("Unexpected token } in JSON at position 17"); a RangeError
    // means nesting too deep for the parser.
    throw jsonError(`invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw jsonError(`invalid OTLP/JSON: expected an ExportTraceServiceRequest object, got ${got(root)}`);
  }
  const rejections = new SpanRejections();
  const resourceSpans: ResourceSpans[] = [];
  let spanCount = 0;
  try {
    const list = array(root as JsonObject, 'resourceSpans', 'resource_spans');
    for (let i = 0; i < list.length; i++) {
      let rs: ResourceSpans;
      try {
        rs = decodeResourceSpans(object(list[i], ''), rejections, i);
      } catch (err) {
        throw prefix(err, `[${i}]`);
      }
      for (const ss of rs.scopeSpans) spanCount += ss.spans.length;
      resourceSpans.push(rs);
    }
  } catch (err) {
    if (err instanceof JsonPathError) {
      throw jsonError(`invalid OTLP/JSON: ${prefixPath('resourceSpans', err.path)}: ${err.problem}`);
    }
    throw err;
  }
  return { batch: { resourceSpans, spanCount }, rejectedSpans: rejections.count, rejectReason: rejections.message() };
}

function prefixPath(root: string, path: string): string {
  if (path === '') return root;
  return path.charCodeAt(0) === 91 ? root + path : path;
}

// ---- field readers: each takes the camelCase name and the proto (snake_case) name ------------------------------

function field(o: JsonObject, camel: string, snake: string): unknown {
  const v = o[camel];
  return v === undefined ? o[snake] : v;
}

function object(v: unknown, name: string): JsonObject {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonObject;
  throw new JsonPathError(name, `expected an object, got ${got(v)}`);
}

function optionalObject(o: JsonObject, camel: string, snake: string): JsonObject | undefined {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return undefined;
  return object(v, camel);
}

function array(o: JsonObject, camel: string, snake: string): unknown[] {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  throw new JsonPathError(camel, `expected an array, got ${got(v)}`);
}

function string(o: JsonObject, camel: string, snake: string): string {
  const v = field(o, camel, snake);
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  throw new JsonPathError(camel, `expected a string, got ${got(v)}`);
}

const UINT32_MAX = 0xffffffff;

function uint32(o: JsonObject, camel: string, snake: string): number {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= UINT32_MAX) return n;
  throw new JsonPathError(camel, `expected a 32-bit unsigned integer, got ${got(v)}`);
}

const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
const INT64_MIN = -0x8000_0000_0000_0000n;
const INT64_MAX = 0x7fff_ffff_ffff_ffffn;

/** A fixed64 timestamp: a decimal string (canonical) or a JSON number. */
function uint64(o: JsonObject, camel: string, snake: string): bigint {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return 0n;
  const n = toBigInt(v);
  if (n === undefined) throw new JsonPathError(camel, `expected a 64-bit integer as a string or number, got ${got(v)}`);
  if (n >= 0n && n <= UINT64_MAX) return n;
  throw new JsonPathError(camel, `${got(v)} is outside the unsigned 64-bit range`);
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'string') return /^-?\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  // A JSON number above 2^53 has already lost precision in JSON.parse; it is taken as parsed (senders should use
  // strings, as OTLP/JSON specifies).
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

/** Hex digit values, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[97 + i] = 10 + i;
  HEX[65 + i] = 10 + i;
}
const idBytes = new Uint8Array(16);

/** A hex id → binary string (one char per byte); '' when absent. Any even length is accepted here. */
function hexId(o: JsonObject, camel: string, snake: string): string {
  const v = field(o, camel, snake);
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') throw new JsonPathError(camel, `expected a hex string, got ${got(v)}`);
  const len = v.length;
  if (len % 2 !== 0) throw new JsonPathError(camel, `invalid hex id ${got(v)}: odd number of digits`);
  if (len === 32 || len === 16) {
    // The common sizes: decode into a scratch array and build the string with one fixed-arity call.
    for (let i = 0, j = 0; i < len; i += 2, j++) {
      const c1 = v.charCodeAt(i);
      const c2 = v.charCodeAt(i + 1);
      const hi = c1 < 128 ? HEX[c1]! : -1;
      const lo = c2 < 128 ? HEX[c2]! : -1;
      if ((hi | lo) < 0) throw new JsonPathError(camel, `invalid hex id ${got(v)}: ids are hex digits (0-9, a-f)`);
      idBytes[j] = (hi << 4) | lo;
    }
    const b = idBytes;
    if (len === 16) return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!);
    return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, b[9]!, b[10]!, b[11]!, b[12]!, b[13]!, b[14]!, b[15]!);
  }
  let out = '';
  for (let i = 0; i < len; i += 2) {
    const c1 = v.charCodeAt(i);
    const c2 = v.charCodeAt(i + 1);
    const hi = c1 < 128 ? HEX[c1]! : -1;
    const lo = c2 < 128 ? HEX[c2]! : -1;
    if ((hi | lo) < 0) throw new JsonPathError(camel, `invalid hex id ${got(v)}: ids are hex digits (0-9, a-f)`);
    out += String.fromCharCode((hi << 4) | lo);
  }
  return out;
}

function isZeroId(id: string): boolean {
  for (let i = 0; i < id.length; i++) if (id.charCodeAt(i) !== 0) return false;
  return true;
}

const SPAN_KINDS: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Readonly<Record<string, number>> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/** An enum: an int32 (unknown numbers are kept, as protobuf does) or one of `names`. */
function enumValue(o: JsonObject, camel: string, snake: string, names: Readonly<Record<string, number>>): number {
  const v = field(o, camel, snake);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return v;
  if (typeof v === 'string' && Object.hasOwn(names, v)) return names[v]!;
  throw new JsonPathError(camel, `expected an integer or one of ${Object.keys(names).join(', ')}, got ${got(v)}`);
}

// ---- messages ------------------------------------------------------------------------------------------------

function decodeResourceSpans(o: JsonObject, rej: SpanRejections, ri: number): ResourceSpans {
  const rs: ResourceSpans = { resource: { attributes: [], droppedAttributesCount: 0 }, scopeSpans: [], schemaUrl: '' };
  const res = optionalObject(o, 'resource', 'resource');
  if (res !== undefined) {
    try {
      rs.resource.attributes = attributes(res, 'attributes', 'attributes', 0);
      rs.resource.droppedAttributesCount = uint32(res, 'droppedAttributesCount', 'dropped_attributes_count');
    } catch (err) {
      throw prefix(err, 'resource');
    }
  }
  const list = array(o, 'scopeSpans', 'scope_spans');
  for (let i = 0; i < list.length; i++) {
    try {
      rs.scopeSpans.push(decodeScopeSpans(object(list[i], ''), rej, ri, i));
    } catch (err) {
      throw prefix(err, `scopeSpans[${i}]`);
    }
  }
  rs.schemaUrl = string(o, 'schemaUrl', 'schema_url');
  return rs;
}

function decodeScopeSpans(o: JsonObject, rej: SpanRejections, ri: number, si: number): ScopeSpans {
  const ss: ScopeSpans = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, spans: [], schemaUrl: '' };
  const scope = optionalObject(o, 'scope', 'scope');
  if (scope !== undefined) {
    try {
      ss.scope.name = string(scope, 'name', 'name');
      ss.scope.version = string(scope, 'version', 'version');
      ss.scope.attributes = attributes(scope, 'attributes', 'attributes', 0);
      ss.scope.droppedAttributesCount = uint32(scope, 'droppedAttributesCount', 'dropped_attributes_count');
    } catch (err) {
      throw prefix(err, 'scope');
    }
  }
  const list = array(o, 'spans', 'spans');
  for (let i = 0; i < list.length; i++) {
    let span: Span | null;
    try {
      span = decodeSpan(object(list[i], ''), rej, ri, si, i);
    } catch (err) {
      throw prefix(err, `spans[${i}]`);
    }
    if (span !== null) ss.spans.push(span);
  }
  ss.schemaUrl = string(o, 'schemaUrl', 'schema_url');
  return ss;
}

function decodeSpan(o: JsonObject, rej: SpanRejections, ri: number, si: number, pi: number): Span | null {
  const traceId = hexId(o, 'traceId', 'trace_id');
  const spanId = hexId(o, 'spanId', 'span_id');
  let parentSpanId = hexId(o, 'parentSpanId', 'parent_span_id');
  const badParent = parentSpanId.length !== 0 && parentSpanId.length !== 8;
  if (parentSpanId.length === 8 && isZeroId(parentSpanId)) parentSpanId = '';

  let statusCode = 0;
  let statusMessage = '';
  const status = optionalObject(o, 'status', 'status');
  if (status !== undefined) {
    try {
      statusCode = enumValue(status, 'code', 'code', STATUS_CODES);
      statusMessage = string(status, 'message', 'message');
    } catch (err) {
      throw prefix(err, 'status');
    }
  }

  const span: Span = {
    traceId,
    spanId,
    traceState: string(o, 'traceState', 'trace_state'),
    parentSpanId,
    flags: uint32(o, 'flags', 'flags'),
    name: string(o, 'name', 'name'),
    kind: enumValue(o, 'kind', 'kind', SPAN_KINDS),
    startTimeUnixNano: uint64(o, 'startTimeUnixNano', 'start_time_unix_nano'),
    endTimeUnixNano: uint64(o, 'endTimeUnixNano', 'end_time_unix_nano'),
    attributes: attributes(o, 'attributes', 'attributes', 0),
    droppedAttributesCount: uint32(o, 'droppedAttributesCount', 'dropped_attributes_count'),
    events: events(o),
    droppedEventsCount: uint32(o, 'droppedEventsCount', 'dropped_events_count'),
    links: links(o),
    droppedLinksCount: uint32(o, 'droppedLinksCount', 'dropped_links_count'),
    statusCode,
    statusMessage,
  };
  // Checked after the whole span is read, so that a malformed field later in a bad-id span is still an error.
  const badTrace = traceId.length !== 16 || isZeroId(traceId);
  const badSpan = spanId.length !== 8 || isZeroId(spanId);
  if (badTrace || badSpan || badParent) {
    const reason = badTrace ? TRACE_ID_REASON : badSpan ? SPAN_ID_REASON : PARENT_ID_REASON;
    rej.reject(reason, 'resourceSpans', ri, si, 'scopeSpans', pi, 'spans');
    return null;
  }
  return span;
}

function events(o: JsonObject): SpanEvent[] {
  const list = array(o, 'events', 'events');
  const out: SpanEvent[] = [];
  for (let i = 0; i < list.length; i++) {
    try {
      const e = object(list[i], '');
      out.push({
        timeUnixNano: uint64(e, 'timeUnixNano', 'time_unix_nano'),
        name: string(e, 'name', 'name'),
        attributes: attributes(e, 'attributes', 'attributes', 0),
        droppedAttributesCount: uint32(e, 'droppedAttributesCount', 'dropped_attributes_count'),
      });
    } catch (err) {
      throw prefix(err, `events[${i}]`);
    }
  }
  return out;
}

function links(o: JsonObject): SpanLink[] {
  const list = array(o, 'links', 'links');
  const out: SpanLink[] = [];
  for (let i = 0; i < list.length; i++) {
    try {
      const l = object(list[i], '');
      out.push({
        traceId: hexId(l, 'traceId', 'trace_id'),
        spanId: hexId(l, 'spanId', 'span_id'),
        traceState: string(l, 'traceState', 'trace_state'),
        attributes: attributes(l, 'attributes', 'attributes', 0),
        droppedAttributesCount: uint32(l, 'droppedAttributesCount', 'dropped_attributes_count'),
        flags: uint32(l, 'flags', 'flags'),
      });
    } catch (err) {
      throw prefix(err, `links[${i}]`);
    }
  }
  return out;
}

/**
 * Attribute keys share one string object per distinct key, as with protobuf. A bounded map: cleared when full, so
 * a flood of distinct keys costs hit rate, never memory.
 */
const keyCache = new Map<string, string>();
const KEY_CACHE_MAX = 4096;

function internKey(k: string): string {
  const hit = keyCache.get(k);
  if (hit !== undefined) return hit;
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(k, k);
  return k;
}

function attributes(o: JsonObject, camel: string, snake: string, depth: number): KeyValue[] {
  const list = array(o, camel, snake);
  const out: KeyValue[] = [];
  for (let i = 0; i < list.length; i++) {
    try {
      const kv = object(list[i], '');
      const key = kv.key;
      if (typeof key !== 'string' && key !== undefined && key !== null) throw new JsonPathError('key', `expected a string, got ${got(key)}`);
      let value: AnyValue = null;
      if (kv.value !== undefined && kv.value !== null) {
        try {
          value = anyValue(kv.value, depth);
        } catch (err) {
          throw prefix(err, 'value');
        }
      }
      out.push({ key: typeof key === 'string' ? internKey(key) : '', value });
    } catch (err) {
      throw prefix(err, `${camel}[${i}]`);
    }
  }
  return out;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9\-_]*)={0,2}$/;

/** An AnyValue object; `{}` is the empty value, `null`. Errors carry paths relative to the value. */
function anyValue(v: unknown, depth: number): AnyValue {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new JsonPathError('', `expected an AnyValue object like {"stringValue":"…"}, got ${got(v)}`);
  }
  const o = v as JsonObject;
  let x: unknown;
  if ((x = field(o, 'stringValue', 'string_value')) != null) {
    if (typeof x === 'string') return x;
    throw new JsonPathError('stringValue', `expected a string, got ${got(x)}`);
  }
  if ((x = field(o, 'intValue', 'int_value')) != null) {
    const n = toBigInt(x);
    if (n === undefined) throw new JsonPathError('intValue', `expected a 64-bit integer as a string or number, got ${got(x)}`);
    if (n >= INT64_MIN && n <= INT64_MAX) return n;
    throw new JsonPathError('intValue', `${got(x)} is outside the signed 64-bit range`);
  }
  if ((x = field(o, 'boolValue', 'bool_value')) != null) {
    if (typeof x === 'boolean') return x;
    throw new JsonPathError('boolValue', `expected true or false, got ${got(x)}`);
  }
  if ((x = field(o, 'doubleValue', 'double_value')) != null) {
    if (typeof x === 'number') return x;
    if (typeof x === 'string') {
      if (x === 'NaN') return NaN;
      if (x === 'Infinity') return Infinity;
      if (x === '-Infinity') return -Infinity;
      const n = x.trim() === '' ? NaN : Number(x);
      if (!Number.isNaN(n)) return n;
    }
    throw new JsonPathError('doubleValue', `expected a number, "NaN", "Infinity" or "-Infinity", got ${got(x)}`);
  }
  if ((x = field(o, 'arrayValue', 'array_value')) != null) {
    try {
      if (depth >= MAX_VALUE_DEPTH) throw new JsonPathError('', `attribute values nested deeper than ${MAX_VALUE_DEPTH}`);
      const list = array(object(x, ''), 'values', 'values');
      const out: AnyValue[] = [];
      for (let i = 0; i < list.length; i++) {
        const item = list[i];
        try {
          out.push(item === null || item === undefined ? null : anyValue(item, depth + 1));
        } catch (err) {
          throw prefix(err, `values[${i}]`);
        }
      }
      return out;
    } catch (err) {
      throw prefix(err, 'arrayValue');
    }
  }
  if ((x = field(o, 'kvlistValue', 'kvlist_value')) != null) {
    try {
      if (depth >= MAX_VALUE_DEPTH) throw new JsonPathError('', `attribute values nested deeper than ${MAX_VALUE_DEPTH}`);
      return new KvList(attributes(object(x, ''), 'values', 'values', depth + 1));
    } catch (err) {
      throw prefix(err, 'kvlistValue');
    }
  }
  if ((x = field(o, 'bytesValue', 'bytes_value')) != null) {
    if (typeof x === 'string' && BASE64_RE.test(x) && x.replace(/=+$/, '').length % 4 !== 1) {
      // Buffer.from would hand back a view into Node's shared pool; the model gets its own plain Uint8Array.
      return new Uint8Array(Buffer.from(x, 'base64'));
    }
    throw new JsonPathError('bytesValue', `expected base64 text, got ${got(x)}`);
  }
  return null;
}
