import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../../src/core/log-throttle.js';

describe('LogThrottle', () => {
  it('lets the first line through, then one per interval with the count of lines suppressed meanwhile', () => {
    const t = new LogThrottle(1000);
    expect(t.take('k', 5000)).toBe(0);
    expect(t.take('k', 5001)).toBeUndefined();
    expect(t.take('k', 5999)).toBeUndefined();
    expect(t.take('k', 6000)).toBe(2);
    expect(t.take('k', 6001)).toBeUndefined();
    expect(t.take('k', 9000)).toBe(1);
  });

  it('throttles each key on its own', () => {
    const t = new LogThrottle(1000);
    expect(t.take('a', 0)).toBe(0);
    expect(t.take('a', 10)).toBeUndefined();
    expect(t.take('b', 20)).toBe(0);
    expect(t.take('b', 30)).toBeUndefined();
    expect(t.take('a', 1000)).toBe(1);
  });

  it('defaults to one line per 10 s', () => {
    const t = new LogThrottle();
    expect(t.take('k', 0)).toBe(0);
    expect(t.take('k', 9_999)).toBeUndefined();
    expect(t.take('k', 10_000)).toBe(1);
  });
});
