/**
 * The journeys data plane in one object, independent of pipelines, timers and files: match + tag spans, assemble
 * attempts, aggregate SLI windows. The journeys connector drives it from its consume() and its tick; the
 * `journeys test` command can drive it over recorded traces (process everything, then `flush`).
 *
 * Time is always passed in (`nowMs`, wall-clock ms), so callers and tests control it.
 *
 * Tagging: a span matching one journey gets the string attributes `journey.name` and `journey.step` (`start` or
 * the step name). A span matching several journeys gets both as string ARRAYS of equal length, aligned by position
 * and ordered as the journeys are in the snapshot: `journey.name: [checkout, signup]`,
 * `journey.step: [charge, start]`. Existing `journey.*` attributes are replaced.
 */
import { getAttribute, markChanged, serviceNameOf, setSpanAttribute, type AnyValue, type Resource, type Span, type TraceBatch } from '../../core/model.js';
import type { BoundCounter } from '../../core/telemetry.js';
import type { AttemptRecord, CompiledJourney, SliWindow } from '../model.js';
import { Assembler, type AssemblerOptions } from './assembler.js';
import { MatcherIndex, type Candidate } from './matcher-index.js';
import type { JourneyMetrics } from './metrics.js';
import { SeenRequests } from './seen-requests.js';
import { SliAggregator, type SliOptions } from './sli.js';
import { captureSpan, type SpanRecord } from './span-record.js';

export const JOURNEY_NAME_ATTRIBUTE = 'journey.name';
export const JOURNEY_STEP_ATTRIBUTE = 'journey.step';

/**
 * Where matched spans go instead of this runtime's own assembler when assembly runs elsewhere (another thread:
 * connectors/journeys/relay.ts). Each span arrives captured, with the candidate that matched it.
 */
export interface CapturedSpanSink {
  captured(candidate: Candidate, traceId: string, record: SpanRecord): void;
}

export interface JourneyRuntimeOptions extends AssemblerOptions {
  readonly sli: SliOptions;
  /** Keep decided attempt records for `takeAttempts()`; false when nobody consumes them (SLIs are still computed). */
  readonly keepAttempts: boolean;
  /** Hand matched spans to this sink instead of assembling them here. */
  readonly capture?: CapturedSpanSink;
  /** Add `journey.name` / `journey.step` to matching spans (default true); false leaves every batch as it came. */
  readonly tagSpans?: boolean;
  /**
   * Requests with journey spans remembered to recognise one received again (`SeenRequests`): its spans are tagged
   * and passed on but not assembled again. 0 or absent: not remembered.
   */
  readonly maxRememberedRequests?: number;
}

export class JourneyRuntime {
  private index: MatcherIndex | undefined;
  private matched: BoundCounter[] = [];
  private readonly assembler: Assembler;
  private readonly sli: SliAggregator;
  private attempts: AttemptRecord[] = [];
  private windows: SliWindow[] = [];
  /** Reused for every span: the candidates it matched. */
  private readonly scratch: Candidate[] = [];
  private readonly seen: SeenRequests | undefined;

  constructor(
    private readonly options: JourneyRuntimeOptions,
    private readonly metrics: JourneyMetrics,
  ) {
    const remembered = options.maxRememberedRequests ?? 0;
    this.seen = remembered > 0 ? new SeenRequests(remembered) : undefined;
    this.assembler = new Assembler(options, {
      decided: (journey, record, delayMs) => this.decided(journey, record, delayMs),
      orphanSteps: (journey, n) => metrics.orphanSteps(journey, n),
      abandoned: (journey, n, reason) => metrics.abandonedAttempts(journey, n, reason),
      abandonedAttempt: (journey, start, others) => this.sli.addAbandoned(journey, start, others),
      waitExtended: (journey) => metrics.extendedWait(journey),
      lateSpan: (journey) => metrics.lateSpan(journey),
      evicted: (journey, n) => metrics.evictedAttempts(journey, n),
      duplicateSpan: (journey) => metrics.duplicateSpan(journey),
      overflowSpan: (journey) => metrics.overflowSpan(journey),
    });
    this.sli = new SliAggregator(options.sli, {
      lateAttempt: (journey) => metrics.lateAttempt(journey),
      folded: (journey, dimension) => metrics.foldedValue(journey, dimension),
    });
  }

  /** Swaps in the journeys of a new snapshot: new spans use them; pending attempts keep their own definitions. */
  setJourneys(journeys: readonly CompiledJourney[]): void {
    this.index = MatcherIndex.build(journeys);
    this.matched = journeys.map((j) => this.metrics.matchedFor(j.name));
  }

  get journeyCount(): number {
    return this.index?.journeys.length ?? 0;
  }

  get pendingAttempts(): number {
    return this.assembler.pendingCount;
  }

  /** Deadline-queue entries the assembler holds (see `Assembler.queuedDeadlines`). */
  get queuedDeadlines(): number {
    return this.assembler.queuedDeadlines;
  }

  /** Requests remembered to recognise resends (`maxRememberedRequests`). */
  get rememberedRequests(): number {
    return this.seen?.remembered ?? 0;
  }

