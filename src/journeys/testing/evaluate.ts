/**
 * The evaluation behind `pulse journeys test`: recorded requests are run through the real journeys data plane
 * (`JourneyRuntime`: the same matching index, tagging and attempt assembly as the connector), then everything
 * is decided at once, and the result is laid out per trace for a human or a machine.
 *
 * Offline, arrival time means nothing: every request is processed at one fixed `nowMs`, so no attempt is decided
 * while the input is read and a step that comes before its start (an earlier line or file) is assembled like any
 * other. At the end one `tick` decides the attempts that are complete (`decidedBy: complete`: the start and every
 * required step were seen) and `flush` decides the rest (`flush`: a required step never came).
 *
 * Spans already tagged `journey.name` / `journey.step` in the recording (recorded downstream of a journeys
 * connector, with the old definitions) have those tags removed first, so only the definitions under test count.
 *
 * Besides the attempts it reports what an SRE needs to debug a definition: journey spans that ended up in no
 * attempt (a step without its start), and notes — a journey without attempts (with "near misses": spans named
 * like its start but in another service, of another kind, or failing a `where` condition), a step that matched no
 * span in any attempt, a segment dimension that never had a value.
 *
 * The report's shape is in report.ts.
 */
import { getAttribute, idToHex, serviceNameOf, type AnyValue, type KeyValue, type Span, type TraceBatch } from '../../core/model.js';
import { MetricsRegistry } from '../../core/telemetry.js';
import type { AttemptRecord, AttemptSpan, CompiledJourney, JourneySnapshot, SpanSelector } from '../model.js';
import { MAX_SPANS_PER_GROUP } from '../runtime/assembler.js';
import { JOURNEY_NAME_ATTRIBUTE, JOURNEY_STEP_ATTRIBUTE, JourneyRuntime } from '../runtime/journey-runtime.js';
import { JourneyMetrics } from '../runtime/metrics.js';
import type {
  AttemptReport,
  EvaluationResult,
  JourneySummary,
  SpanReport,
  TestNote,
  TraceReport,
  UnmatchedSpanReport,
} from './report.js';
import type { TraceSourcePosition } from './trace-files.js';

