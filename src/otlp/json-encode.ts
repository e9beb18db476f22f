/**
 * Pulse's span model → canonical OTLP/JSON `ExportTraceServiceRequest` text: lowerCamelCase names, hex ids,
 * 64-bit integers as decimal strings, enums as integers, non-finite doubles as "NaN"/"Infinity"/"-Infinity",
 * bytes as base64, and default or empty fields omitted (`resource` and `scope` are always written, as `{}` when
 * empty; every attribute `value` is written, as `{}` for `null`). `decodeTraceRequestJson` reads it back to an
 * equal model.
 *
 * Built by string concatenation, which V8 turns into one rope flattened once; JSON.stringify escapes the strings.
 */
import { KvList, idToHex, type AnyValue, type KeyValue, type ResourceSpans, type ScopeSpans, type Span, type TraceBatch } from '../core/model.js';

export function encodeTraceRequestJson(batch: TraceBatch): string {
  let out = '{"resourceSpans":[';
  const list = batch.resourceSpans;
  for (let i = 0; i < list.length; i++) {
    if (i !== 0) out += ',';
    out += resourceSpans(list[i]!);
  }
  return out + ']}';
}

const quote = JSON.stringify as (s: string) => string;

function resourceSpans(rs: ResourceSpans): string {
  let out = '{"resource":{';
  let sep = '';
  if (rs.resource.attributes.length !== 0) {
    out += `"attributes":${attributes(rs.resource.attributes)}`;
    sep = ',';
  }
  if (rs.resource.droppedAttributesCount !== 0) out += `${sep}"droppedAttributesCount":${rs.resource.droppedAttributesCount >>> 0}`;
  out += '}';
  if (rs.scopeSpans.length !== 0) {
    out += ',"scopeSpans":[';
    for (let i = 0; i < rs.scopeSpans.length; i++) {
      if (i !== 0) out += ',';
      out += scopeSpans(rs.scopeSpans[i]!);
    }
    out += ']';
  }
  if (rs.schemaUrl.length !== 0) out += `,"schemaUrl":${quote(rs.schemaUrl)}`;
  return out + '}';
}

function scopeSpans(ss: ScopeSpans): string {
  const scope = ss.scope;
  let s = '';
  if (scope.name.length !== 0) s += `,"name":${quote(scope.name)}`;
  if (scope.version.length !== 0) s += `,"version":${quote(scope.version)}`;
  if (scope.attributes.length !== 0) s += `,"attributes":${attributes(scope.attributes)}`;
  if (scope.droppedAttributesCount !== 0) s += `,"droppedAttributesCount":${scope.droppedAttributesCount >>> 0}`;
  let out = `{"scope":{${s.slice(1)}}`;
  const spans = ss.spans;
  if (spans.length !== 0) {
    out += ',"spans":[';
    for (let i = 0; i < spans.length; i++) {
      if (i !== 0) out += ',';
      out += span(spans[i]!);
    }
    out += ']';
  }
  if (ss.schemaUrl.length !== 0) out += `,"schemaUrl":${quote(ss.schemaUrl)}`;
  return out + '}';
}

