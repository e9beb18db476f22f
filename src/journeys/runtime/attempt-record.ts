/**
 * Turning the buffered spans of one (journey, trace) into decided `AttemptRecord`s: which step belongs to which
 * start, then the success rules, segments, services and the failing step.
 *
 * Step → attempt assignment, when a trace holds several starts of one journey (retries within one trace):
 * 1. the start that is the step's ancestor, when the parent chain is known from the buffered spans (only
 *    journey-relevant spans are buffered, so this finds direct children of the start and steps under steps);
 * 2. otherwise the start whose [start, end] time range contains the step's start time (the latest-starting one
 *    when ranges nest);
 * 3. otherwise the nearest start that began before the step; a step earlier than every start goes to the first.
 * With exactly one start, every step of the trace belongs to it, descendant or not: a span that matches a step in
 * the same trace is part of that attempt even when intermediate spans (which Pulse does not buffer) are unknown.
 */
import { StatusCode } from '../../core/model.js';
import type { AttemptRecord, AttemptSpan, CompiledJourney, ServiceVersion } from '../model.js';
import { START_ROLE } from './matcher-index.js';
import type { SpanRecord } from './span-record.js';

export type DecidedBy = AttemptRecord['decidedBy'];

/** Longest parent chain followed through buffered spans (a cycle in bad data must not loop forever). */
const MAX_ANCESTRY_HOPS = 64;

/**
 * For each record, the index in `records` of the start it belongs to (a start maps to itself); -1 when the
 * records hold no start. `startCount` is how many of `records` are starts.
 */
export function assignToStarts(records: readonly SpanRecord[], startCount: number): Int32Array {
  const owner = new Int32Array(records.length).fill(-1);
  if (startCount === 0) return owner;
  let onlyStart = -1;
  for (let i = 0; i < records.length; i++) {
    if (records[i]!.role !== START_ROLE) continue;
    owner[i] = i;
    onlyStart = i;
  }
  if (startCount === 1) {
    owner.fill(onlyStart);
    return owner;
  }
  const byId = new Map<string, number>();
  for (let i = 0; i < records.length; i++) byId.set(records[i]!.spanId, i);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.role === START_ROLE) continue;
    owner[i] = ancestorStart(records, byId, r) ?? startByTime(records, r.startNs);
  }
  return owner;
}

function ancestorStart(records: readonly SpanRecord[], byId: ReadonlyMap<string, number>, r: SpanRecord): number | undefined {
  let parent = r.parentSpanId;
  for (let hops = 0; parent !== '' && hops < MAX_ANCESTRY_HOPS; hops++) {
    const at = byId.get(parent);
    if (at === undefined) return undefined;
    const p = records[at]!;
    if (p.role === START_ROLE) return at;
    parent = p.parentSpanId;
  }
  return undefined;
}

function startByTime(records: readonly SpanRecord[], t: bigint): number {
  let containing = -1;
  let preceding = -1;
  let first = -1;
  for (let i = 0; i < records.length; i++) {
    const s = records[i]!;
    if (s.role !== START_ROLE) continue;
    if (first < 0 || s.startNs < records[first]!.startNs) first = i;
    if (s.startNs > t) continue;
    if (t <= s.endNs && (containing < 0 || s.startNs > records[containing]!.startNs)) containing = i;
    if (preceding < 0 || s.startNs > records[preceding]!.startNs) preceding = i;
  }
  return containing >= 0 ? containing : preceding >= 0 ? preceding : first;
}

/**
 * True when every start in `records` has every required step of `journey` among its steps, i.e. the group may be
 * decided early. For the common single-start case the caller checks a bitmask instead.
 */
export function everyStartComplete(journey: CompiledJourney, records: readonly SpanRecord[], startCount: number): boolean {
  if (startCount === 0) return false;
  const owner = assignToStarts(records, startCount);
  for (let s = 0; s < records.length; s++) {
    if (records[s]!.role !== START_ROLE) continue;
    for (const step of journey.steps) {
      if (!step.required) continue;
      let found = false;
      for (let i = 0; i < records.length && !found; i++) found = owner[i] === s && records[i]!.role === step.index;
      if (!found) return false;
    }
  }
  return true;
}

/**
 * Calls `visit` for each start span in `records`, in record order, with the other spans `assignToStarts` gives it:
 * one attempt each, whether it is decided (`buildAttempts`) or abandoned.
 */
export function forEachAttempt(records: readonly SpanRecord[], startCount: number, visit: (start: SpanRecord, steps: SpanRecord[]) => void): void {
  const owner = assignToStarts(records, startCount);
  for (let s = 0; s < records.length; s++) {
    if (records[s]!.role !== START_ROLE) continue;
    const steps: SpanRecord[] = [];
    for (let i = 0; i < records.length; i++) if (owner[i] === s && i !== s) steps.push(records[i]!);
    visit(records[s]!, steps);
  }
}