const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_NAMES = ['unset', 'ok', 'error'] as const;
/** Distinct strings (and tag lists) kept for sharing; past it (unique names per span) new ones are not kept. */
const MAX_INTERNED = 100_000;
/** Distinct services / kinds / conditions a near-miss probe remembers per selector. */
const MAX_PROBE_ENTRIES = 20;

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/** A selector as one line: `service "frontend", span "POST /api/checkout", kind server, where http.request.method == "POST"`. */
export function describeSelector(selector: SpanSelector): string {
  const show = (m: SpanSelector['service']) => (m.kind === 'exact' || m.kind === 'glob' ? JSON.stringify(m.source) : m.source);
  const parts: string[] = [];
  if (selector.service.kind !== 'any') parts.push(`service ${show(selector.service)}`);
  parts.push(`span ${show(selector.span)}`);
  if (selector.kind !== undefined) parts.push(`kind ${kindName(selector.kind)}`);
  for (const c of selector.where) parts.push(`where ${c.source}`);
  return parts.join(', ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function bump<K>(map: Map<K, number>, key: K, cap = Infinity): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < cap) map.set(key, 1);
}

function attributeOf(span: Span, resourceAttributes: readonly KeyValue[], key: string): AnyValue | undefined {
  const v = getAttribute(span.attributes, key);
  return v === undefined ? getAttribute(resourceAttributes, key) : v;
}

/**
 * Spans that come close to a selector without matching it: the right span name in another service, the right
 * service and name with another kind, or all of that with a `where` condition that does not hold (the first one
 * that fails is counted).
 */
class SelectorProbe {
  private readonly otherServices = new Map<string, number>();
  private otherServiceSpans = 0;
  private readonly otherKinds = new Map<number, number>();
  private readonly failedConditions = new Map<string, number>();

  constructor(readonly selector: SpanSelector) {}

  observe(span: Span, service: string, resourceAttributes: readonly KeyValue[]): void {
    const sel = this.selector;
    if (!sel.span.matches(span.name)) return;
    if (!sel.service.matches(service)) {
      this.otherServiceSpans++;
      bump(this.otherServices, service, MAX_PROBE_ENTRIES);
      return;
    }
    if (sel.kind !== undefined && span.kind !== sel.kind) {
      bump(this.otherKinds, span.kind, MAX_PROBE_ENTRIES);
      return;
    }
    for (const c of sel.where) {
      if (!c.test(attributeOf(span, resourceAttributes, c.key))) {
        bump(this.failedConditions, c.source, MAX_PROBE_ENTRIES);
        return;
      }
    }
  }

  /** What was seen, one phrase each; empty when no span came close. */
  details(): string[] {
    const out: string[] = [];
    if (this.otherServiceSpans > 0) {
      const services = [...this.otherServices].map(([s, n]) => `${s === '' ? '(no service.name)' : s} (${n})`);
      out.push(`${plural(this.otherServiceSpans, 'span')} with a matching name in other services: ${services.join(', ')}`);
    }
    const wanted = this.selector.kind === undefined ? '' : kindName(this.selector.kind);
    for (const [kind, n] of this.otherKinds) out.push(`${plural(n, 'span')} with kind ${kindName(kind)} instead of ${wanted}`);
    for (const [source, n] of this.failedConditions) out.push(`${plural(n, 'span')} where ${source} does not hold`);
    return out;
  }
}

/** A span of the input that matched at least one journey, as much of it as the report needs. */
interface TaggedSpan {
  readonly name: string;
  readonly service: string;
  readonly version: string;
  readonly parentSpanId: string;
  readonly kind: number;
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly at: string;
  readonly tags: readonly { readonly journey: string; readonly step: string }[];
}

/** Feed it every request with `add`, then call `finish` once. */
export class JourneyTestRun {
  private readonly runtime: JourneyRuntime;
  private readonly journeys: readonly CompiledJourney[];
  /** Per journey (snapshot order): the start probe, then one per step. */
  private readonly probes: SelectorProbe[][];
  /** Trace id → its journey spans by span id; insertion order = first appearance. */
  private readonly traces = new Map<string, Map<string, TaggedSpan>>();
  private readonly traceIds = new Set<string>();
  private spans = 0;
  private journeySpans = 0;
  private duplicateSpans = 0;
  private retaggedSpans = 0;
  private finished = false;
  private readonly strings = new Map<string, string>();
  private readonly tagLists = new Map<string, TaggedSpan['tags']>();

  constructor(
    snapshot: JourneySnapshot,
    /** The one "arrival time" of every request, and the decision time. */
    private readonly nowMs: number = Date.now(),
  ) {
    this.journeys = snapshot.journeys;
    this.runtime = new JourneyRuntime(
      {
        // Nothing is decided before finish(): the clock never moves, so neither the wait nor the bound is reached.
        traceWaitMs: 3_600_000,
        settleDelayMs: 0,
        maxPendingAttempts: Number.MAX_SAFE_INTEGER,
        maxRecentDecided: 1000,
        keepAttempts: true,
        sli: { windowMs: 10_000, allowedLatenessMs: 0, maxSegmentValues: 100 },
      },
      new JourneyMetrics(new MetricsRegistry(), 'journeys-test'),
    );
    this.runtime.setJourneys(this.journeys);
    this.probes = this.journeys.map((j) => [new SelectorProbe(j.start), ...j.steps.map((s) => new SelectorProbe(s.selector))]);
  }

  /** Processes one request read at `at`. Mutates the batch (tags); keeps nothing of it. */
  add(batch: TraceBatch, at: TraceSourcePosition): void {
    if (this.finished) throw new Error('JourneyTestRun.add after finish');
    for (const rs of batch.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          this.spans++;
          this.traceIds.add(span.traceId);
          if (removeJourneyTags(span)) this.retaggedSpans++;
        }
      }
    }
    this.runtime.process(batch, this.nowMs);
    const where = `${at.file}:${at.line}`;
    for (const rs of batch.resourceSpans) {
      const service = this.intern(serviceNameOf(rs.resource));
      const versionValue = getAttribute(rs.resource.attributes, 'service.version');
      const version = this.intern(typeof versionValue === 'string' ? versionValue : '');
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const tags = readJourneyTags(span);
          this.probe(span, service, rs.resource.attributes, tags);
          if (tags.length === 0) continue;
          this.journeySpans++;
          let trace = this.traces.get(span.traceId);
          if (trace === undefined) {
            trace = new Map();
            this.traces.set(span.traceId, trace);
          }
          if (trace.has(span.spanId)) {
            this.duplicateSpans++;
            continue;
          }
          trace.set(span.spanId, {
            name: this.intern(span.name),
            service,
            version,
            parentSpanId: span.parentSpanId,
            kind: span.kind,
            statusCode: span.statusCode,
            statusMessage: this.intern(span.statusMessage),
            startNs: span.startTimeUnixNano,
            endNs: span.endTimeUnixNano,
            at: where,
            tags: this.internTags(tags),
          });
        }
      }
    }
  }

  /** Decides every attempt and builds the report. */
  finish(): EvaluationResult {
    if (this.finished) throw new Error('JourneyTestRun.finish called twice');
    this.finished = true;
    this.runtime.tick(this.nowMs);
    this.runtime.flush(this.nowMs);
    const decided = this.runtime.takeAttempts();
    this.runtime.takeWindows();

    const order = new Map(this.journeys.map((j, i) => [j.name, i]));
    const byTrace = new Map<string, AttemptRecord[]>();
    for (const a of decided) {
      const list = byTrace.get(a.traceId);
      if (list === undefined) byTrace.set(a.traceId, [a]);
      else list.push(a);
    }

    const tally = new Map(this.journeys.map((j) => [j.name, new JourneyTally(j)]));
    const traces: TraceReport[] = [];
    let unmatchedTotal = 0;
    for (const [traceId, spans] of this.traces) {
      const records = (byTrace.get(traceId) ?? []).sort(
        (a, b) => (order.get(a.journey) ?? 0) - (order.get(b.journey) ?? 0) || (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : a.startTimeUnixNano > b.startTimeUnixNano ? 1 : 0),
      );
      const inAttempt = new Set<string>();
      const attempts = records.map((r) => {
        for (const s of r.spans) inAttempt.add(`${r.journey}\0${s.spanId}`);
        tally.get(r.journey)?.add(r);
        return attemptReport(r, spans);
      });
      const unmatched: UnmatchedSpanReport[] = [];
      for (const [spanId, span] of spans) {
        for (const tag of span.tags) {
          if (inAttempt.has(`${tag.journey}\0${spanId}`)) continue;
          const hasAttempt = records.some((r) => r.journey === tag.journey);
          const reason = hasAttempt
            ? `not assembled: its attempt already held the most spans one attempt may hold (${MAX_SPANS_PER_GROUP})`
            : `no start span of journey ${tag.journey} in this trace`;
          unmatched.push({ journey: tag.journey, ...spanReport(tag.step, spanId, span), reason });
          tally.get(tag.journey)?.unmatched();
        }
      }
      unmatchedTotal += unmatched.length;
      traces.push({ traceId: idToHex(traceId), attempts, unmatchedJourneySpans: unmatched });
    }

    const journeySummaries = this.journeys.map((j) => tally.get(j.name)!.summary());
    const notes = this.journeys.flatMap((j, i) => notesFor(j, tally.get(j.name)!, this.probes[i]!));
    return {
      traces,
      notes,
      summary: {
        traces: this.traceIds.size,
        tracesWithJourneySpans: this.traces.size,
        spans: this.spans,
        journeySpans: this.journeySpans,
        attempts: decided.length,
        successes: decided.filter((a) => a.outcome === 'success').length,
        failures: decided.filter((a) => a.outcome === 'failure').length,
        unmatchedJourneySpans: unmatchedTotal,
        duplicateSpans: this.duplicateSpans,
        retaggedSpans: this.retaggedSpans,
        journeys: journeySummaries,
      },
    };
  }

  /**
   * The whole input's journey spans stay in memory until `finish`; their names, services and tag lists repeat
   * endlessly, so one copy of each is kept (every decoded request brings fresh copies of the same strings).
   */
  private intern(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size < MAX_INTERNED) this.strings.set(s, s);
    return s;
  }

  private internTags(tags: TaggedSpan['tags']): TaggedSpan['tags'] {
    const key = tags.length === 1 ? `${tags[0]!.journey}\0${tags[0]!.step}` : tags.map((t) => `${t.journey}\0${t.step}`).join('\u0001');
    const known = this.tagLists.get(key);
    if (known !== undefined) return known;
    if (this.tagLists.size < MAX_INTERNED) this.tagLists.set(key, tags);
    return tags;
  }

  private probe(span: Span, service: string, resourceAttributes: readonly KeyValue[], tags: readonly { journey: string }[]): void {
    for (let j = 0; j < this.journeys.length; j++) {
      const name = this.journeys[j]!.name;
      if (tags.some((t) => t.journey === name)) continue;
      for (const p of this.probes[j]!) p.observe(span, service, resourceAttributes);
    }
  }
}

