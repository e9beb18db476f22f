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
import type { AttemptRecord } from '../src/journeys/model.js';
import { Assembler } from '../src/journeys/runtime/assembler.js';
import { encodeAttempts } from '../src/exporters/clickhouse/rows.js';
import { FIVE, makeJourneyBatch, matchBatch } from './fixtures.js';

function decidedAttempts(): AttemptRecord[] {
  const out: AttemptRecord[] = [];
  const count = () => {
    throw new Error('fixture: only decided attempts expected');
  };
  const assembler = new Assembler(
    { traceWaitMs: 10_000, settleDelayMs: 500, maxPendingAttempts: 100_000 },
    { decided: (_journey, record) => out.push(record), orphanSteps: count, abandoned: count, lateSpan: count, evicted: count, duplicateSpan: count, overflowSpan: count },
  );
  for (const m of matchBatch(FIVE, makeJourneyBatch(1, 1).batch)) assembler.add(m.candidate, m.span, m.resourceAttributes, m.service, m.version, 0);
  assembler.tick(1000);
  if (assembler.pendingCount !== 0) throw new Error('fixture: attempts left undecided');
  return out;
}

const RECORDS = decidedAttempts();
const bytes = encodeAttempts(RECORDS, 'seconds').body.length;
console.log(`clickhouse rows bench: ${RECORDS.length} attempt rows per iteration, ${Math.round(bytes / RECORDS.length)} bytes per row`);

describe(`ClickHouse attempt rows (${RECORDS.length} per iteration)`, () => {
  bench('encodeAttempts, DateTime seconds', () => {
    encodeAttempts(RECORDS, 'seconds');
  });
  bench('encodeAttempts, DateTime64 millis', () => {
    encodeAttempts(RECORDS, 'millis');
  });
});
