import { describe, expect, it } from 'vitest';
import { DecidedSet, MAX_STARTS_PER_KEY } from '../../../../src/journeys/runtime/decided-set.js';
import { seededRandom } from '../../../../scripts/random.mjs';

/** A 16-char binary trace id from a number (what the decoder makes of 16 bytes). */
function traceId(n: number): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += String.fromCharCode((Math.imul(n + 1, 2654435761 + i * 40503) >>> (i % 4) * 8) & 0xff);
  return s;
}

describe('DecidedSet', () => {
  it('remembers each (trace, journey) with its start span ids', () => {
    const set = new DecidedSet(10);
    set.add(traceId(1), 'checkout', 'start-a1');
    const slot = set.find(traceId(1), 'checkout');
    expect(slot).toBeGreaterThanOrEqual(0);
    expect(set.hasStart(slot, 'start-a1')).toBe(true);
    expect(set.hasStart(slot, 'start-b2')).toBe(false);
    // Another journey of the same trace, and another trace, are other keys.
    expect(set.find(traceId(1), 'login')).toBe(-1);
    expect(set.find(traceId(2), 'checkout')).toBe(-1);
    // A retry decided later in the same trace adds its start to the key.
    set.add(traceId(1), 'checkout', 'start-b2');
    set.add(traceId(1), 'checkout', 'start-b2');
    expect(set.find(traceId(1), 'checkout')).toBe(slot);
    expect(set.hasStart(slot, 'start-b2')).toBe(true);
    expect(set.size).toBe(1);
    set.add(traceId(1), 'login', 'start-c3');
    expect(set.size).toBe(2);
    expect(set.hasStart(set.find(traceId(1), 'login'), 'start-a1')).toBe(false);
  });

  it('forgets the oldest key first once it holds `capacity`, and the forgotten key’s starts with it', () => {
    const set = new DecidedSet(3);
    set.add(traceId(1), 'checkout', 's1');
    set.add(traceId(1), 'checkout', 's1-retry');
    set.add(traceId(2), 'checkout', 's2');
    set.add(traceId(3), 'checkout', 's3');
    set.add(traceId(4), 'checkout', 's4');
    expect(set.size).toBe(3);
    expect(set.find(traceId(1), 'checkout')).toBe(-1);
    for (const n of [2, 3, 4]) expect(set.find(traceId(n), 'checkout')).toBeGreaterThanOrEqual(0);
    // traceId(4) took the slot traceId(1) had: its retry start did not come with the slot.
    expect(set.hasStart(set.find(traceId(4), 'checkout'), 's1-retry')).toBe(false);
    set.add(traceId(5), 'checkout', 's5');
    expect(set.find(traceId(2), 'checkout')).toBe(-1);
  });

  it('agrees with a plain FIFO model over 30,000 random adds and lookups (collisions and removals in the hash table)', () => {
    const capacity = 1500;
    const set = new DecidedSet(capacity);
    const order: Array<{ t: string; j: string }> = [];
    const model = new Map<string, Set<string>>();
    const key = (t: string, j: string) => `${j}/${t}`;
    const rnd = seededRandom(7);
    const journeys = ['checkout', 'login', 'transfer'];
    for (let i = 0; i < 30_000; i++) {
      // Draw from a pool ~3× the capacity, so that keys recur both while remembered and after being forgotten.
      const t = traceId(Math.floor(rnd() * 4500));
      const j = journeys[Math.floor(rnd() * 3)]!;
      const start = `s${Math.floor(rnd() * 3)}`;
      if (rnd() < 0.6) {
        set.add(t, j, start);
        const k = key(t, j);
        const starts = model.get(k);
        if (starts !== undefined) starts.add(start);
        else {
          if (order.length === capacity) {
            const gone = order.shift()!;
            model.delete(key(gone.t, gone.j));
          }
          order.push({ t, j });
          model.set(k, new Set([start]));
        }
      } else {
        const slot = set.find(t, j);
        const starts = model.get(key(t, j));
        expect(slot >= 0, `lookup ${i}`).toBe(starts !== undefined);
        if (starts !== undefined) expect(set.hasStart(slot, start), `start at lookup ${i}`).toBe(starts.has(start));
      }
    }
    expect(set.size).toBe(model.size);
    for (const { t, j } of order) expect(set.find(t, j)).toBeGreaterThanOrEqual(0);
  });

  it('indexes each key once while it grows (so its table stays at most half full)', () => {
    const set = new DecidedSet(5000);
    for (let i = 0; i < 20_000; i++) set.add(traceId(i), 'checkout', 's');
    const table = (set as unknown as { table: { cells: Int32Array } }).table.cells;
    expect(set.size).toBe(5000);
    expect(table.filter((cell) => cell !== 0).length).toBe(5000);
    expect(table.length).toBeGreaterThanOrEqual(2 * 5000);
  });

  it(`keeps at most ${MAX_STARTS_PER_KEY} start span ids per key`, () => {
    const set = new DecidedSet(10);
    for (let i = 0; i < MAX_STARTS_PER_KEY + 100; i++) set.add(traceId(1), 'checkout', `start-${i}`);
    const slot = set.find(traceId(1), 'checkout');
    expect(set.hasStart(slot, 'start-0')).toBe(true);
    expect(set.hasStart(slot, `start-${MAX_STARTS_PER_KEY - 1}`)).toBe(true);
    expect(set.hasStart(slot, `start-${MAX_STARTS_PER_KEY}`)).toBe(false);
  });

  it('refuses a capacity under 1', () => {
    expect(() => new DecidedSet(0)).toThrow(/at least 1/);
  });
});