/** Counts per journey, for the summary and the notes. */
class JourneyTally {
  attempts = 0;
  successes = 0;
  failures = 0;
  unmatchedSpans = 0;
  readonly reasons: Record<string, number> = {};
  readonly signals: Record<string, number> = {};
  readonly segments: Record<string, Record<string, { attempts: number; successes: number; failures: number }>> = {};
  /** Spans per step name over all attempts. */
  readonly stepSpans = new Map<string, number>();

  constructor(private readonly journey: CompiledJourney) {
    for (const dim of journey.segments) this.segments[dim.name] = {};
  }

  add(r: AttemptRecord): void {
    this.attempts++;
    const ok = r.outcome === 'success';
    if (ok) this.successes++;
    else this.failures++;
    for (const reason of r.reasons) this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    for (const signal of r.signals) this.signals[signal] = (this.signals[signal] ?? 0) + 1;
    for (const [dim, value] of Object.entries(r.segments)) {
      const values = (this.segments[dim] ??= {});
      const c = (values[value] ??= { attempts: 0, successes: 0, failures: 0 });
      c.attempts++;
      if (ok) c.successes++;
      else c.failures++;
    }
    for (const s of r.spans) bump(this.stepSpans, s.step);
  }

  unmatched(): void {
    this.unmatchedSpans++;
  }

