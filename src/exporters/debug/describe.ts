/**
 * What the debug exporter logs at each verbosity, and writes to its file for attempts and SLI rows, as plain
 * JSON-safe objects for pino and JSON.stringify (bigints become strings, bytes base64, ids hex).
 */
import { KvList, idToHex, serviceNameOf, type AnyValue, type KeyValue, type Span, type TraceBatch } from '../../core/model.js';
import type { AttemptRecord, SliWindow } from '../../journeys/model.js';

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

/** `attempts` at basic verbosity: how many, and how many succeeded and failed. */
export function attemptsSummary(records: readonly AttemptRecord[]): Record<string, unknown> {
  let successes = 0;
  for (const r of records) if (r.outcome === 'success') successes++;
  return { attempts: records.length, successes, failures: records.length - successes };
}

/** One attempt at normal verbosity: what an SRE scans for. */
export function attemptLine(r: AttemptRecord): Record<string, unknown> {
  return {
    journey: r.journey,
    traceId: idToHex(r.traceId),
    outcome: r.outcome,
    reasons: r.reasons,
    signals: r.signals.length > 0 ? r.signals : undefined,
    segments: r.segments,
    durationMs: r.durationMs,
  };
}

/**
 * The whole attempt as a JSON-safe object (detailed verbosity, and one line of the `path` file): ids in hex, the
 * start time (a bigint of nanoseconds) as a decimal string, every other field as it is.
 */
export function attemptJson(r: AttemptRecord): Record<string, unknown> {
  return {
    ...r,
    traceId: idToHex(r.traceId),
    startSpanId: idToHex(r.startSpanId),
    startTimeUnixNano: r.startTimeUnixNano.toString(),
    spans: r.spans.map((s) => ({ ...s, spanId: idToHex(s.spanId) })),
  };
}

/** `journey_metrics` at basic verbosity. */
export function sliSummary(rows: readonly SliWindow[]): Record<string, unknown> {
  return { rows: rows.length };
}

/** One SLI row at normal verbosity: journey, window, segment and the success ratio. */
export function sliLine(row: SliWindow): Record<string, unknown> {
  return {
    journey: row.journey,
    windowStart: new Date(row.windowStartMs).toISOString(),
    segment: row.segmentKey === '' ? 'all' : `${row.segmentKey}=${row.segmentValue}`,
    attempts: row.attempts,
    ...(row.abandoned > 0 && { abandoned: row.abandoned }),
    // Rounded to 4 decimals: 0.9951 reads as 99.51 %; null when the window holds no attempt.
    successRatio: row.attempts > 0 ? Math.round((row.successes / row.attempts) * 1e4) / 1e4 : null,
  };
}

/** The whole SLI row as a JSON-safe object (it has no bigints or binary ids, so it is the row itself). */
export function sliJson(row: SliWindow): SliWindow {
  return row;
}
