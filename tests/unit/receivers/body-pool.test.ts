import { describe, expect, it } from 'vitest';
import { BodyBufferPool } from '../../../src/receivers/otlp/body-pool.js';

describe('body buffer pool', () => {
  it('hands out a buffer big enough, takes it back, and hands it out again', () => {
    const pool = new BodyBufferPool(2, 1024 * 1024);
    const a = pool.take(70_000);
    expect(a.length).toBeGreaterThanOrEqual(70_000);
    expect(a.length).toBe(128 * 1024); // rounded up, so that bodies of nearby sizes share buffers
    const b = pool.take(10);
    expect(b).not.toBe(a);
    pool.give(a);
    expect(pool.take(100_000)).toBe(a);
    pool.give(a);
    expect(pool.take(200_000)).not.toBe(a); // too small: a fresh one; `a` stays idle
    expect(pool.kept).toBe(1);
  });

  it('is bounded: at most maxKept idle buffers, none larger than maxBufferBytes', () => {
    const pool = new BodyBufferPool(2, 64 * 1024);
    const taken = [pool.take(1000), pool.take(1000), pool.take(1000)];
    for (const b of taken) pool.give(b);
    expect(pool.kept).toBe(2);
    const huge = pool.take(100_000);
    expect(huge.length).toBe(100_000); // over the per-buffer bound: exact, and not kept
    pool.give(huge);
    expect(pool.kept).toBe(2);
  });
});