  summary(): JourneySummary {
    return {
      journey: this.journey.name,
      attempts: this.attempts,
      successes: this.successes,
      failures: this.failures,
      failuresByReason: this.reasons,
      signals: this.signals,
      unmatchedSpans: this.unmatchedSpans,
      segments: this.segments,
    };
  }
}

function notesFor(journey: CompiledJourney, tally: JourneyTally, probes: readonly SelectorProbe[]): TestNote[] {
  const name = journey.name;
  if (tally.attempts === 0) {
    const details = probes[0]!.details();
    if (tally.unmatchedSpans > 0) details.push(`${plural(tally.unmatchedSpans, 'span')} matched its steps, but no span matched its start`);
    if (details.length === 0) details.push('no span in the input has a matching name');
    return [
      {
        journey: name,
        kind: 'no_attempts',
        message: `no attempts for journey ${name} — check its start selector (${describeSelector(journey.start)}): ${details.join('; ')}`,
      },
    ];
  }
  const notes: TestNote[] = [];
  const inAttempts = plural(tally.attempts, 'attempt');
  for (const step of journey.steps) {
    if ((tally.stepSpans.get(step.name) ?? 0) > 0) continue;
    const details = probes[step.index + 1]!.details();
    notes.push({
      journey: name,
      kind: 'step_never_matched',
      message: `step ${step.name} of journey ${name} matched no span in its ${inAttempts} — check its selector (${describeSelector(step.selector)})${
        details.length > 0 ? `: ${details.join('; ')}` : ''
      }`,
    });
  }
  for (const dim of journey.segments) {
    if (Object.keys(tally.segments[dim.name] ?? {}).length > 0) continue;
    notes.push({
      journey: name,
      kind: 'segment_never_set',
      message: `segment ${dim.name} of journey ${name} has no value in any of its ${inAttempts}: no start span, its resource or a step span has the attribute "${dim.attribute}"`,
    });
  }
  return notes;
}

