/**
 * The compact copy of one journey-relevant span that the assembler buffers while an attempt is pending.
 *
 * The batch a span arrived in is forwarded downstream at once and must not be retained, so the assembler never
 * keeps a `Span` (or its attribute list): it copies the few fields a decision needs. Strings and bigints are
 * immutable primitives, so sharing them with the batch keeps nothing of the batch alive. What the success rules
 * and segments need from attributes is evaluated here, once, at capture: failed `success.where` conditions
 * (start span only) and the segment values as text.
 */
import { getAttribute, type AnyValue, type KeyValue, type Span } from '../../core/model.js';
import type { CompiledJourney } from '../model.js';
import { START_ROLE } from './matcher-index.js';

const NO_FAILURES: readonly string[] = [];

export class SpanRecord {
  constructor(
    readonly spanId: string,
    readonly parentSpanId: string,
    /** `START_ROLE` (-1) or the step index in the journey the attempt was started with. */
    readonly role: number,
    readonly startNs: bigint,
    readonly endNs: bigint,
    readonly statusCode: number,
    readonly service: string,
    readonly version: string,
    /** Segment values as text, by dimension index of the journey; `undefined` when the span has none of them. */
    readonly segments: ReadonlyArray<string | undefined> | undefined,
    /** Start span only: the `source` of each `success.where` condition that does not hold. */
    readonly whereFailures: readonly string[],
  ) {}
}

/** Copies what `journey`'s decision needs from `span` (whose resource has `resourceAttributes`). */
export function captureSpan(
  journey: CompiledJourney,
  role: number,
  span: Span,
  resourceAttributes: readonly KeyValue[],
  service: string,
  version: string,
): SpanRecord {
  let segments: Array<string | undefined> | undefined;
  const dims = journey.segments;
  for (let i = 0; i < dims.length; i++) {
    const text = valueText(lookup(span.attributes, resourceAttributes, dims[i]!.attribute));
    if (text === undefined) continue;
    segments ??= new Array<string | undefined>(dims.length).fill(undefined);
    segments[i] = text;
  }
  let whereFailures = NO_FAILURES;
  if (role === START_ROLE) {
    const where = journey.success.where;
    for (let i = 0; i < where.length; i++) {
      const cond = where[i]!;
      if (cond.test(lookup(span.attributes, resourceAttributes, cond.key))) continue;
      if (whereFailures === NO_FAILURES) whereFailures = [];
      (whereFailures as string[]).push(cond.source);
    }
  }
  return new SpanRecord(
    span.spanId,
    span.parentSpanId,
    role,
    span.startTimeUnixNano,
    span.endTimeUnixNano,
    span.statusCode,
    service,
    version,
    segments,
    whereFailures,
  );
}

/** An attribute of the span, else of its resource. */
function lookup(spanAttributes: readonly KeyValue[], resourceAttributes: readonly KeyValue[], key: string): AnyValue | undefined {
  const v = getAttribute(spanAttributes, key);
  return v === undefined ? getAttribute(resourceAttributes, key) : v;
}

/**
 * A segment value as text: strings as they are, booleans `true`/`false`, integers in decimal, doubles as JS
 * prints them, bytes in hex, arrays and maps as compact JSON-like text. An absent or empty (`null`) value has no
 * text, so the dimension stays unset for this span.
 */
export function valueText(v: AnyValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  return JSON.stringify(jsonable(v));
}

function jsonable(v: AnyValue): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? String(v) : v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(jsonable);
  const out: Record<string, unknown> = {};
  for (const kv of v.values) out[kv.key] = jsonable(kv.value);
  return out;
}
