import { describe, expect, it } from 'vitest';
import { TieredCounts } from '../../../src/alerts/tiered-counts.js';
import { T0 } from './support.js';

describe('tiered counts', () => {
  it('sums second-level windows exactly and day-level windows from coarse buckets', () => {
    const c = new TieredCounts(3 * 86_400_000);
    // one attempt per second for 2 hours, every 10th fails
    for (let s = 0; s < 7200; s++) c.add(T0 + s * 1000, 1, s % 10 === 0 ? 1 : 0, 1000);
    const now = T0 + 7200 * 1000;
    expect(c.sum(now - 5000, now, now)).toEqual({ attempts: 5, failures: 0 });
    expect(c.sum(now - 10_000, now, now)).toEqual({ attempts: 10, failures: 1 });
    const hour = c.sum(now - 3_600_000, now, now);
    expect(hour.attempts).toBeGreaterThanOrEqual(3600);
    expect(hour.attempts).toBeLessThanOrEqual(3610);
    expect(c.sum(now - 86_400_000, now, now)).toEqual({ attempts: 7200, failures: 720 });
    // after trimming, each tier holds at most its horizon: 1 s × 720, 10 s × 720, 1 min × 120, 10 min × 12, 1 h × 2
    c.trim(now);
    expect(c.buckets).toBeLessThanOrEqual(721 + 721 + 121 + 13 + 3);
    expect(c.sum(now - 86_400_000, now, now)).toEqual({ attempts: 7200, failures: 720 });
  });

  it('never reads a window shorter than one row, and trims what history no longer needs', () => {
    const c = new TieredCounts(60_000);
    c.add(T0, 10, 2, 10_000); // one 10 s row
    expect(c.sum(T0 + 5000, T0 + 8000, T0 + 8000)).toEqual({ attempts: 10, failures: 2 });
    c.trim(T0 + 120_000);
    expect(c.empty).toBe(true);
  });
});