  /**
   * Matches every span of `batch`, tags the matching ones in place (unless `tagSpans` is false) and buffers them
   * for assembly, unless the same request was received before (`maxRememberedRequests`): then they are only tagged.
   * Returns the number of spans that matched. Never keeps a reference to the batch.
   */
  process(batch: TraceBatch, nowMs: number): number {
    const index = this.index;
    if (index === undefined) return 0;
    const scratch = this.scratch;
    const capture = this.options.capture;
    const tagSpans = this.options.tagSpans !== false;
    let matchedSpans = 0;
    /** Set at the first matching span: the request was received before, and its spans were taken then. */
    let resent = false;
    const resourceSpans = batch.resourceSpans;
    for (let r = 0; r < resourceSpans.length; r++) {
      const rs = resourceSpans[r]!;
      const service = serviceNameOf(rs.resource);
      const view = index.viewFor(service);
      if (view === undefined) continue;
      const resourceAttributes = rs.resource.attributes;
      let version: string | undefined;
      const scopes = rs.scopeSpans;
      for (let s = 0; s < scopes.length; s++) {
        const spans = scopes[s]!.spans;
        for (let i = 0; i < spans.length; i++) {
          const span = spans[i]!;
          const n = index.match(view, span, resourceAttributes, scratch);
          if (n === 0) continue;
          if (matchedSpans === 0) {
            resent = this.seen?.seenBefore(batch) === true;
            // The batch no longer says what its request said: the exporters must encode it (TraceBatch.received).
            if (tagSpans) markChanged(batch);
          }
          if (tagSpans) tag(span, scratch, n);
          matchedSpans++;
          if (resent) continue;
          version ??= versionOf(rs.resource);
          for (let k = 0; k < n; k++) {
            const c = scratch[k]!;
            this.matched[c.journeyOrder]!.inc();
            if (capture === undefined) this.assembler.add(c, span, resourceAttributes, service, version, nowMs);
            else capture.captured(c, span.traceId, captureSpan(c.journey, c.role, span, resourceAttributes, service, version));
          }
        }
      }
    }
    if (tagSpans && matchedSpans > 0) this.metrics.spansTagged.inc(matchedSpans);
    if (resent) this.metrics.resentSpans.inc(matchedSpans);
    return matchedSpans;
  }

  /**
   * Buffers one span matched and captured by another runtime (`options.capture` there), for `journey`, the
   * definition that matched it; `stepName` is `start` or its step's name.
   */
  addCaptured(journey: CompiledJourney, stepName: string, traceId: string, record: SpanRecord, nowMs: number): void {
    this.assembler.addRecord(journey, stepName, traceId, record, nowMs);
  }

  /**
   * Pulse refused spans at `nowMs` for being overloaded: attempts that run out of time incomplete around then
   * wait longer, and are abandoned rather than failed if the refusals go on (see `Assembler.overloaded`).
   */
  overloaded(nowMs: number): void {
    this.assembler.overloaded(nowMs);
  }

  /** Decides attempts whose time has come and closes SLI windows whose lateness has passed. */
  tick(nowMs: number): void {
    this.assembler.tick(nowMs);
    this.sli.tick(nowMs, this.windows);
  }

  /**
   * Decides every pending attempt (`flush`) and closes every SLI window: shutdown or end of input. At shutdown
   * pass `abandon` so attempts still missing a required step are counted, not reported as false failures.
   */
  flush(nowMs: number, incomplete: 'decide' | 'abandon' = 'decide'): void {
    this.assembler.flush(nowMs, incomplete);
    this.sli.flush(this.windows);
  }

  /** Attempts decided since the last call, in decision order. */
  takeAttempts(): AttemptRecord[] {
    const out = this.attempts;
    this.attempts = [];
    return out;
  }

  /** SLI rows emitted since the last call. */
  takeWindows(): SliWindow[] {
    const out = this.windows;
    this.windows = [];
    return out;
  }

  private decided(journey: CompiledJourney, record: AttemptRecord, delayMs: number): void {
    this.metrics.attempt(record);
    this.metrics.decisionDelay(record.decidedBy, delayMs);
    this.sli.add(journey, record);
    if (this.options.keepAttempts) this.attempts.push(record);
  }
}

function versionOf(resource: Resource): string {
  const v = getAttribute(resource.attributes, 'service.version');
  return typeof v === 'string' ? v : '';
}

function tag(span: Span, matched: readonly Candidate[], n: number): void {
  if (n === 1) {
    const c = matched[0]!;
    setSpanAttribute(span, JOURNEY_NAME_ATTRIBUTE, c.journey.name);
    setSpanAttribute(span, JOURNEY_STEP_ATTRIBUTE, c.stepName);
    return;
  }
  const names: AnyValue[] = [];
  const steps: AnyValue[] = [];
  for (let k = 0; k < n; k++) {
    names.push(matched[k]!.journey.name);
    steps.push(matched[k]!.stepName);
  }
  setSpanAttribute(span, JOURNEY_NAME_ATTRIBUTE, names);
  setSpanAttribute(span, JOURNEY_STEP_ATTRIBUTE, steps);
}
