/**
 * The journey contracts shared by the definition loader, the runtime (matching, assembly, SLI windows), the
 * journeys connector, the `journeys test` command and, later, SLO evaluation.
 *
 * A journey file is loaded and validated once, then *compiled* into a `CompiledJourney`: matchers and conditions
 * become ready-to-run objects, so the data plane never re-reads YAML or re-parses a pattern. All compiled
 * journeys of a directory form one immutable `JourneySnapshot`; a reload builds a new snapshot and swaps it in
 * atomically, and every consumer reads whichever snapshot it holds.
 */
import type { AnyValue } from '../core/model.js';

/** A compiled test of one string (service name, span name). Built once at load; `matches` allocates nothing. */
export interface StringMatcher {
  /** How it was written, for messages and `journeys test` output: `frontend`, `[a, b]`, `POST /api/*`, `/^send (email|sms)$/`. */
  readonly source: string;
  /** `exact` and `set` can be indexed by value; `glob` and `regex` are checked one by one; `any` matches all. */
  readonly kind: 'exact' | 'set' | 'glob' | 'regex' | 'any';
  /** The exact values, for `exact` (one) and `set`; empty otherwise. Matchers indexes these. */
  readonly values: readonly string[];
  matches(value: string): boolean;
}

/** One compiled `where` condition on an attribute. */
export interface CompiledCondition {
  readonly key: string;
  /** How it was written, e.g. `http.response.status_code < 500`; failure reasons use it. */
  readonly source: string;
  /** `value` is the attribute's value or `undefined` when the attribute is absent. */
  test(value: AnyValue | undefined): boolean;
}

/** What selects a span: resource `service.name`, span name, optional kind, and attribute conditions. */
export interface SpanSelector {
  readonly service: StringMatcher;
  readonly span: StringMatcher;
  /** OTLP SpanKind number, or `undefined` for any kind. */
  readonly kind: number | undefined;
  /** Every condition must hold; looked up on the span's attributes, then its resource's. */
  readonly where: readonly CompiledCondition[];
}

export interface CompiledStep {
  readonly name: string;
  /** Position in `steps` (0-based). */
  readonly index: number;
  readonly selector: SpanSelector;
  /** When true, an attempt decided without this step fails with reason `missing_step:<name>`. */
  readonly required: boolean;
  /** More calls than this → signal `duplicate_calls:<name>`; `undefined` = unlimited. */
  readonly maxCalls: number | undefined;
}

export interface SuccessRules {
  /** `journey`: no span of the attempt has status ERROR; `start`: the start span only; `off`: not checked. */
  readonly noErrors: 'journey' | 'start' | 'off';
  /** Conditions on the start span; each broken one is a failure reason `where:<source>`. */
  readonly where: readonly CompiledCondition[];
  /** Start span duration above this → failure reason `slow`. */
  readonly maxDurationMs: number | undefined;
}

export interface SegmentDimension {
  /** The dimension's name in SLI rows (`customer.tier`, or `release` for `{ name: release, attribute: service.version }`). */
  readonly name: string;
  /** The attribute looked up: start span, then its resource, then the attempt's other spans. */
  readonly attribute: string;
}

export interface Objective {
  /** Share of attempts that must succeed, 0..1 (`99.5%` → 0.995). */
  readonly target: number;
  readonly windowMs: number;
}

export interface CompiledJourney {
  readonly name: string;
  readonly description: string;
  readonly owner: string;
  readonly runbook: string;
  readonly start: SpanSelector;
  readonly steps: readonly CompiledStep[];
  readonly success: SuccessRules;
  readonly segments: readonly SegmentDimension[];
  readonly objective: Objective;
  /** Where it was defined, for messages. */
  readonly source: { readonly file: string; readonly line: number };
  /** The validated document as parsed (with defaults), for parts compiled elsewhere (alert rules). */
  readonly spec: unknown;
}

export interface JourneySnapshot {
  readonly journeys: readonly CompiledJourney[];
  readonly byName: ReadonlyMap<string, CompiledJourney>;
  /** Increases by one with every successful (re)load. */
  readonly generation: number;
  readonly loadedAtMs: number;
}

/** A service and the `service.version` seen for it within one attempt. */
export interface ServiceVersion {
  readonly service: string;
  readonly version: string;
}

/** One matched span of an attempt, for drill-down and `journeys test`. */
export interface AttemptSpan {
  /** `start` or a step name. */
  readonly step: string;
  readonly spanId: string;
  readonly service: string;
  readonly version: string;
  readonly statusCode: number;
  readonly durationMs: number;
}

/**
 * One decided journey attempt. Times are span (event) time, never arrival time. Flows on the `attempts` signal
 * to ClickHouse, SLO evaluation (suspects) and debug.
 */
export interface AttemptRecord {
  readonly journey: string;
  /** Binary trace id (see core/model.ts); `idToHex` for display. */
  readonly traceId: string;
  readonly startSpanId: string;
  readonly startTimeUnixNano: bigint;
  /** Start span duration. */
  readonly durationMs: number;
  readonly outcome: 'success' | 'failure';
  /** Empty on success; e.g. `error:charge`, `missing_step:charge`, `slow`, `where:http.response.status_code < 500`. */
  readonly reasons: readonly string[];
  /** Things worth knowing that do not fail the attempt, e.g. `duplicate_calls:charge`. */
  readonly signals: readonly string[];
  /** Segment dimension name → value; a dimension with no value is absent. */
  readonly segments: Readonly<Record<string, string>>;
  readonly services: readonly ServiceVersion[];
  /** The first step (in definition order) that failed, when one did. */
  readonly failingStep: { readonly step: string; readonly service: string; readonly version: string } | undefined;
  readonly spans: readonly AttemptSpan[];
  /** Why it was decided when it was: all required parts seen, `trace_wait` ran out, evicted by the memory bound, or flushed at shutdown/end of input. */
  readonly decidedBy: 'complete' | 'timeout' | 'evicted' | 'flush';
  /** Wall-clock time of the decision (ms since epoch). */
  readonly decidedAtMs: number;
}

/**
 * One SLI window row: journey × segment dimension × segment value × window, by event time. Rows are partial:
 * several instances, late data and re-emitted windows each produce a row, and readers sum them.
 */
export interface SliWindow {
  readonly journey: string;
  /** Window start, ms since epoch (event time), aligned to `windowSeconds`. */
  readonly windowStartMs: number;
  readonly windowSeconds: number;
  /** `''` for the all-traffic row. */
  readonly segmentKey: string;
  /** `''` for the all-traffic row; `__other__` for values folded by the cardinality guard. */
  readonly segmentValue: string;
  readonly attempts: number;
  readonly successes: number;
  readonly failures: number;
  /**
   * Attempts that started in this window and that Pulse dropped undecided (not in `attempts`): still missing a
   * required step while Pulse refused spans for overload through their extended waits, or when it stopped or
   * reloaded. Their outcome is unknown: a share of the window's traffic the other counts do not describe.
   */
  readonly abandoned: number;
  readonly failuresByReason: Readonly<Record<string, number>>;
  /** Upper bounds (ms) of the latency buckets: the same fixed exponential list for every row, so rows sum. */
  readonly latencyBoundsMs: readonly number[];
  /** One count per bound, plus a last count for values above the largest bound. */
  readonly latencyCounts: readonly number[];
  readonly latencySumMs: number;
}
