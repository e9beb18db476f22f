import { describe, expect, it } from 'vitest';
import { binomialPmf, binomialUpperTail, chanceOfLookingWorse, poissonPmf } from '../../../src/alerts/stats.js';

describe('statistics', () => {
  it('binomial tail: exact sums, 1 at or below the mean', () => {
    // P(X ≥ 2) for Binomial(3, 0.5) = 4/8 (2 is above the mean 1.5: summed)
    expect(binomialUpperTail(2, 3, 0.5)).toBeCloseTo(0.5, 12);
    expect(binomialUpperTail(3, 3, 0.5)).toBeCloseTo(1 / 8, 12);
    expect(binomialUpperTail(3, 10, 0.1)).toBeCloseTo(1 - [0, 1, 2].reduce((s, k) => s + binomialPmf(k, 10, 0.1), 0), 12);
    expect(binomialUpperTail(1, 10, 0.1)).toBe(1); // at the mean: no evidence
    expect(binomialUpperTail(11, 10, 0.1)).toBe(0);
    // large n takes the Stirling path and stays a probability
    const t = binomialUpperTail(5200, 100_000, 0.05);
    expect(t).toBeGreaterThan(0.001);
    expect(t).toBeLessThan(0.01);
  });

  it('chance of looking worse: exact at small counts, and counts every look of a sliding window', () => {
    // 8 failures where 2.3 are expected (467 attempts at a 0.5% rate): one look, p ≈ 0.002 (a continuity-corrected
    // z-test said 0.0005, and flagged healthy releases)
    const once = chanceOfLookingWorse(8, 467, 300, 60_000, 0);
    expect(once).toBeGreaterThan(0.0015);
    expect(once).toBeLessThan(0.004);
    // judged for 12 window lengths, the chance of meeting such a window is far higher
    expect(chanceOfLookingWorse(8, 467, 300, 60_000, 12)).toBeGreaterThan(0.02);
    // not worse, or empty: 1
    expect(chanceOfLookingWorse(1, 100, 30, 100, 1)).toBe(1);
    expect(chanceOfLookingWorse(5, 0, 1, 100, 1)).toBe(1);
    // 30% of 100 vs 1% of 10,000: overwhelming even over a day of looks
    expect(chanceOfLookingWorse(30, 100, 100, 10_000, 300)).toBeLessThan(1e-12);
    // one failure of 20 vs 0.2% of 1,000 is no evidence
    expect(chanceOfLookingWorse(1, 20, 2, 1000, 0)).toBeGreaterThan(0.01);
  });

  it('Poisson probabilities: exact for small counts, and continuous where ln k! switches to Stirling', () => {
    expect(poissonPmf(0, 2)).toBeCloseTo(Math.exp(-2), 12);
    expect(poissonPmf(3, 2)).toBeCloseTo((8 / 6) * Math.exp(-2), 12);
    expect(poissonPmf(-1, 2)).toBe(0);
    expect(poissonPmf(0, 0)).toBe(1);
    // each term against e^-λ λ^k / k! written out
    let term = Math.exp(-4.5);
    for (let k = 0; k <= 7; k++, term *= 4.5 / k) expect(poissonPmf(k, 4.5)).toBeCloseTo(term, 12);
    // ratio of neighbours is lambda / k on both sides of the table's end (1024)
    for (const k of [1020, 1024, 1025, 1030]) expect(poissonPmf(k, 1000) / poissonPmf(k - 1, 1000)).toBeCloseTo(1000 / k, 9);
  });
});
