/**
 * SLI window aggregation on its own (src/journeys/runtime/sli.ts): `add` for decided attempts, and `tick` closing
 * the window they fell in. No matching, assembly or metrics.
 * Run: `npx vitest bench --run bench/sli.bench.ts`.
 *
 * Reading the numbers: every bench name says how many attempts one iteration adds; ns per attempt =
 * 1e9 / hz / attempts. Subtract the "floor" bench (moving the records one window on, which the closing benches do
 * every iteration) first if you want the aggregator alone. The cost of closing one window (emitting its rows) is
 * roughly (ns per attempt "+ close" − ns per attempt "window open") × attempts per window.
 *
 * - Input: the real AttemptRecords the assembler decides for the realistic 500-span batch with every trace an
 *   attempt (bench/fixtures.ts): 5 journeys, 3 segment dimensions each (customer.tier: 3 values, cloud.region and
 *   release: one per service), ~6% failures with reasons. Window 10s, allowed lateness 12s, 100 values per
 *   dimension (the connector's defaults).
 * - "window open": the records are added again and again to one open window (rows exist after the first
 *   iteration; their counters grow, nothing else does) — the per-attempt cost of `add`.
 * - "+ close": every iteration moves the records one window on (event time), adds them (`× k`: k times over, so
 *   a window holds k × the batch's attempts) and ticks past the window's end + lateness, which emits its rows.
 *   The emitted rows go to one reused array, emptied every iteration.
 */
import { bench, describe } from 'vitest';
import type { AttemptRecord, CompiledJourney, SliWindow } from '../src/journeys/model.js';
import { SliAggregator, type SliEvents, type SliOptions } from '../src/journeys/runtime/sli.js';
import { decidedFixtureAttempts } from './fixtures.js';

type MutableRecord = { -readonly [K in keyof AttemptRecord]: AttemptRecord[K] };

const SLI: SliOptions = { windowMs: 10_000, allowedLatenessMs: 12_000, maxSegmentValues: 100 };
const WINDOW_NS = BigInt(SLI.windowMs) * 1_000_000n;
const DECIDED = decidedFixtureAttempts();
const ATTEMPTS = DECIDED.length;
const failures = DECIDED.filter((d) => d.record.outcome === 'failure').length;
const dims = new Set(DECIDED.flatMap((d) => Object.keys(d.record.segments)));
if (dims.size !== 3) throw new Error(`fixture: expected 3 segment dimensions, got ${[...dims].join(', ')}`);

class Counting implements SliEvents {
  late = 0;
  foldedCount = 0;
  lateAttempt(): void {
    this.late++;
  }
  folded(): void {
    this.foldedCount++;
  }
}

/** Own copies of the records (the closing benches move them in event time), all in one window. */
function copies(): { journeys: CompiledJourney[]; records: MutableRecord[]; windowStartMs: number } {
  const records = DECIDED.map((d) => ({ ...d.record }) as MutableRecord);
  const journeys = DECIDED.map((d) => d.journey);
  const ns = records.map((r) => r.startTimeUnixNano);
  const min = ns.reduce((a, b) => (b < a ? b : a));
  const max = ns.reduce((a, b) => (b > a ? b : a));
  if (max - min >= WINDOW_NS) throw new Error('fixture: records span more than one window');
  // Move the earliest record to the start of the next window, so every record falls in that one window.
  const windowStart = (min / WINDOW_NS + 1n) * WINDOW_NS;
  for (const r of records) r.startTimeUnixNano += windowStart - min;
  return { journeys, records, windowStartMs: Number(windowStart / 1_000_000n) };
}

function addAll(sli: SliAggregator, journeys: readonly CompiledJourney[], records: readonly AttemptRecord[], times: number): void {
  for (let k = 0; k < times; k++) for (let i = 0; i < records.length; i++) sli.add(journeys[i]!, records[i]!);
}

function moveOneWindow(records: MutableRecord[]): void {
  for (let i = 0; i < records.length; i++) records[i]!.startTimeUnixNano += WINDOW_NS;
}

/** One iteration of "+ close": move, add `times` over, close; checks that exactly one window was emitted, on time. */
function closing(times: number) {
  const { journeys, records, windowStartMs } = copies();
  const events = new Counting();
  const sli = new SliAggregator(SLI, events);
  const out: SliWindow[] = [];
  let start = windowStartMs;
  let rows = 0;
  const iterate = (): void => {
    moveOneWindow(records);
    start += SLI.windowMs;
    addAll(sli, journeys, records, times);
    sli.tick(start + SLI.windowMs + SLI.allowedLatenessMs, out);
    if (sli.openWindows !== 0 || out.length === 0 || out[0]!.windowStartMs !== start || events.late !== 0 || events.foldedCount !== 0) {
      throw new Error(`window ${start}: ${out.length} rows, ${sli.openWindows} windows still open, ${events.late} late`);
    }
    rows = out.length;
    out.length = 0;
  };
  iterate();
  return { iterate, rows };
}

const open = (() => {
  const { journeys, records } = copies();
  const sli = new SliAggregator(SLI, new Counting());
  return () => addAll(sli, journeys, records, 1);
})();
const close1 = closing(1);
const close10 = closing(10);
const floorRecords = copies().records;

console.log(
  `sli bench: ${ATTEMPTS} attempts/batch (${failures} failures), dimensions ${[...dims].join(', ')}; ${close1.rows} rows per closed window`,
);

describe(`SLI aggregator, ${ATTEMPTS} decided attempts per batch, 3 segment dimensions`, () => {
  bench(`floor: move ${ATTEMPTS} records one window on`, () => {
    moveOneWindow(floorRecords);
  });
  bench(`add, window open — ${ATTEMPTS} attempts`, open);
  bench(`add + close window × 1 — ${ATTEMPTS} attempts per window`, close1.iterate);
  bench(`add + close window × 10 — ${ATTEMPTS * 10} attempts per window`, close10.iterate);
});
