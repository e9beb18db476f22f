/**
 * Shared fixtures for the journey benches (journeys, matcher, assembler, sli): journey definitions compiled by the
 * real loader, realistic batches (tests/support/traces.ts) with some traces renamed into journey attempts, and
 * helpers to group, split and re-stamp them. Nothing here is timed.
 */
import { serviceNameOf, getAttribute, type KeyValue, type ResourceSpans, type Span, type TraceBatch } from '../src/core/model.js';
import type { AttemptRecord, CompiledJourney } from '../src/journeys/model.js';
import { Assembler } from '../src/journeys/runtime/assembler.js';
import { MatcherIndex, type Candidate } from '../src/journeys/runtime/matcher-index.js';
import { compileYaml } from '../tests/unit/journeys/runtime/support.js';
import { makeRealisticBatch, toAttributes } from '../tests/support/traces.js';

/** The services of `makeRealisticBatch()` (5 × 100 spans), in resource order; journey i lives in SERVICES[i % 5]. */
export const SERVICES = ['checkout-api', 'payment-service', 'cart-service', 'frontend', 'user-service'];

/**
 * Journey i in the YAML format: start + 3 steps (a required, max 1 call), success rules, 3 segment dimensions.
 * With `glob` (the default) step c is the pattern `j<i> step c *` — the honest worst case for the matcher: every
 * span of the service then goes through the memoised pattern path. Without it, step c is the exact name
 * `j<i> step c 1`, so the service's view has no patterns at all.
 */
export function journeyYaml(i: number, service: string, glob = true): string {
  return `apiVersion: pulse/v1
kind: Journey
metadata: { name: journey-${i} }
spec:
  start: { service: ${service}, span: "POST /api/j${i}", kind: server, where: { http.request.method: POST } }
  steps:
    - { name: a, service: ${service}, span: "j${i} step a", required: true, max_calls: 1 }
    - { name: b, service: ${service}, span: "j${i} step b" }
    - { name: c, service: ${service}, span: "j${i} step c ${glob ? '*' : '1'}" }
  success: { where: { http.response.status_code: { lt: 500 } }, max_duration: 2s }
  segments: [customer.tier, cloud.region, { name: release, attribute: service.version }]
`;
}

/** 5 journeys, one per service, each with a glob step. */
export const FIVE: CompiledJourney[] = compileYaml(SERVICES.map((s, i) => journeyYaml(i, s)).join('---\n'));
/** The same 5 journeys with exact span names only (no patterns anywhere). */
export const FIVE_EXACT: CompiledJourney[] = compileYaml(SERVICES.map((s, i) => journeyYaml(i, s, false)).join('---\n'));
/** 50 journeys, 10 per service; journeys 0..4 are the ones `makeJourneyBatch` renames spans for. */
export const FIFTY: CompiledJourney[] = compileYaml(Array.from({ length: 50 }, (_, i) => journeyYaml(i, SERVICES[i % 5]!)).join('---\n'));

/** Traces of a batch: spans grouped by trace id, in batch order (makeRealisticBatch writes each root first). */
export function tracesOf(batch: TraceBatch): Span[][] {
  const byTrace = new Map<string, Span[]>();
  for (const rs of batch.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        let list = byTrace.get(s.traceId);
        if (!list) byTrace.set(s.traceId, (list = []));
        list.push(s);
      }
    }
  }
  return [...byTrace.values()];
}

export interface JourneyBatch {
  readonly batch: TraceBatch;
  /** Every trace of the batch (renamed or not), spans in batch order. */
  readonly traces: Span[][];
  /** Spans renamed into journey starts and steps. */
  readonly relevantSpans: number;
  /** Traces renamed into attempts (one start each). */
  readonly attempts: number;
}

/**
 * A realistic 500-span batch in which every `everyNth` trace (index ≡ 0 mod everyNth) is renamed into an attempt of
 * the journey of its service — root → start (`POST /api/j<svc>`, method POST), first children → steps a, b, c —
 * until `maxShare` of all spans are journey-relevant. Every renamed trace has step a (each root has ≥ 2
 * children), so every attempt is complete.
 */
