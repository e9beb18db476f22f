/**
 * Splitting a batch by backend (the `loadbalancing` exporter's hot path): each span goes to the backend the ring
 * gives its trace id; each backend's part keeps the spans' resources and scopes (the same objects: exporters only
 * read them) and their order. The common cases cost no copy: a batch whose spans all go to one backend is reported
 * as that backend's index, to be sent as it is.
 */
import type { ResourceSpans, ScopeSpans, Span, TraceBatch } from '../../core/model.js';
import type { HashRing } from './ring.js';

/** The spans of one backend, gathered while a batch is split. */
export interface Part {
  resourceSpans: ResourceSpans[];
  spanCount: number;
  /** The input resource and scope the last span came from, and the output ones made for them. */
  fromRs: ResourceSpans | undefined;
  fromSs: ScopeSpans | undefined;
  toRs: ResourceSpans | undefined;
  toSs: ScopeSpans | undefined;
}

/**
 * A backend index (into `ring.endpoints`) when every span goes to that backend, `undefined` for a batch without
 * spans, else one part per backend (`undefined` where a backend gets nothing). The ring must not be empty.
 */
export function splitByBackend(batch: TraceBatch, ring: HashRing): number | Array<Part | undefined> | undefined {
  let only = -1;
  let parts: Array<Part | undefined> | undefined;
  let lastTrace = '';
  let lastIndex = -1;
  for (const rs of batch.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        // Spans of one trace are usually adjacent: hash each trace id once per run.
        const index = span.traceId === lastTrace && lastIndex >= 0 ? lastIndex : ring.indexFor(span.traceId);
        lastTrace = span.traceId;
        lastIndex = index;
        if (parts === undefined) {
          if (only === -1 || only === index) {
            only = index;
            continue;
          }
          // A second backend: everything before this span went to the first one; gather it there, then go per span.
          parts = new Array<Part | undefined>(ring.endpoints.length);
          gatherBefore(batch, span, parts, only);
        }
        add(parts, index, rs, ss, span);
      }
    }
  }
  if (parts !== undefined) return parts;
  return only === -1 ? undefined : only;
}

/** Adds every span of `batch` before `stop` to backend `index`'s part. */
function gatherBefore(batch: TraceBatch, stop: Span, parts: Array<Part | undefined>, index: number): void {
  for (const rs of batch.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        if (span === stop) return;
        add(parts, index, rs, ss, span);
      }
    }
  }
}

/** Adds a span to backend `index`'s part, opening a resource and a scope there when they change. */
function add(parts: Array<Part | undefined>, index: number, rs: ResourceSpans, ss: ScopeSpans, span: Span): void {
  let p = parts[index];
  if (p === undefined) {
    p = { resourceSpans: [], spanCount: 0, fromRs: undefined, fromSs: undefined, toRs: undefined, toSs: undefined };
    parts[index] = p;
  }
  if (p.fromRs !== rs) {
    p.fromRs = rs;
    p.fromSs = undefined;
    p.toRs = { resource: rs.resource, scopeSpans: [], schemaUrl: rs.schemaUrl };
    p.resourceSpans.push(p.toRs);
  }
  if (p.fromSs !== ss) {
    p.fromSs = ss;
    p.toSs = { scope: ss.scope, spans: [], schemaUrl: ss.schemaUrl };
    p.toRs!.scopeSpans.push(p.toSs);
  }
  p.toSs!.spans.push(span);
  p.spanCount++;
}
