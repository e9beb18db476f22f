import { describe, expect, it } from 'vitest';
import type { TraceBatch } from '../../../../src/core/model.js';
import { SeenRequests } from '../../../../src/journeys/runtime/seen-requests.js';
import { decodeTraceRequest, encodeTraceRequest } from '../../../../src/otlp/index.js';
import { seededRandom } from '../../../../scripts/random.mjs';
import { FRONTEND, PAYMENTS, batch, span, traceId } from './support.js';

/** A request as a receiver decodes it, once per call: a new batch object with the same spans each time. */
function receiver(b: TraceBatch): () => TraceBatch {
  const bytes = encodeTraceRequest(b);
  return () => decodeTraceRequest(bytes).batch;
}

/** A request of `n` spans of trace `t`, with span ids from `spanIds` (one per span). */
function request(t: number, spanIds: string[]): TraceBatch {
  const spans = spanIds.map((id) => span({ trace: traceId(t), spanId: id, name: 'GET /' }));
  return batch([FRONTEND, spans.slice(0, 1)], [PAYMENTS, spans.slice(1)]);
}

describe('SeenRequests', () => {
  it('recognises the same request received again, as a new batch decoded from the same bytes', () => {
    const seen = new SeenRequests(100);
    const again = receiver(request(1, ['a0000001', 'a0000002', 'a0000003']));
    expect(seen.seenBefore(again())).toBe(false);
    expect(seen.seenBefore(again())).toBe(true);
    expect(seen.seenBefore(again())).toBe(true);
    expect(seen.remembered).toBe(1);
  });

  it('tells apart requests that differ in their first span, their last span or their span count', () => {
    const seen = new SeenRequests(100);
    expect(seen.seenBefore(request(1, ['a0000001', 'a0000002', 'a0000003']))).toBe(false);
    expect(seen.seenBefore(request(1, ['b0000001', 'a0000002', 'a0000003']))).toBe(false); // first span
    expect(seen.seenBefore(request(1, ['a0000001', 'a0000002', 'b0000003']))).toBe(false); // last span
    expect(seen.seenBefore(request(1, ['a0000001', 'a0000009', 'a0000002', 'a0000003']))).toBe(false); // count
    expect(seen.seenBefore(request(2, ['a0000001', 'a0000002', 'a0000003']))).toBe(false); // trace
    expect(seen.seenBefore(request(1, ['a0000001', 'a0000002', 'a0000003']))).toBe(true);
    expect(seen.remembered).toBe(5);
  });

  it('does not remember a batch without spans', () => {
    const seen = new SeenRequests(100);
    expect(seen.seenBefore({ resourceSpans: [], spanCount: 0 })).toBe(false);
    expect(seen.seenBefore(batch([FRONTEND, []]))).toBe(false);
    expect(seen.remembered).toBe(0);
  });

  it('agrees with a plain FIFO model over 30,000 random requests (forgetting the oldest at capacity)', () => {
    const capacity = 1500;
    const seen = new SeenRequests(capacity);
    const order: string[] = [];
    const model = new Set<string>();
    const rnd = seededRandom(11);
    for (let i = 0; i < 30_000; i++) {
      // Draw from a pool ~3× the capacity, so that requests recur both while remembered and after being forgotten.
      const n = Math.floor(rnd() * 4500);
      const key = String(n);
      const hex = n.toString(16).padStart(8, '0');
      const expected = model.has(key);
      expect(seen.seenBefore(request(n, [`s${hex.slice(1)}`, `e${hex.slice(1)}`]))).toBe(expected);
      if (!expected) {
        order.push(key);
        model.add(key);
        if (order.length > capacity) model.delete(order.shift()!);
      }
    }
    expect(seen.remembered).toBe(capacity);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new SeenRequests(0)).toThrow(/at least 1/);
  });
});