function span(s: Span): string {
  // Every field after the first starts with ',', and the leading one is dropped at the end, so omitted defaults
  // need no separator bookkeeping.
  let out = '';
  if (s.traceId.length !== 0) out += `,"traceId":"${idToHex(s.traceId)}"`;
  if (s.spanId.length !== 0) out += `,"spanId":"${idToHex(s.spanId)}"`;
  if (s.traceState.length !== 0) out += `,"traceState":${quote(s.traceState)}`;
  if (s.parentSpanId.length !== 0) out += `,"parentSpanId":"${idToHex(s.parentSpanId)}"`;
  if (s.flags !== 0) out += `,"flags":${s.flags >>> 0}`;
  if (s.name.length !== 0) out += `,"name":${quote(s.name)}`;
  if (s.kind !== 0) out += `,"kind":${s.kind | 0}`;
  if (s.startTimeUnixNano !== 0n) out += `,"startTimeUnixNano":"${BigInt.asUintN(64, s.startTimeUnixNano)}"`;
  if (s.endTimeUnixNano !== 0n) out += `,"endTimeUnixNano":"${BigInt.asUintN(64, s.endTimeUnixNano)}"`;
  if (s.attributes.length !== 0) out += `,"attributes":${attributes(s.attributes)}`;
  if (s.droppedAttributesCount !== 0) out += `,"droppedAttributesCount":${s.droppedAttributesCount >>> 0}`;
  if (s.events.length !== 0) {
    out += ',"events":[';
    for (let i = 0; i < s.events.length; i++) {
      const e = s.events[i]!;
      let ev = '';
      if (e.timeUnixNano !== 0n) ev += `,"timeUnixNano":"${BigInt.asUintN(64, e.timeUnixNano)}"`;
      if (e.name.length !== 0) ev += `,"name":${quote(e.name)}`;
      if (e.attributes.length !== 0) ev += `,"attributes":${attributes(e.attributes)}`;
      if (e.droppedAttributesCount !== 0) ev += `,"droppedAttributesCount":${e.droppedAttributesCount >>> 0}`;
      out += `${i === 0 ? '' : ','}{${ev.slice(1)}}`;
    }
    out += ']';
  }
  if (s.droppedEventsCount !== 0) out += `,"droppedEventsCount":${s.droppedEventsCount >>> 0}`;
  if (s.links.length !== 0) {
    out += ',"links":[';
    for (let i = 0; i < s.links.length; i++) {
      const l = s.links[i]!;
      let lk = '';
      if (l.traceId.length !== 0) lk += `,"traceId":"${idToHex(l.traceId)}"`;
      if (l.spanId.length !== 0) lk += `,"spanId":"${idToHex(l.spanId)}"`;
      if (l.traceState.length !== 0) lk += `,"traceState":${quote(l.traceState)}`;
      if (l.attributes.length !== 0) lk += `,"attributes":${attributes(l.attributes)}`;
      if (l.droppedAttributesCount !== 0) lk += `,"droppedAttributesCount":${l.droppedAttributesCount >>> 0}`;
      if (l.flags !== 0) lk += `,"flags":${l.flags >>> 0}`;
      out += `${i === 0 ? '' : ','}{${lk.slice(1)}}`;
    }
    out += ']';
  }
  if (s.droppedLinksCount !== 0) out += `,"droppedLinksCount":${s.droppedLinksCount >>> 0}`;
  if (s.statusCode !== 0 || s.statusMessage.length !== 0) {
    let st = '';
    if (s.statusMessage.length !== 0) st += `,"message":${quote(s.statusMessage)}`;
    if (s.statusCode !== 0) st += `,"code":${s.statusCode | 0}`;
    out += `,"status":{${st.slice(1)}}`;
  }
  return `{${out.slice(1)}}`;
}

function attributes(attrs: readonly KeyValue[]): string {
  let out = '[';
  for (let i = 0; i < attrs.length; i++) {
    const kv = attrs[i]!;
    out += `${i === 0 ? '' : ','}{"key":${quote(kv.key)},"value":${anyValue(kv.value)}}`;
  }
  return out + ']';
}

function anyValue(v: AnyValue): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${quote(v)}}`;
    case 'boolean':
      return v ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'bigint':
      return `{"intValue":"${BigInt.asIntN(64, v)}"}`;
    case 'number':
      return `{"doubleValue":${double(v)}}`;
    case 'object':
      if (v === null) return '{}';
      if (v instanceof Uint8Array) return `{"bytesValue":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"}`;
      if (v instanceof KvList) return v.values.length === 0 ? '{"kvlistValue":{}}' : `{"kvlistValue":{"values":${attributes(v.values)}}}`;
      if (!Array.isArray(v)) return '{}'; // not an AnyValue (a bug upstream): an empty value rather than a failed batch
      if (v.length === 0) return '{"arrayValue":{}}';
      {
        let out = '{"arrayValue":{"values":[';
        for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + anyValue(v[i]!);
        return out + ']}}';
      }
    case 'undefined':
    case 'function':
    case 'symbol':
      return '{}';
  }
}

/** A double as protobuf JSON writes it: non-finite values as strings, and -0 kept (JSON.stringify would drop the sign). */
function double(v: number): string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}
