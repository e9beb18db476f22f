/**
 * Suspect analysis (src/alerts/suspects.ts): what one alert evaluation costs while an alert fires or is tracked —
 * `analyseSuspects` over a journey's ring of recent attempts, once per distinct short window.
 * Run: `npx vitest bench --run bench/suspects.bench.ts`.
 *
 * - Input: a full ring at the default capacity (20,000 attempts) of the decided attempts of the realistic
 *   500-span batch (bench/fixtures.ts: 3 segment dimensions, services with versions, ~6% failures with a failing
 *   step), their starts spread over the last 10 minutes.
 * - "5m window": the window covers half the ring; "1h window": all of it. ns per attempt scanned = 1e9 / hz / 20,000.
 */
import { bench, describe } from 'vitest';
import { AttemptRing, analyseSuspects, DEFAULT_SUSPECT_OPTIONS } from '../src/alerts/suspects.js';
import { decidedFixtureAttempts } from './fixtures.js';

const CAPACITY = 20_000;
const NOW_MS = 1_700_000_000_000;
const SPREAD_MS = 10 * 60_000;
const decided = decidedFixtureAttempts().map((d) => d.record);
const ring = new AttemptRing(CAPACITY);
for (let i = 0; i < CAPACITY; i++) {
  const record = decided[i % decided.length]!;
  const startMs = NOW_MS - SPREAD_MS + Math.floor((i * SPREAD_MS) / CAPACITY);
  ring.add({ ...record, startTimeUnixNano: BigInt(startMs) * 1_000_000n });
}
const failures = analyseSuspects(ring, NOW_MS - 3_600_000, NOW_MS + 60_000, DEFAULT_SUSPECT_OPTIONS).failures;
if (failures === 0) throw new Error('fixture: expected failed attempts in the ring');

describe(`suspect analysis over a ring of ${CAPACITY} attempts (${failures} failed)`, () => {
  bench('5m window', () => {
    analyseSuspects(ring, NOW_MS - 5 * 60_000, NOW_MS + 60_000, DEFAULT_SUSPECT_OPTIONS);
  });
  bench('1h window', () => {
    analyseSuspects(ring, NOW_MS - 3_600_000, NOW_MS + 60_000, DEFAULT_SUSPECT_OPTIONS);
  });
});
