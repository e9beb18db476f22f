import { describe, expect, it } from 'vitest';
import type { AttemptRecord, SliWindow } from '../../../../src/journeys/model.js';
import { LATENCY_BOUNDS_MS, SliAggregator, latencyBucket } from '../../../../src/journeys/runtime/sli.js';
import { checkoutJourney, journey } from './support.js';

/** 2025-11-22T10:00:00Z, aligned to 10 s. */
const T0 = 1_763_805_600_000;

function attempt(atMs: number, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    journey: 'checkout',
    traceId: 't',
    startSpanId: 's',
    startTimeUnixNano: BigInt(atMs) * 1_000_000n,
    durationMs: 100,
    outcome: 'success',
    reasons: [],
    signals: [],
    segments: {},
    services: [],
    failingStep: undefined,
    spans: [],
    decidedBy: 'complete',
    decidedAtMs: atMs,
    ...overrides,
  };
}

function aggregator(options: Partial<{ windowMs: number; allowedLatenessMs: number; maxSegmentValues: number }> = {}) {
  const counts = { late: 0, folded: [] as string[] };
  const sli = new SliAggregator(
    { windowMs: 10_000, allowedLatenessMs: 5_000, maxSegmentValues: 100, ...options },
    { lateAttempt: () => counts.late++, folded: (j, d) => counts.folded.push(`${j}/${d}`) },
  );
  const tick = (now: number) => {
    const out: SliWindow[] = [];
    sli.tick(now, out);
    return out;
  };
  return { sli, counts, tick };
}

const row = (rows: SliWindow[], key: string, value: string, windowStartMs?: number) =>
  rows.find((r) => r.segmentKey === key && r.segmentValue === value && (windowStartMs === undefined || r.windowStartMs === windowStartMs));

