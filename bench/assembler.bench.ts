/**
 * Attempt assembly on its own (src/journeys/runtime/assembler.ts): `add` for spans already matched (candidate +
 * resource context, found once at load by the real matcher), then `tick` to decide them. No matching, tagging,
 * metrics or SLI windows: the decided records are only counted.
 * Run: `npx vitest bench --run bench/assembler.bench.ts`.
 *
 * Reading the numbers: every bench name says how many attempts (and spans) one iteration assembles and decides;
 * ns per attempt = 1e9 / hz / attempts. Subtract the "floor" bench (re-stamping trace ids, which every iteration
 * does) first if you want the assembler alone.
 *
 * - Input: the realistic 500-span batch with every trace renamed into an attempt of its service's journey (start
 *   + up to 3 steps, step a required; bench/fixtures.ts), in batch order (start first, as an SDK usually sends a
 *   service's spans). Each iteration gives every attempt a fresh trace id, so every iteration creates new groups
 *   (never the late-span or duplicate path).
 * - "complete → settle": all attempts are complete on arrival and decided by the settle delay
 *   (`decidedBy: complete`): add + completeness bitmask + settle queue + buildAttempts + remembering the decided
 *   key. Options are the connector's defaults (trace_wait 10s, settle_delay 500ms, max_pending_attempts 100000)
 *   unless the name says otherwise.
 * - "50k waiting": the same, while 50,000 incomplete attempts (start only, required step missing, all of
 *   journey-0) wait in the same assembler, so the pending map and queues are large and every lookup and insert
 *   runs against a big table. They must not time out while the bench runs, hence "trace_wait ∞"; compare with
 *   the "empty, trace_wait ∞" bench of the same decided-keys bound.
 * - "decided-keys 1k": `maxRecentDecided: 1000` instead of the default max(1000, max_pending_attempts). The
 *   decided-keys set is a Map used as a FIFO (oldest key found with `keys().next()`); at 100k entries that call
 *   dominates everything else, so these benches show what the rest of the assembler costs.
 * - "incomplete → timeout": the same attempts without step a, decided when trace_wait runs out
 *   (`decidedBy: timeout`, reason `missing_step:a`).
 *
 * State: every iteration decides everything it added, so the pending map returns to its starting size (checked
 * per iteration, with the number decided). The decided-keys set is filled to its bound before measuring, so the
 * numbers are steady state. With trace_wait ∞ the wait-queue entries of attempts decided early stay until `tick`
 * compacts the queue at 2 × max_pending_attempts + 1024 entries; that amortised O(queue) compaction, and the GC
 * work of the groups those entries keep alive, are included (they show in max/p999).
 */
import { bench, describe } from 'vitest';
import type { Span } from '../src/core/model.js';
import type { AttemptRecord, CompiledJourney } from '../src/journeys/model.js';
import { Assembler, type AssemblerEvents, type AssemblerOptions } from '../src/journeys/runtime/assembler.js';
import { START_ROLE } from '../src/journeys/runtime/matcher-index.js';
import { FIVE, freshTraceId, makeJourneyBatch, matchBatch, type MatchedSpan } from './fixtures.js';

const jb = makeJourneyBatch(1, 1);
const matched = matchBatch(FIVE, jb.batch);

/** The matched spans grouped by trace (one attempt each), in batch order. */
function byTrace(spans: readonly MatchedSpan[]): MatchedSpan[][] {
  const groups = new Map<string, MatchedSpan[]>();
  for (const m of spans) {
    let g = groups.get(m.span.traceId);
    if (!g) groups.set(m.span.traceId, (g = []));
    g.push(m);
  }
  return [...groups.values()];
}

const complete = byTrace(matched);
/** The same attempts without their required step a (role 0): they can only be decided by timeout. */
const incomplete = byTrace(matched.filter((m) => m.candidate.role !== 0));
const ATTEMPTS = complete.length;
const COMPLETE_SPANS = matched.length;
const INCOMPLETE_SPANS = incomplete.reduce((n, g) => n + g.length, 0);
if (jb.attempts !== ATTEMPTS || incomplete.length !== ATTEMPTS) throw new Error(`fixture: ${ATTEMPTS} attempts, expected ${jb.attempts}`);

const WAITING = 50_000;
const MAX_PENDING = 100_000;
/** "trace_wait ∞": nothing added before measuring times out while the benches run (≪ 1e6 iterations × 501 ms). */
const LONG_WAIT_MS = 1e10;

/** Counts what the assembler reports; anything but `decided` would mean the fixture is off. */
class Counting implements AssemblerEvents {
  decidedCount = 0;
  complete = 0;
  timeout = 0;
  other = 0;
  decided(_journey: CompiledJourney, record: AttemptRecord): void {
    this.decidedCount++;
    if (record.decidedBy === 'complete') this.complete++;
    else if (record.decidedBy === 'timeout') this.timeout++;
  }
  orphanSteps(): void {
    this.other++;
  }
  abandoned(): void {
    this.other++;
  }
  abandonedAttempt(): void {
    this.other++;
  }
  waitExtended(): void {
    this.other++;
  }
  lateSpan(): void {
    this.other++;
  }
  evicted(): void {
    this.other++;
  }
  duplicateSpan(): void {
    this.other++;
  }
  overflowSpan(): void {
    this.other++;
  }
}

let idCounter = 0;
/** Gives every attempt of `groups` a new trace id; `tag` keeps each assembler's ids apart. */
function restamp(groups: readonly MatchedSpan[][], tag: number): void {
  for (let t = 0; t < groups.length; t++) {
    const id = freshTraceId(++idCounter, tag);
    const g = groups[t]!;
    for (let k = 0; k < g.length; k++) g[k]!.span.traceId = id;
  }
}

