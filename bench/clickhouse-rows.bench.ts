/**
 * ClickHouse row encoding (src/exporters/clickhouse/rows.ts): the JSONEachRow body of an INSERT, which the
 * ClickHouse exporter builds when it accepts a batch of decided attempts — one row per attempt, at the rate of
 * traffic. Run: `npx vitest bench --run bench/clickhouse-rows.bench.ts`.
 *
 * Reading the numbers: one iteration encodes the batch's attempts; µs per row = 1e6 / hz / rows.
 * - Input: the real AttemptRecords the assembler decides for the realistic 500-span batch with every trace an
 *   attempt (bench/fixtures.ts): 5 journeys, 3 segment dimensions, a few spans per attempt, ~6% failures.
 * - SLI windows are encoded the same way but once per window and segment value, not per attempt.
 */
import { bench, describe } from 'vitest';
import { encodeAttempts, rowBatchBody } from '../src/exporters/clickhouse/rows.js';
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
