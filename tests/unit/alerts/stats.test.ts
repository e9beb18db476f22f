import { describe, expect, it } from 'vitest';
import { normalCdf, normalQuantile, poissonCdf, significantlyWorse, twoProportionZ } from '../../../src/alerts/stats.js';

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
});