function addAll(assembler: Assembler, groups: readonly MatchedSpan[][], now: number): void {
  for (let t = 0; t < groups.length; t++) {
    const g = groups[t]!;
    for (let k = 0; k < g.length; k++) {
      const m = g[k]!;
      assembler.add(m.candidate, m.span, m.resourceAttributes, m.service, m.version, now);
    }
  }
}

/** One iteration's work, as a closure over its own assembler and clock; throws if the iteration did not decide exactly its attempts. */
function scenario(
  options: AssemblerOptions,
  groups: readonly MatchedSpan[][],
  decidedBy: 'settle' | 'timeout',
  tag: number,
  prefill: (a: Assembler, now: number) => void,
) {
  const events = new Counting();
  const assembler = new Assembler(options, events);
  let clock = 1_000_000;
  prefill(assembler, clock);
  const baseline = assembler.pendingCount;
  // The clock moves just far enough for this iteration's attempts to be decided at the tick.
  const step = decidedBy === 'settle' ? options.settleDelayMs : options.traceWaitMs;
  const iterate = (): void => {
    const before = events.decidedCount;
    restamp(groups, tag);
    clock += 1;
    addAll(assembler, groups, clock);
    clock += step;
    assembler.tick(clock);
    if (events.decidedCount - before !== groups.length || assembler.pendingCount !== baseline || events.other !== 0) {
      throw new Error(`iteration decided ${events.decidedCount - before} of ${groups.length} attempts; pending ${assembler.pendingCount}, expected ${baseline}`);
    }
  };
  // Steady state: fill the decided-keys set (default bound: max_pending_attempts) before measuring.
  const recentBound = options.maxRecentDecided ?? Math.max(1000, options.maxPendingAttempts);
  for (let decided = 0; decided <= recentBound; decided += groups.length) iterate();
  return { iterate, events, assembler };
}

/** The connector's defaults: trace_wait 10s, settle_delay 500ms, max_pending_attempts 100000. */
const defaults: AssemblerOptions = { traceWaitMs: 10_000, settleDelayMs: 500, maxPendingAttempts: MAX_PENDING };
const longWait: AssemblerOptions = { ...defaults, traceWaitMs: LONG_WAIT_MS };
/** A small decided-keys bound takes the cost of that Map-as-FIFO out of the numbers (see the file comment). */
const smallRecent: AssemblerOptions = { ...defaults, maxRecentDecided: 1000 };
const longWaitSmallRecent: AssemblerOptions = { ...longWait, maxRecentDecided: 1000 };

/** WAITING incomplete attempts: a start span (the first fixture start, cloned) in each of WAITING traces. */
function waitingAttempts(a: Assembler, now: number): void {
  const start = matched.find((m) => m.candidate.role === START_ROLE)!;
  for (let i = 0; i < WAITING; i++) {
    const span: Span = { ...start.span, traceId: freshTraceId(i, 200) };
    a.add(start.candidate, span, start.resourceAttributes, start.service, start.version, now);
  }
  if (a.pendingCount !== WAITING) throw new Error(`expected ${WAITING} waiting attempts, have ${a.pendingCount}`);
}

const none = (): void => {};
const emptyDefaults = scenario(defaults, complete, 'settle', 10, none);
const loadedDefaults = scenario(longWait, complete, 'settle', 11, waitingAttempts);
const emptySmall = scenario(smallRecent, complete, 'settle', 12, none);
const emptyLongSmall = scenario(longWaitSmallRecent, complete, 'settle', 13, none);
const loadedLongSmall = scenario(longWaitSmallRecent, complete, 'settle', 14, waitingAttempts);
const timeouts = scenario(defaults, incomplete, 'timeout', 15, none);
if (emptyDefaults.events.complete === 0 || timeouts.events.timeout === 0 || timeouts.events.complete !== 0) throw new Error('fixture: unexpected decision kinds');

console.log(
  `assembler bench: ${ATTEMPTS} attempts/iteration (${COMPLETE_SPANS} spans complete, ${INCOMPLETE_SPANS} spans without step a); ` +
    `${loadedDefaults.assembler.pendingCount} attempts waiting in the loaded assemblers`,
);

// Long runs: the decided-keys FIFO's cost varies with the state of its hash table, so short runs are noisy.
const long = { time: 2000 };
const per = `${ATTEMPTS} attempts`;
describe(`attempt assembler, ${ATTEMPTS} attempts (${COMPLETE_SPANS} spans complete) per iteration`, () => {
  bench(`floor: re-stamp trace ids only — ${per}`, () => {
    restamp(complete, 16);
  });
  bench(`complete → settle, empty — ${per}`, emptyDefaults.iterate, long);
  bench(`complete → settle, ${WAITING / 1000}k waiting, trace_wait ∞ — ${per}`, loadedDefaults.iterate, long);
  bench(`complete → settle, empty, decided-keys 1k — ${per}`, emptySmall.iterate, long);
  bench(`complete → settle, empty, trace_wait ∞, decided-keys 1k — ${per}`, emptyLongSmall.iterate, long);
  bench(`complete → settle, ${WAITING / 1000}k waiting, trace_wait ∞, decided-keys 1k — ${per}`, loadedLongSmall.iterate, long);
  bench(`incomplete → timeout, empty — ${per} (${INCOMPLETE_SPANS} spans)`, timeouts.iterate, long);
});
