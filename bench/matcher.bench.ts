/**
 * The journey matcher on its own (src/journeys/runtime/matcher-index.ts): `viewFor` once per ResourceSpans, then
 * `match` for every span, exactly as the runtime calls it, against one compiled index. No tagging, no assembly.
 * Run: `npx vitest bench --run bench/matcher.bench.ts`.
 *
 * Reading the numbers: every bench name says how many spans one iteration matches; ns per span = 1e9 / hz / spans.
 *
 * - The batch is the realistic 500-span request (5 services × 100 spans) with every third trace renamed into an
 *   attempt until 20% of the spans are starts and steps (bench/fixtures.ts). Every service has journeys, so every
 *   span costs a lookup.
 * - "matching only" / "non-matching only" are the same spans split in two batches (same resources), so the cost of
 *   a span that matches (candidates' kind and `where` checks, start spans' attribute lookups) and of one that does
 *   not (one Map.get) can be read apart; "mixed" is the whole batch.
 * - "glob" journeys have a pattern step, so every view memoises span names (the worst normal case); "exact" ones
 *   have exact names only (one Map.get, no memo). "50 journeys" puts 10 journeys with 10 patterns in every view.
 * - "memo exhausted": the index's name memo budget (MAX_MEMOISED_NAMES, shared by all views) was used up by a flood
 *   of distinct span names before the batch was first seen, so each of its names is resolved pattern by pattern on
 *   every span (the degraded mode under unbounded span-name cardinality).
 *
 * State: an index only caches service views and memoised names, both bounded, and the spans are not modified, so
 * iterations are independent after the first (which the warm-up absorbs).
 */
import { bench, describe } from 'vitest';
import { serviceNameOf, type Span, type TraceBatch } from '../src/core/model.js';
import type { CompiledJourney } from '../src/journeys/model.js';
import { MAX_MEMOISED_NAMES, MatcherIndex, type Candidate } from '../src/journeys/runtime/matcher-index.js';
import { makeSpan } from '../tests/support/traces.js';
import { FIFTY, FIVE, FIVE_EXACT, filterBatch, makeJourneyBatch, matchBatch } from './fixtures.js';

const { batch: mixed, relevantSpans } = makeJourneyBatch(3, 0.2);
const matchedSpans = new Set<Span>(matchBatch(FIVE, mixed).map((m) => m.span));
if (matchedSpans.size !== relevantSpans) throw new Error(`fixture: ${matchedSpans.size} spans match, expected ${relevantSpans}`);
const matchingOnly = filterBatch(mixed, (s) => matchedSpans.has(s));
const nonMatchingOnly = filterBatch(mixed, (s) => !matchedSpans.has(s));

/** The runtime's matching loop without tagging or assembly; returns the matches so nothing is optimised away. */
function matchAll(index: MatcherIndex, batch: TraceBatch, scratch: Candidate[]): number {
  let matches = 0;
  const resourceSpans = batch.resourceSpans;
  for (let r = 0; r < resourceSpans.length; r++) {
    const rs = resourceSpans[r]!;
    const view = index.viewFor(serviceNameOf(rs.resource));
    if (view === undefined) continue;
    const resourceAttributes = rs.resource.attributes;
    const scopes = rs.scopeSpans;
    for (let s = 0; s < scopes.length; s++) {
      const spans = scopes[s]!.spans;
      for (let i = 0; i < spans.length; i++) matches += index.match(view, spans[i]!, resourceAttributes, scratch);
    }
  }
  return matches;
}

/** An index whose name memo is used up: MAX_MEMOISED_NAMES distinct names none of the batches use, spread over the services. */
function exhaustedIndex(journeys: CompiledJourney[]): MatcherIndex {
  const index = MatcherIndex.build(journeys);
  const scratch: Candidate[] = [];
  const views = mixed.resourceSpans.map((rs) => ({ view: index.viewFor(serviceNameOf(rs.resource))!, attrs: rs.resource.attributes }));
  const probe = makeSpan();
  for (let n = 0; n < MAX_MEMOISED_NAMES; n++) {
    const { view, attrs } = views[n % views.length]!;
    probe.name = `flood ${n}`;
    index.match(view, probe, attrs, scratch);
  }
  return index;
}

/** One bench: `expected` matches per iteration is checked once up front, so a fixture drift cannot go unnoticed. */
function matchBench(name: string, index: MatcherIndex, batch: TraceBatch, expected: number): void {
  const scratch: Candidate[] = [];
  const got = matchAll(index, batch, scratch);
  if (got !== expected) throw new Error(`${name}: ${got} matches per batch, expected ${expected}`);
  // match() writes into `scratch` and the index memoises names: side effects the JIT cannot drop.
  bench(`${name} — ${batch.spanCount} spans/iteration`, () => {
    matchAll(index, batch, scratch);
  });
}

describe(`journey matcher, realistic batch (${relevantSpans} of ${mixed.spanCount} spans match)`, () => {
  const five = MatcherIndex.build(FIVE);
  matchBench('5 journeys (glob), mixed', five, mixed, relevantSpans);
  matchBench('5 journeys (glob), matching only', five, matchingOnly, relevantSpans);
  matchBench('5 journeys (glob), non-matching only', five, nonMatchingOnly, 0);

  const exact = MatcherIndex.build(FIVE_EXACT);
  matchBench('5 journeys (exact names), mixed', exact, mixed, relevantSpans);
  matchBench('5 journeys (exact names), non-matching only', exact, nonMatchingOnly, 0);

  const fifty = MatcherIndex.build(FIFTY);
  matchBench('50 journeys (glob), mixed', fifty, mixed, relevantSpans);
  matchBench('50 journeys (glob), non-matching only', fifty, nonMatchingOnly, 0);

  matchBench('5 journeys (glob), memo exhausted, mixed', exhaustedIndex(FIVE), mixed, relevantSpans);
  matchBench('50 journeys (glob), memo exhausted, mixed', exhaustedIndex(FIFTY), mixed, relevantSpans);
});