describe('SLI windows', () => {
  const plain = journey({ name: 'checkout', start: { service: 'f', span: 'x' } });

  it('windows attempts by event time and emits a window once its end + allowed lateness has passed', () => {
    const { sli, tick } = aggregator();
    sli.add(plain, attempt(T0 + 1_000));
    sli.add(plain, attempt(T0 + 9_999));
    sli.add(plain, attempt(T0 + 10_000)); // next window
    expect(tick(T0 + 14_999)).toEqual([]);
    const first = tick(T0 + 15_000);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ journey: 'checkout', windowStartMs: T0, windowSeconds: 10, segmentKey: '', segmentValue: '', attempts: 2 });
    expect(tick(T0 + 24_999)).toEqual([]);
    expect(tick(T0 + 25_000).map((r) => [r.windowStartMs, r.attempts])).toEqual([[T0 + 10_000, 1]]);
    expect(sli.openWindows).toBe(0);
  });

  it('counts successes, failures and failures by reason, and sums latency', () => {
    const { sli } = aggregator();
    sli.add(plain, attempt(T0, { durationMs: 3 }));
    sli.add(plain, attempt(T0, { outcome: 'failure', reasons: ['missing_step:charge'], durationMs: 40 }));
    sli.add(plain, attempt(T0, { outcome: 'failure', reasons: ['error:charge', 'slow'], durationMs: 3000 }));
    sli.add(plain, attempt(T0, { outcome: 'failure', reasons: ['error:charge'], durationMs: 100_000 }));
    const out: SliWindow[] = [];
    sli.flush(out);
    expect(out).toHaveLength(1);
    const r = out[0]!;
    expect(r).toMatchObject({ attempts: 4, successes: 1, failures: 3, latencySumMs: 103_043 });
    expect(r.failuresByReason).toEqual({ 'missing_step:charge': 1, 'error:charge': 2, slow: 1 });
    expect(r.latencyBoundsMs).toBe(LATENCY_BOUNDS_MS);
    expect(r.latencyCounts).toHaveLength(LATENCY_BOUNDS_MS.length + 1);
    const nonZero = r.latencyCounts.flatMap((c, i) => (c > 0 ? [[i === LATENCY_BOUNDS_MS.length ? Infinity : LATENCY_BOUNDS_MS[i], c]] : []));
    expect(nonZero).toEqual([
      [4, 1],
      [64, 1],
      [4096, 1],
      [Infinity, 1],
    ]);
  });

  it('uses fixed exponential bucket bounds with each bound inclusive', () => {
    expect(LATENCY_BOUNDS_MS[0]).toBe(1);
    expect(LATENCY_BOUNDS_MS.at(-1)).toBe(65_536);
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.0001)).toBe(1);
    expect(latencyBucket(2)).toBe(1);
    expect(latencyBucket(1024)).toBe(10);
    expect(latencyBucket(1025)).toBe(11);
    expect(latencyBucket(65_536)).toBe(16);
    expect(latencyBucket(65_537)).toBe(17);
  });

  it('writes one row per segment value per dimension, plus the all-traffic row; unset values count under __unset__', () => {
    const { sli } = aggregator();
    const j = checkoutJourney();
    sli.add(j, attempt(T0, { segments: { 'customer.tier': 'enterprise', release: '5.0.1' } }));
    sli.add(j, attempt(T0, { segments: { 'customer.tier': 'enterprise', release: '5.0.2' }, outcome: 'failure', reasons: ['error:charge'] }));
    sli.add(j, attempt(T0, { segments: { 'customer.tier': 'free', release: '5.0.2' } }));
    const out: SliWindow[] = [];
    sli.flush(out);
    expect(out.map((r) => [r.segmentKey, r.segmentValue, r.attempts, r.failures])).toEqual([
      ['', '', 3, 1],
      ['customer.tier', 'enterprise', 2, 1],
      ['customer.tier', 'free', 1, 0],
      ['cloud.region', '__unset__', 3, 1],
      ['release', '5.0.1', 1, 0],
      ['release', '5.0.2', 2, 1],
    ]);
  });

  it('folds values beyond max_segment_values into __other__ and counts them', () => {
    const { sli, counts } = aggregator({ maxSegmentValues: 2 });
    const j = journey({ name: 'checkout', start: { service: 'f', span: 'x' }, segments: ['user'] });
    for (const user of ['a', 'b', 'c', 'a', 'd']) sli.add(j, attempt(T0, { segments: { user } }));
    // Admitted values stay admitted in later windows.
    sli.add(j, attempt(T0 + 10_000, { segments: { user: 'b' } }));
    const out: SliWindow[] = [];
    sli.flush(out);
    expect(out.filter((r) => r.segmentKey === 'user').map((r) => [r.windowStartMs - T0, r.segmentValue, r.attempts])).toEqual([
      [0, 'a', 2],
      [0, 'b', 1],
      [0, '__other__', 2],
      [10_000, 'b', 1],
    ]);
    expect(counts.folded).toEqual(['checkout/user', 'checkout/user']);
  });

  it('emits an attempt for an already emitted window as another partial row, and counts it late', () => {
    const { sli, counts, tick } = aggregator();
    sli.add(plain, attempt(T0 + 100));
    expect(tick(T0 + 15_000).map((r) => r.attempts)).toEqual([1]);
    sli.add(plain, attempt(T0 + 200, { outcome: 'failure', reasons: ['missing_step:charge'] }));
    expect(counts.late).toBe(1);
    const partial = tick(T0 + 15_100);
    expect(partial.map((r) => [r.windowStartMs, r.attempts, r.failures])).toEqual([[T0, 1, 1]]);
  });

  it('bounds the windows it holds: attempts with wild timestamps push the oldest out early', () => {
    const { sli, tick } = aggregator();
    const capped = new SliAggregator({ windowMs: 10_000, allowedLatenessMs: 5_000, maxSegmentValues: 100, maxOpenWindows: 3 }, { lateAttempt() {}, folded() {} });
    for (let i = 0; i < 5; i++) capped.add(plain, attempt(T0 + i * 10_000));
    expect(capped.openWindows).toBe(5); // 3 open + 2 waiting to be emitted
    const out: SliWindow[] = [];
    capped.tick(T0, out);
    expect(out.map((r) => r.windowStartMs - T0)).toEqual([0, 10_000]);
    expect(capped.openWindows).toBe(3);
    // The unbounded default still holds everything until its time.
    sli.add(plain, attempt(T0));
    expect(tick(T0)).toEqual([]);
  });

  it('keeps journeys apart in one window', () => {
    const { sli } = aggregator();
    const other = journey({ name: 'signup', start: { service: 'f', span: 'y' } });
    sli.add(plain, attempt(T0));
    sli.add(other, attempt(T0, { journey: 'signup' }));
    const out: SliWindow[] = [];
    sli.flush(out);
    expect(row(out, '', '')?.journey).toBe('checkout');
    expect(out.map((r) => r.journey)).toEqual(['checkout', 'signup']);
  });
});