/** One record per start in `records`, in start-time order. */
export function buildAttempts(
  journey: CompiledJourney,
  traceId: string,
  records: readonly SpanRecord[],
  startCount: number,
  decidedBy: DecidedBy,
  decidedAtMs: number,
): AttemptRecord[] {
  const out: AttemptRecord[] = [];
  forEachAttempt(records, startCount, (start, steps) => out.push(buildOne(journey, traceId, start, steps, decidedBy, decidedAtMs)));
  if (out.length > 1) out.sort((a, b) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : a.startTimeUnixNano > b.startTimeUnixNano ? 1 : 0));
  return out;
}

/**
 * Definition order, then span time; stable. An insertion sort: an attempt has a handful of steps, and
 * `Array.prototype.sort` allocates work arrays for every call (~40 bytes per journey span in all, measured).
 */
function sortSteps(steps: SpanRecord[]): void {
  for (let i = 1; i < steps.length; i++) {
    const r = steps[i]!;
    let j = i - 1;
    while (j >= 0 && stepAfter(steps[j]!, r)) {
      steps[j + 1] = steps[j]!;
      j--;
    }
    steps[j + 1] = r;
  }
}

/** Whether `a` sorts strictly after `b`. */
function stepAfter(a: SpanRecord, b: SpanRecord): boolean {
  return a.role !== b.role ? a.role > b.role : a.startNs > b.startNs;
}

function durationMs(r: SpanRecord): number {
  const ns = r.endNs - r.startNs;
  return ns > 0n ? Number(ns) / 1e6 : 0;
}

function buildOne(
  journey: CompiledJourney,
  traceId: string,
  start: SpanRecord,
  steps: SpanRecord[],
  decidedBy: DecidedBy,
  decidedAtMs: number,
): AttemptRecord {
  // Definition order, then span time: the order of `spans`, of segment fallbacks and of services.
  sortSteps(steps);
  const rules = journey.success;
  const reasons: string[] = [];
  const signals: string[] = [];
  let failingStep: AttemptRecord['failingStep'];

  if (rules.noErrors !== 'off' && start.statusCode === StatusCode.ERROR) {
    reasons.push('error:start');
    failingStep = { step: 'start', service: start.service, version: start.version };
  }
  for (const step of journey.steps) {
    let calls = 0;
    let errored: SpanRecord | undefined;
    for (const r of steps) {
      if (r.role !== step.index) continue;
      calls++;
      if (errored === undefined && r.statusCode === StatusCode.ERROR) errored = r;
    }
    if (calls === 0) {
      if (step.required) {
        reasons.push(`missing_step:${step.name}`);
        failingStep ??= { step: step.name, service: expectedService(step.selector.service.values), version: '' };
      }
      continue;
    }
    if (rules.noErrors === 'journey' && errored !== undefined) {
      reasons.push(`error:${step.name}`);
      failingStep ??= { step: step.name, service: errored.service, version: errored.version };
    }
    if (step.maxCalls !== undefined && calls > step.maxCalls) signals.push(`duplicate_calls:${step.name}`);
  }
  const duration = durationMs(start);
  if (rules.maxDurationMs !== undefined && duration > rules.maxDurationMs) reasons.push('slow');
  for (const source of start.whereFailures) reasons.push(`where:${source}`);

  const segments = segmentsOf(journey, start, steps);

  const spans: AttemptSpan[] = [spanOf('start', start)];
  const services: ServiceVersion[] = [{ service: start.service, version: start.version }];
  for (const r of steps) {
    spans.push(spanOf(journey.steps[r.role]?.name ?? String(r.role), r));
    if (!services.some((sv) => sv.service === r.service && sv.version === r.version)) services.push({ service: r.service, version: r.version });
  }

  return {
    journey: journey.name,
    traceId,
    startSpanId: start.spanId,
    startTimeUnixNano: start.startNs,
    durationMs: duration,
    outcome: reasons.length === 0 ? 'success' : 'failure',
    reasons,
    signals,
    segments,
    services,
    failingStep: reasons.length === 0 ? undefined : failingStep,
    spans,
    decidedBy,
    decidedAtMs,
  };
}

/**
 * An attempt's segment values by dimension name: from its start span (the span, then its resource), else from the
 * first of `others` that has one. Dimensions without a value are absent.
 */
export function segmentsOf(journey: CompiledJourney, start: SpanRecord, others: readonly SpanRecord[]): Record<string, string> {
  const segments: Record<string, string> = {};
  const dims = journey.segments;
  for (let i = 0; i < dims.length; i++) {
    let value = start.segments?.[i];
    for (let k = 0; value === undefined && k < others.length; k++) value = others[k]!.segments?.[i];
    if (value !== undefined) segments[dims[i]!.name] = value;
  }
  return segments;
}

function spanOf(step: string, r: SpanRecord): AttemptSpan {
  return { step, spanId: r.spanId, service: r.service, version: r.version, statusCode: r.statusCode, durationMs: durationMs(r) };
}

/** The service a missing step was expected in, when its selector names exactly one. */
function expectedService(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : '';
}
