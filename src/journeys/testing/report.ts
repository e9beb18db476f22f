/**
 * The `pulse journeys test` report: what `--format json` prints, and what the text renderer reads. A stable,
 * JSON-safe shape — ids in hex, span times as decimal strings (nanoseconds) or ISO 8601 text, no bigints, no
 * binary strings. Documented for users in src/journeys/README.md ("Testing an edit").
 */
import type { AttemptRecord } from '../model.js';
import type { TraceFileSummary } from './trace-files.js';

/** One span as the report shows it. */
export interface SpanReport {
  /** `start` or the step name it matched. */
  readonly step: string;
  readonly name: string;
  readonly service: string;
  /** Resource `service.version`; `''` when absent. */
  readonly version: string;
  readonly spanId: string;
  /** `''` for a root span. */
  readonly parentSpanId: string;
  readonly kind: string;
  readonly status: 'unset' | 'ok' | 'error';
  readonly statusMessage: string;
  readonly durationMs: number;
  /** `file:line` of the request that held it. */
  readonly at: string;
}

export interface AttemptReport {
  readonly journey: string;
  readonly outcome: 'success' | 'failure';
  readonly reasons: readonly string[];
  readonly signals: readonly string[];
  readonly failingStep: { readonly step: string; readonly service: string; readonly version: string } | null;
  readonly segments: Readonly<Record<string, string>>;
  /** Start span duration. */
  readonly durationMs: number;
  /** Start span start, ISO 8601 (ms precision) and exact nanoseconds as a decimal string. */
  readonly startTime: string;
  readonly startTimeUnixNano: string;
  /** `complete`: the start and every required step were seen; `flush`: decided at the end of the input without them. */
  readonly decidedBy: AttemptRecord['decidedBy'];
  readonly services: readonly { readonly service: string; readonly version: string }[];
  readonly start: SpanReport;
  /** In definition order, then by start time. */
  readonly steps: readonly SpanReport[];
}

export interface UnmatchedSpanReport extends SpanReport {
  readonly journey: string;
  /** Why it is in no attempt. */
  readonly reason: string;
}

export interface TraceReport {
  readonly traceId: string;
  readonly attempts: readonly AttemptReport[];
  /** Spans tagged for a journey that are part of none of its attempts (e.g. a step whose start is not in the input). */
  readonly unmatchedJourneySpans: readonly UnmatchedSpanReport[];
}

export interface SegmentValueCounts {
  readonly attempts: number;
  readonly successes: number;
  readonly failures: number;
}

export interface JourneySummary {
  readonly journey: string;
  readonly attempts: number;
  readonly successes: number;
  readonly failures: number;
  readonly failuresByReason: Readonly<Record<string, number>>;
  readonly signals: Readonly<Record<string, number>>;
  readonly unmatchedSpans: number;
  /** Dimension → value → counts; attempts without a value for a dimension are not counted under it. */
  readonly segments: Readonly<Record<string, Readonly<Record<string, SegmentValueCounts>>>>;
}

export interface TestSummary {
  /** Distinct trace ids in the input. */
  readonly traces: number;
  readonly tracesWithJourneySpans: number;
  readonly spans: number;
  /** Spans matched by at least one journey. */
  readonly journeySpans: number;
  readonly attempts: number;
  readonly successes: number;
  readonly failures: number;
  readonly unmatchedJourneySpans: number;
  /** Spans seen again with a span id already seen in their trace (a recording holding a request twice); ignored. */
  readonly duplicateSpans: number;
  /** Spans that carried `journey.*` tags in the recording (removed before matching). */
  readonly retaggedSpans: number;
  readonly journeys: readonly JourneySummary[];
}

export interface TestNote {
  readonly journey: string;
  readonly kind: 'no_attempts' | 'step_never_matched' | 'segment_never_set';
  readonly message: string;
}

export interface EvaluationResult {
  /** Traces holding at least one journey span, in order of first appearance. */
  readonly traces: readonly TraceReport[];
  readonly notes: readonly TestNote[];
  readonly summary: TestSummary;
}

/** The whole `journeys test` result (`--format json` prints it as is). */
export interface JourneyTestReport extends EvaluationResult {
  readonly valid: true;
  /** The definitions tested: the path given, the files read, the journeys in snapshot order. */
  readonly journeys: { readonly path: string; readonly files: readonly string[]; readonly names: readonly string[] };
  readonly inputs: readonly TraceFileSummary[];
  /** Definition warnings and input warnings (spans left out), each `file:line[:col]: warning: …`. */
  readonly warnings: readonly string[];
}
