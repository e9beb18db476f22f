import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../../src/core/buffer-pool.js';

describe('buffer pool', () => {
  it('hands out a buffer big enough, takes it back, and hands it out again; never one still in use', () => {
    const pool = new BufferPool(2, 1024 * 1024, 16 * 1024);
    const a = pool.take(70_000);
    expect(a.byteLength).toBe(128 * 1024); // rounded up to a power of two, so that nearby sizes share buffers
    const b = pool.take(10);
    expect(b).not.toBe(a);
    expect(b.byteLength).toBe(16 * 1024);
    pool.give(a);
    expect(pool.take(100_000)).toBe(a);
    pool.give(a);
    expect(pool.take(200_000)).not.toBe(a); // too small: a fresh one; `a` stays idle
    expect(pool.kept).toBe(1);
  });

  it('is bounded: at most maxKept idle buffers, none larger than maxBufferBytes', () => {
    const pool = new BufferPool(2, 64 * 1024, 1024);
    const taken = [pool.take(1000), pool.take(1000), pool.take(1000)];
    for (const ab of taken) pool.give(ab);
    expect(pool.kept).toBe(2);
    const huge = pool.take(100_000);
    expect(huge.byteLength).toBe(100_000); // over the per-buffer bound: exact, and not kept
    pool.give(huge);
    expect(pool.kept).toBe(2);
  });
});
