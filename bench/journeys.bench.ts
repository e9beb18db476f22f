/**
 * The journeys data plane on realistic batches (5 services × 100 spans, ~8 attributes per span).
 * Run: `npx vitest bench --run bench/journeys.bench.ts`.
 *
 * - "non-matching": 5 journeys of 3 steps loaded, every service of the batch has journeys (so every span costs a
 *   lookup), no span matches. ns per span = 1e9 / hz / 500. The 50-journey variant shows the cost does not grow.
 * - "20% relevant": some traces renamed so that 20% of the spans are starts and steps. Trace ids are re-stamped per
 *   iteration (new attempts every time) and the clock advances 100 ms per iteration with a tick, so assembly,
 *   early decisions and SLI aggregation are all included. µs per journey span ≈
 *   (1e6 / hz − 400 × non-matching cost) / 100.
 * - Bytes per pending attempt are measured once at load (heap delta over 100k attempts of start + 2 steps, after a
 *   forced GC) and printed.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { bench, describe } from 'vitest';
import { SpanKind, type Span, type TraceBatch } from '../src/core/model.js';
import type { CompiledJourney } from '../src/journeys/model.js';
import type { JourneyRuntime } from '../src/journeys/runtime/journey-runtime.js';
import { makeRuntime } from '../tests/unit/journeys/runtime/support.js';
import { makeRealisticBatch, toAttributes } from '../tests/support/traces.js';
import { FIFTY, FIVE, freshTraceId, makeJourneyBatch } from './fixtures.js';

function runtimeWith(journeys: CompiledJourney[]): JourneyRuntime {
  return makeRuntime(journeys, { maxPendingAttempts: 200_000 }).runtime;
}

// ---- batches -----------------------------------------------------------------------------------------------

const nonMatching = makeRealisticBatch();

/** Every third trace renamed (root → start, children → steps a, b, c) until 20% of the spans are relevant. */
const { batch: relevant, traces: relevantTraces, relevantSpans } = makeJourneyBatch(3, 0.2);

// ---- bytes per pending attempt -----------------------------------------------------------------------------

function measureBytesPerPendingAttempt(attempts: number): number | undefined {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return undefined;
  const runtime = runtimeWith(FIVE);
  const make = (n: number): TraceBatch => {
    // Start + 2 steps per attempt, 1000 attempts per batch, in the frontend service (journey-3).
    const spans: Span[] = [];
    for (let i = 0; i < 1000; i++) {
      const a = n * 1000 + i;
      const traceId = String.fromCharCode(7, 7, 7, 7, 7, 7, 7, 7, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255, 1, 1, 1, 1);
      const root = relevantTraces[0]![0]!;
      const startId = String.fromCharCode(1, 1, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255, 1, 1);
      spans.push({ ...root, traceId, spanId: startId, name: 'POST /api/j3', kind: SpanKind.SERVER, attributes: toAttributes({ 'http.request.method': 'POST', 'http.response.status_code': 200n, 'customer.tier': 'pro' }) });
      spans.push({ ...root, traceId, spanId: String.fromCharCode(2, 2, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255, 2, 2), parentSpanId: startId, name: 'j3 step a', kind: SpanKind.INTERNAL, attributes: [] });
      spans.push({ ...root, traceId, spanId: String.fromCharCode(3, 3, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255, 3, 3), parentSpanId: startId, name: 'j3 step b', kind: SpanKind.INTERNAL, attributes: [] });
    }
    return {
      resourceSpans: [
        {
          resource: { attributes: toAttributes({ 'service.name': 'frontend', 'service.version': '5.0.1', 'cloud.region': 'eu-west-1' }), droppedAttributesCount: 0 },
          scopeSpans: [{ scope: { name: 's', version: '1', attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
          schemaUrl: '',
        },
      ],
      spanCount: spans.length,
    };
  };
  // Warm up so that lazily allocated structures (view cache, metric series) are not counted.
  runtime.process(make(999_999), 0);
  runtime.flush(1);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let n = 0; n < attempts / 1000; n++) runtime.process(make(n), 1000);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (runtime.pendingAttempts !== attempts) throw new Error(`expected ${attempts} pending attempts, have ${runtime.pendingAttempts}`);
  return (after - before) / attempts;
}

const bytes = measureBytesPerPendingAttempt(100_000);
console.log(
  `journeys bench: ${relevantSpans}/${relevant.spanCount} spans journey-relevant (${((100 * relevantSpans) / relevant.spanCount).toFixed(1)}%); ` +
    `bytes per pending attempt (start + 2 steps, 3 segments): ${bytes === undefined ? 'n/a (no gc)' : bytes.toFixed(0)}`,
);

// ---- benches -----------------------------------------------------------------------------------------------

describe(`journeys data plane, ${nonMatching.spanCount}-span realistic batch`, () => {
  const five = runtimeWith(FIVE);
  const fifty = runtimeWith(FIFTY);
  const none = runtimeWith([]);

  bench('no journeys loaded (floor)', () => {
    none.process(nonMatching, 0);
  });

  bench('5 journeys × 3 steps, no span matches', () => {
    five.process(nonMatching, 0);
  });

  bench('50 journeys × 3 steps, no span matches', () => {
    fifty.process(nonMatching, 0);
  });

  const assembling = runtimeWith(FIVE);
  let traceCounter = 0;
  let now = 1_000_000;
  bench(`5 journeys × 3 steps, ${relevantSpans} of ${relevant.spanCount} spans match (match + tag + assemble + decide + SLI)`, () => {
    for (let t = 0; t < relevantTraces.length; t++) {
      const spans = relevantTraces[t]!;
      const id = freshTraceId(++traceCounter);
      for (let k = 0; k < spans.length; k++) spans[k]!.traceId = id;
    }
    now += 100;
    assembling.process(relevant, now);
    assembling.tick(now);
    assembling.takeAttempts();
    assembling.takeWindows();
  });
});
