/**
 * What the debug exporter logs at each verbosity, as plain JSON-safe objects for pino (bigints become strings,
 * bytes base64, ids hex).
 */
import { KvList, idToHex, serviceNameOf, type AnyValue, type KeyValue, type Span, type TraceBatch } from '../../core/model.js';

/** At most this many distinct span names are listed per scope at `normal` verbosity. */
const MAX_NAMES = 10;

export function batchSummary(batch: TraceBatch): Record<string, unknown> {
  let scopes = 0;
  for (const rs of batch.resourceSpans) scopes += rs.scopeSpans.length;
  return { resources: batch.resourceSpans.length, scopes, spans: batch.spanCount };
}

/** One object per resource/scope: service, scope, span count and the most frequent span names with counts. */
export function scopeSummaries(batch: TraceBatch): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const rs of batch.resourceSpans) {
    const service = serviceNameOf(rs.resource);
    for (const ss of rs.scopeSpans) {
      const names = new Map<string, number>();
      let errors = 0;
      for (const s of ss.spans) {
        names.set(s.name, (names.get(s.name) ?? 0) + 1);
        if (s.statusCode === 2) errors++;
      }
      const top = [...names.entries()].sort((a, b) => b[1] - a[1]).slice(0, MAX_NAMES);
      out.push({
        service,
        scope: ss.scope.name,
        scopeVersion: ss.scope.version || undefined,
        spans: ss.spans.length,
        errors,
        names: top.map(([n, c]) => (c > 1 ? `${n} ×${c}` : n)).join(', ') + (names.size > MAX_NAMES ? `, … (${names.size - MAX_NAMES} more)` : ''),
      });
    }
  }
  return out;
}

export function spanDetail(span: Span, service: string, scope: string): Record<string, unknown> {
  return {
    service,
    scope,
    traceId: idToHex(span.traceId),
    spanId: idToHex(span.spanId),
    parentSpanId: span.parentSpanId ? idToHex(span.parentSpanId) : undefined,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: span.startTimeUnixNano.toString(),
    durationMs: Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6,
    statusCode: span.statusCode,
    statusMessage: span.statusMessage || undefined,
    attributes: attributesObject(span.attributes),
    events: span.events.length > 0 ? span.events.map((e) => ({ name: e.name, attributes: attributesObject(e.attributes) })) : undefined,
    links: span.links.length > 0 ? span.links.map((l) => ({ traceId: idToHex(l.traceId), spanId: idToHex(l.spanId) })) : undefined,
  };
}

export function attributesObject(attrs: readonly KeyValue[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const kv of attrs) o[kv.key] = loggable(kv.value);
  return o;
}

function loggable(v: AnyValue): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (v instanceof KvList) return attributesObject(v.values);
  if (Array.isArray(v)) return v.map(loggable);
  return v;
}
