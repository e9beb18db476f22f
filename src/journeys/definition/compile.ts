/**
 * Turns validated journey documents (schema.ts output) into the ready-to-run `CompiledJourney` objects of
 * ../model.ts, and a set of them into an immutable `JourneySnapshot`. Everything here runs once per (re)load;
 * nothing is compiled lazily on the data path. Input must have passed load.ts (regexes already checked): a
 * problem found here is a bug and throws.
 */
import { SpanKind } from '../../core/model.js';
import { FrozenMap, deepFreeze } from '../../config/frozen.js';
import type { CompiledJourney, CompiledStep, JourneySnapshot, Objective, SegmentDimension, SpanSelector, SuccessRules } from '../model.js';
import { compileWhere } from './conditions.js';
import { compileNamePattern } from './matchers.js';
import type { JourneyDocument, SegmentSpec, SelectorSpec, SpanKindName } from './schema.js';

const KIND_NUMBER: Record<SpanKindName, number> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

export function compileSelector(spec: SelectorSpec): SpanSelector {
  return Object.freeze({
    service: compileNamePattern(spec.service),
    span: compileNamePattern(spec.span),
    kind: spec.kind === undefined ? undefined : KIND_NUMBER[spec.kind],
    where: compileWhere(spec.where),
  });
}

export function segmentDimension(spec: SegmentSpec): SegmentDimension {
  if (typeof spec === 'string') return Object.freeze({ name: spec, attribute: spec });
  return Object.freeze({ name: spec.name ?? spec.attribute, attribute: spec.attribute });
}

/** Where a journey was defined: its file (as the user named it) and the line of its document. */
export interface JourneySource {
  readonly file: string;
  readonly line: number;
}

export function compileJourney(doc: JourneyDocument, source: JourneySource): CompiledJourney {
  const { metadata, spec } = doc;
  const steps: CompiledStep[] = spec.steps.map((step, index) =>
    Object.freeze({
      name: step.name,
      index,
      selector: compileSelector(step),
      required: step.required,
      maxCalls: step.max_calls,
    }),
  );
  const success: SuccessRules = Object.freeze({
    noErrors: spec.success.no_errors,
    where: compileWhere(spec.success.where),
    maxDurationMs: spec.success.max_duration,
  });
  const objective: Objective = Object.freeze({ target: spec.objective.target, windowMs: spec.objective.window });
  return Object.freeze({
    name: metadata.name,
    description: metadata.description,
    owner: metadata.owner,
    runbook: metadata.runbook,
    start: compileSelector(spec.start),
    steps: Object.freeze(steps),
    success,
    segments: Object.freeze(spec.segments.map(segmentDimension)),
    objective,
    source: Object.freeze({ file: source.file, line: source.line }),
    spec: deepFreeze(doc),
  });
}

/** An immutable snapshot of `journeys` (names must be unique: load.ts has checked). */
export function buildSnapshot(journeys: readonly CompiledJourney[], generation: number, loadedAtMs: number = Date.now()): JourneySnapshot {
  return Object.freeze({
    journeys: Object.freeze([...journeys]),
    byName: new FrozenMap(journeys.map((j) => [j.name, j] as const)),
    generation,
    loadedAtMs,
  });
}

/** The snapshot a store holds before its first load: no journeys, generation 0. */
export const EMPTY_SNAPSHOT: JourneySnapshot = buildSnapshot([], 0, 0);