/** Removes `journey.name` / `journey.step`; true when the span had either. */
function removeJourneyTags(span: Span): boolean {
  const attrs = span.attributes;
  let w = 0;
  for (let r = 0; r < attrs.length; r++) {
    const kv = attrs[r]!;
    if (kv.key === JOURNEY_NAME_ATTRIBUTE || kv.key === JOURNEY_STEP_ATTRIBUTE) continue;
    attrs[w++] = kv;
  }
  if (w === attrs.length) return false;
  attrs.length = w;
  return true;
}

/** The (journey, step) pairs the runtime tagged the span with: one string each, or aligned arrays. */
function readJourneyTags(span: Span): { journey: string; step: string }[] {
  const names = getAttribute(span.attributes, JOURNEY_NAME_ATTRIBUTE);
  if (names === undefined) return [];
  const steps = getAttribute(span.attributes, JOURNEY_STEP_ATTRIBUTE);
  if (typeof names === 'string') return [{ journey: names, step: typeof steps === 'string' ? steps : '' }];
  if (!Array.isArray(names)) return [];
  return names.map((n, i) => ({ journey: String(n), step: Array.isArray(steps) ? String(steps[i] ?? '') : '' }));
}

function durationMs(startNs: bigint, endNs: bigint): number {
  const ns = endNs - startNs;
  return ns > 0n ? Number(ns) / 1e6 : 0;
}

function spanReport(step: string, spanId: string, span: TaggedSpan): SpanReport {
  return {
    step,
    name: span.name,
    service: span.service,
    version: span.version,
    spanId: idToHex(spanId),
    parentSpanId: idToHex(span.parentSpanId),
    kind: kindName(span.kind),
    status: STATUS_NAMES[span.statusCode] ?? 'unset',
    statusMessage: span.statusMessage,
    durationMs: durationMs(span.startNs, span.endNs),
    at: span.at,
  };
}

function attemptSpanReport(s: AttemptSpan, spans: ReadonlyMap<string, TaggedSpan>): SpanReport {
  const span = spans.get(s.spanId);
  if (span !== undefined) return spanReport(s.step, s.spanId, span);
  // Not expected (every assembled span was tagged and indexed); report what the attempt itself knows.
  return {
    step: s.step,
    name: '',
    service: s.service,
    version: s.version,
    spanId: idToHex(s.spanId),
    parentSpanId: '',
    kind: 'unspecified',
    status: STATUS_NAMES[s.statusCode] ?? 'unset',
    statusMessage: '',
    durationMs: s.durationMs,
    at: '',
  };
}

function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function attemptReport(r: AttemptRecord, spans: ReadonlyMap<string, TaggedSpan>): AttemptReport {
  const [start, ...steps] = r.spans.map((s) => attemptSpanReport(s, spans));
  return {
    journey: r.journey,
    outcome: r.outcome,
    reasons: r.reasons,
    signals: r.signals,
    failingStep: r.failingStep ?? null,
    segments: r.segments,
    durationMs: r.durationMs,
    startTime: isoTime(r.startTimeUnixNano),
    startTimeUnixNano: r.startTimeUnixNano.toString(),
    decidedBy: r.decidedBy,
    services: r.services,
    start: start!,
    steps,
  };
}

