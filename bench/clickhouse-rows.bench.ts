/**
 * ClickHouse row encoding (src/exporters/clickhouse/rows.ts): the JSONEachRow body of an INSERT, which the
 * ClickHouse exporter builds when it accepts a batch of decided attempts — one row per attempt, at the rate of
 * traffic. Run: `npx vitest bench --run bench/clickhouse-rows.bench.ts`.
 *
 * Reading the numbers: one iteration encodes the batch's attempts; µs per row = 1e6 / hz / rows.
 * - Input: the real AttemptRecords the assembler decides for the realistic 500-span batch with every trace an
 *   attempt (bench/fixtures.ts): 5 journeys, 3 segment dimensions, a few spans per attempt, ~6% failures.
 * - SLI windows are encoded once per window and segment value, not per attempt, from a row object (stringified);
 *   the second group measures that path on 100 rows of 3 segment dimensions.
 */
import { bench, describe } from 'vitest';
import { encodeAttempts, encodeSliWindows, rowBatchBody } from '../src/exporters/clickhouse/rows.js';
import type { SliWindow } from '../src/journeys/model.js';
import { LATENCY_BOUNDS_MS } from '../src/journeys/runtime/sli.js';
import { decidedFixtureAttempts } from './fixtures.js';

const RECORDS = decidedFixtureAttempts().map((d) => d.record);
const bytes = rowBatchBody(encodeAttempts(RECORDS, 'seconds')).length;
console.log(`clickhouse rows bench: ${RECORDS.length} attempt rows per iteration, ${Math.round(bytes / RECORDS.length)} bytes per row`);

describe(`ClickHouse attempt rows (${RECORDS.length} per iteration)`, () => {
  bench('encodeAttempts, DateTime seconds', () => {
    encodeAttempts(RECORDS, 'seconds');
  });
  bench('encodeAttempts, DateTime64 millis', () => {
    encodeAttempts(RECORDS, 'millis');
  });
});

const WINDOWS: SliWindow[] = Array.from({ length: 100 }, (_, i) => ({
  journey: `journey-${i % 5}`,
  windowStartMs: 1_763_805_600_000 + Math.floor(i / 20) * 10_000,
  windowSeconds: 10,
  segmentKey: ['', 'customer.tier', 'cloud.region', 'release'][i % 4]!,
  segmentValue: i % 4 === 0 ? '' : `value-${i % 7}`,
  attempts: 120 + i,
  successes: 118,
  failures: 2 + (i % 3),
  abandoned: 0,
  failuresByReason: i % 2 === 0 ? { 'error:charge': 2 } : { 'error:charge': 1, slow: 1 },
  latencyBoundsMs: LATENCY_BOUNDS_MS,
  latencyCounts: LATENCY_BOUNDS_MS.map((_, b) => (b === 4 ? 100 : b === 5 ? 20 + i : 0)).concat(0),
  latencySumMs: 5_000 + i,
}));

describe(`ClickHouse SLI rows (${WINDOWS.length} per iteration)`, () => {
  bench('encodeSliWindows', () => {
    encodeSliWindows(WINDOWS);
  });
});
