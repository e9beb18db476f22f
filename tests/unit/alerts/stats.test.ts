import { describe, expect, it } from 'vitest';
import { normalCdf, normalQuantile, poissonCdf, poissonPmf, significantlyWorse, twoProportionZ } from '../../../src/alerts/stats.js';

describe('statistics', () => {
  it('normal quantiles match the tables', () => {
    expect(normalQuantile(0.99)).toBeCloseTo(2.326, 3);
    expect(normalQuantile(0.975)).toBeCloseTo(1.96, 3);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 6);
    expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
  });

  it('two-proportion z: one-sided, continuity-corrected, zero when not worse or empty', () => {
    // 30% of 100 vs 1% of 10,000: overwhelming
    expect(twoProportionZ(30, 100, 100, 10_000)).toBeGreaterThan(10);
    expect(twoProportionZ(1, 100, 30, 100)).toBe(0);
    expect(twoProportionZ(5, 0, 1, 100)).toBe(0);
    // one failure of 20 vs 0.2% of 1,000: not significant at 99% (exact: P(≥1 of 20) = 3.9%)
    expect(significantlyWorse(1, 20, 2, 1000, 2.326)).toBe(false);
    expect(significantlyWorse(10, 30, 2, 1000, 2.326)).toBe(true);
  });

  it('Poisson CDF: exact for small counts, stable for busy journeys', () => {
    expect(poissonCdf(0, 2)).toBeCloseTo(Math.exp(-2), 10);
    expect(poissonCdf(1, 2)).toBeCloseTo(3 * Math.exp(-2), 10);
    expect(poissonCdf(0, 5000)).toBe(0);
    expect(poissonCdf(5000, 5000)).toBeGreaterThan(0.49);
    expect(poissonCdf(5000, 5000)).toBeLessThan(0.52);
    expect(poissonCdf(3, 0)).toBe(1);
  });

  it('Poisson probabilities: exact for small counts, and continuous where ln k! switches to Stirling', () => {
    expect(poissonPmf(0, 2)).toBeCloseTo(Math.exp(-2), 12);
    expect(poissonPmf(3, 2)).toBeCloseTo((8 / 6) * Math.exp(-2), 12);
    expect(poissonPmf(-1, 2)).toBe(0);
    expect(poissonPmf(0, 0)).toBe(1);
    let sum = 0;
    for (let k = 0; k <= 7; k++) sum += poissonPmf(k, 4.5);
    expect(sum).toBeCloseTo(poissonCdf(7, 4.5), 12);
    // ratio of neighbours is lambda / k on both sides of the table's end (1024)
    for (const k of [1020, 1024, 1025, 1030]) expect(poissonPmf(k, 1000) / poissonPmf(k - 1, 1000)).toBeCloseTo(1000 / k, 9);
  });
});
