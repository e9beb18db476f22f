/**
 * Test support for the journeys runtime: a tiny builder of `CompiledJourney` objects (own StringMatcher and
 * CompiledCondition implementations, so runtime tests do not depend on the definition compiler), span/batch
 * helpers and a runtime factory with a fresh metrics registry.
 */
import { pino } from 'pino';
import { SpanKind, StatusCode, type AnyValue, type KeyValue, type Span, type TraceBatch } from '../../../../src/core/model.js';
import { MetricsRegistry } from '../../../../src/core/telemetry.js';
import { JourneyMetrics } from '../../../../src/journeys/runtime/metrics.js';
import { JourneyRuntime, type JourneyRuntimeOptions } from '../../../../src/journeys/runtime/journey-runtime.js';
import type { CompiledCondition, CompiledJourney, JourneySnapshot, StringMatcher } from '../../../../src/journeys/model.js';
import { loadJourneyTexts } from '../../../../src/journeys/definition/load.js';
import { BASE_TIME_NS, id, toAttributes } from '../../../support/traces.js';

export const silentLogger = () => pino({ level: 'silent' });

export type MatcherSpec = string | string[] | { regex: string } | undefined;

export function matcher(spec: MatcherSpec): StringMatcher {
  if (spec === undefined) return { source: '*any*', kind: 'any', values: [], matches: () => true };
  if (Array.isArray(spec)) return { source: `[${spec.join(', ')}]`, kind: 'set', values: spec, matches: (v) => spec.includes(v) };
  if (typeof spec === 'object') {
    const re = new RegExp(spec.regex);
    return { source: `/${spec.regex}/`, kind: 'regex', values: [], matches: (v) => re.test(v) };
  }
  if (/[*?]/.test(spec)) {
    const re = new RegExp('^' + spec.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
    return { source: spec, kind: 'glob', values: [], matches: (v) => re.test(v) };
  }
  return { source: spec, kind: 'exact', values: [spec], matches: (v) => v === spec };
}

export type ConditionSpec = AnyValue | { lt: number } | { gte: number } | { exists: boolean };

function num(v: AnyValue | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

export function condition(key: string, spec: ConditionSpec): CompiledCondition {
  if (spec !== null && typeof spec === 'object' && !Array.isArray(spec) && !(spec instanceof Uint8Array) && !('values' in spec)) {
    if ('lt' in spec) return { key, source: `${key} < ${spec.lt}`, test: (v) => (num(v) ?? Infinity) < spec.lt };
    if ('gte' in spec) return { key, source: `${key} >= ${spec.gte}`, test: (v) => (num(v) ?? -Infinity) >= spec.gte };
    return { key, source: `${key} exists`, test: (v) => (v !== undefined) === spec.exists };
  }
  return { key, source: `${key} == ${String(spec)}`, test: (v) => v === spec };
}

export interface SelectorSpec {
  service?: MatcherSpec;
  span?: MatcherSpec;
  kind?: number;
  where?: Record<string, ConditionSpec>;
}

export interface StepSpec extends SelectorSpec {
  name: string;
  required?: boolean;
  maxCalls?: number;
}

export interface JourneySpec {
  name: string;
  start: SelectorSpec;
  steps?: StepSpec[];
  noErrors?: 'journey' | 'start' | 'off';
  successWhere?: Record<string, ConditionSpec>;
  maxDurationMs?: number;
  segments?: Array<string | { name: string; attribute: string }>;
}

function selector(s: SelectorSpec) {
  return {
    service: matcher(s.service),
    span: matcher(s.span),
    kind: s.kind,
    where: Object.entries(s.where ?? {}).map(([k, v]) => condition(k, v)),
  };
}

export function journey(spec: JourneySpec): CompiledJourney {
  return {
    name: spec.name,
    description: '',
    owner: '',
    runbook: '',
    start: selector(spec.start),
    steps: (spec.steps ?? []).map((s, index) => ({
      name: s.name,
      index,
      selector: selector(s),
      required: s.required ?? false,
      maxCalls: s.maxCalls,
    })),
    success: {
      noErrors: spec.noErrors ?? 'journey',
      where: Object.entries(spec.successWhere ?? {}).map(([k, v]) => condition(k, v)),
      maxDurationMs: spec.maxDurationMs,
    },
    segments: (spec.segments ?? []).map((s) => (typeof s === 'string' ? { name: s, attribute: s } : s)),
    objective: { target: 0.995, windowMs: 28 * 86_400_000 },
    source: { file: 'test.yaml', line: 1 },
    spec: {},
  };
}

/** Compiles journey YAML (one or more documents) with the real loader; throws with the issues when it is invalid. */
export function compileYaml(text: string, file = 'journeys.yaml'): CompiledJourney[] {
  const loaded = loadJourneyTexts([{ file, text }]);
  if ('issues' in loaded) throw new Error(loaded.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.message}`).join('\n'));
  return [...loaded.snapshot.journeys];
}

/** The example journey of the issue, verbatim. */
export const CHECKOUT_YAML = `apiVersion: pulse/v1
kind: Journey
metadata:
  name: checkout                       # unique, lowercase [a-z0-9-]
  description: Shopper places an order and sees the confirmation
  owner: team-payments
  runbook: https://runbooks.example.com/checkout
spec:
  start:                               # the span that begins one attempt
    service: frontend                  # resource service.name: string, list, or {regex: ...}
    span: "POST /api/checkout"         # span name: exact, glob ("POST /api/*"), or {regex: ...}
    kind: server                       # optional
    where:                             # optional; every condition must hold
      http.request.method: POST
  steps:                               # optional: spans of the same trace that belong to the attempt
    - name: charge
      service: payments
      span: "charge card"
      required: true                   # absent when the attempt is decided -> failure reason "missing_step:charge"
      max_calls: 1                     # more calls -> signal "duplicate_calls:charge"
    - name: confirm
      service: notifier
      span: { regex: "^send (email|sms)$" }
  success:                             # every rule must hold; each broken rule is a failure reason
    no_errors: journey                 # no span of the attempt (start or steps) has status ERROR; "start" = start span only
    where:
      http.response.status_code: { lt: 500 }   # on the start span
    max_duration: 2s                   # start span duration; longer -> failure reason "slow"
  segments:                            # SLIs are cut by each dimension separately
    - customer.tier                    # looked up on the start span, then its resource, then the attempt's other spans
    - cloud.region
    - { name: release, attribute: service.version }
  objective:
    target: 99.5%                      # share of attempts that succeed
    window: 28d
`;

export function snapshot(journeys: CompiledJourney[], generation = 1): JourneySnapshot {
  return { journeys, byName: new Map(journeys.map((j) => [j.name, j])), generation, loadedAtMs: 0 };
}

/** The checkout journey of the issue, in builder form. */
export function checkoutJourney(overrides: Partial<JourneySpec> = {}): CompiledJourney {
  return journey({
    name: 'checkout',
    start: { service: 'frontend', span: 'POST /api/checkout', kind: SpanKind.SERVER, where: { 'http.request.method': 'POST' } },
    steps: [
      { name: 'charge', service: 'payments', span: 'charge card', required: true, maxCalls: 1 },
      { name: 'confirm', service: 'notifier', span: { regex: '^send (email|sms)$' } },
    ],
    successWhere: { 'http.response.status_code': { lt: 500 } },
    maxDurationMs: 2000,
    segments: ['customer.tier', 'cloud.region', { name: 'release', attribute: 'service.version' }],
    ...overrides,
  });
}

// ---- spans -----------------------------------------------------------------------------------------------------

let nextId = 1;
/** A fresh 8-byte binary span id. */
export function newSpanId(): string {
  return id((nextId++).toString(16).padStart(16, '0'));
}
/** A binary trace id from a small number, readable in failures. */
export function traceId(n: number): string {
  return id(n.toString(16).padStart(32, '0'));
}

export interface SpanSpec {
  trace: string;
  name: string;
  spanId?: string;
  parent?: string;
  kind?: number;
  /** Offset of the start from BASE_TIME_NS, ms. */
  atMs?: number;
  durationMs?: number;
  error?: boolean;
  attributes?: Record<string, AnyValue>;
}

export function span(s: SpanSpec): Span {
  const start = BASE_TIME_NS + BigInt(Math.round((s.atMs ?? 0) * 1e6));
  return {
    traceId: s.trace,
    spanId: s.spanId ?? newSpanId(),
    traceState: '',
    parentSpanId: s.parent ?? '',
    flags: 1,
    name: s.name,
    kind: s.kind ?? SpanKind.INTERNAL,
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(Math.round((s.durationMs ?? 10) * 1e6)),
    attributes: toAttributes(s.attributes ?? {}),
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: s.error === true ? StatusCode.ERROR : StatusCode.UNSET,
    statusMessage: '',
  };
}

/** A batch with one resource per entry: `[{ 'service.name': 'frontend', ... }, [spans]]`. */
export function batch(...resources: Array<[Record<string, AnyValue>, Span[]]>): TraceBatch {
  let spanCount = 0;
  return {
    resourceSpans: resources.map(([attrs, spans]) => {
      spanCount += spans.length;
      return {
        resource: { attributes: toAttributes(attrs), droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: 's', version: '1', attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
        schemaUrl: '',
      };
    }),
    spanCount,
  };
}

export function attr(attributes: readonly KeyValue[], key: string): AnyValue | undefined {
  return attributes.find((kv) => kv.key === key)?.value;
}

/** The checkout flow's spans for one trace: start (frontend), charge (payments), confirm (notifier). */
export function checkoutSpans(trace: string, opts: { tier?: string; chargeError?: boolean; status?: bigint; durationMs?: number } = {}) {
  const start = span({
    trace,
    name: 'POST /api/checkout',
    kind: SpanKind.SERVER,
    durationMs: opts.durationMs ?? 120,
    attributes: {
      'http.request.method': 'POST',
      'http.response.status_code': opts.status ?? 200n,
      ...(opts.tier !== undefined ? { 'customer.tier': opts.tier } : {}),
    },
  });
  const charge = span({ trace, name: 'charge card', parent: start.spanId, atMs: 10, durationMs: 50, error: opts.chargeError ?? false });
  const confirm = span({ trace, name: 'send email', parent: start.spanId, atMs: 70, durationMs: 20 });
  return { start, charge, confirm };
}

export const FRONTEND = { 'service.name': 'frontend', 'service.version': '5.0.1', 'cloud.region': 'eu-west-1' };
export const PAYMENTS = { 'service.name': 'payments', 'service.version': '2.8.0' };
export const NOTIFIER = { 'service.name': 'notifier', 'service.version': '7.1.0' };

export const DEFAULT_OPTIONS: JourneyRuntimeOptions = {
  traceWaitMs: 10_000,
  settleDelayMs: 500,
  maxPendingAttempts: 100_000,
  keepAttempts: true,
  sli: { windowMs: 10_000, allowedLatenessMs: 12_000, maxSegmentValues: 100 },
};

export function makeRuntime(journeys: CompiledJourney[], options: Partial<JourneyRuntimeOptions> = {}) {
  const registry = new MetricsRegistry();
  const metrics = new JourneyMetrics(registry, 'journeys');
  const runtime = new JourneyRuntime({ ...DEFAULT_OPTIONS, ...options }, metrics);
  runtime.setJourneys(journeys);
  return { runtime, registry, metric: (name: string, labels: Record<string, string> = {}) => registry.find(name)?.get({ connector: 'journeys', ...labels }) ?? 0 };
}