export function makeJourneyBatch(everyNth: number, maxShare: number, seed = 1): JourneyBatch {
  const batch = makeRealisticBatch({ seed });
  const traces = tracesOf(batch);
  const limit = batch.spanCount * maxShare;
  let relevantSpans = 0;
  let attempts = 0;
  for (const [ti, spans] of traces.entries()) {
    if (ti % everyNth !== 0 || relevantSpans >= limit) continue;
    const root = spans[0]!;
    const svc = batch.resourceSpans.findIndex((rs) => rs.scopeSpans.some((ss) => ss.spans.includes(root)));
    root.name = `POST /api/j${svc}`;
    root.attributes = toAttributes({ ...Object.fromEntries(root.attributes.map((kv) => [kv.key, kv.value])), 'http.request.method': 'POST' });
    relevantSpans++;
    attempts++;
    const steps = [`j${svc} step a`, `j${svc} step b`, `j${svc} step c 1`];
    for (let k = 1; k < spans.length && k <= steps.length && relevantSpans < limit; k++) {
      spans[k]!.name = steps[k - 1]!;
      relevantSpans++;
    }
  }
  return { batch, traces, relevantSpans, attempts };
}

/** A trace id built from a counter (16 bytes, binary like the model's ids); `tag` keeps id families apart. */
export function freshTraceId(n: number, tag = 8): string {
  return String.fromCharCode(1, 2, 3, 4, 5, 6, 7, tag, (n / 2 ** 32) & 255, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, 9, 9, 9);
}

/** One span as the journeys runtime hands it to the assembler: its candidate and its resource's context. */
export interface MatchedSpan {
  readonly candidate: Candidate;
  readonly span: Span;
  readonly resourceAttributes: readonly KeyValue[];
  readonly service: string;
  readonly version: string;
}

/** Every (candidate, span) pair of `batch` under `journeys`, in batch order, found by the real matcher. */
export function matchBatch(journeys: readonly CompiledJourney[], batch: TraceBatch): MatchedSpan[] {
  const index = MatcherIndex.build(journeys);
  const out: MatchedSpan[] = [];
  const scratch: Candidate[] = [];
  for (const rs of batch.resourceSpans) {
    const service = serviceNameOf(rs.resource);
    const view = index.viewFor(service);
    if (view === undefined) continue;
    const v = getAttribute(rs.resource.attributes, 'service.version');
    const version = typeof v === 'string' ? v : '';
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        const n = index.match(view, span, rs.resource.attributes, scratch);
        for (let k = 0; k < n; k++) out.push({ candidate: scratch[k]!, span, resourceAttributes: rs.resource.attributes, service, version });
      }
    }
  }
  return out;
}

/** A batch with the same resources and scopes as `batch` holding only the spans `keep` accepts (spans shared, not copied). */
export function filterBatch(batch: TraceBatch, keep: (span: Span) => boolean): TraceBatch {
  let spanCount = 0;
  const resourceSpans: ResourceSpans[] = batch.resourceSpans.map((rs) => ({
    ...rs,
    scopeSpans: rs.scopeSpans.map((ss) => {
      const spans = ss.spans.filter(keep);
      spanCount += spans.length;
      return { ...ss, spans };
    }),
  }));
  return { resourceSpans, spanCount };
}

export interface DecidedAttempt {
  readonly journey: CompiledJourney;
  readonly record: AttemptRecord;
}

/** The attempts of the all-attempts batch (`makeJourneyBatch(1, 1)`), decided by the real assembler (all complete). */
export function decidedFixtureAttempts(): DecidedAttempt[] {
  const out: DecidedAttempt[] = [];
  const count = () => {
    throw new Error('fixture: only decided attempts expected');
  };
  const assembler = new Assembler(
    { traceWaitMs: 10_000, settleDelayMs: 500, maxPendingAttempts: 100_000 },
    { decided: (journey, record) => out.push({ journey, record }), orphanSteps: count, abandoned: count, abandonedAttempt: count, waitExtended: count, lateSpan: count, evicted: count, duplicateSpan: count, overflowSpan: count },
  );
  for (const m of matchBatch(FIVE, makeJourneyBatch(1, 1).batch)) assembler.add(m.candidate, m.span, m.resourceAttributes, m.service, m.version, 0);
  assembler.tick(1000);
  if (assembler.pendingCount !== 0) throw new Error('fixture: attempts left undecided');
  return out;
}
