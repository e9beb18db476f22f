import { describe, expect, it } from 'vitest';
import { ByteInterner } from '../../../src/otlp/intern.js';

/** Looks `text` up in `interner` the way the decoder does: on a miss, "decode" and store. */
function intern(interner: ByteInterner, text: string): { value: string; hit: boolean } {
  const buf = new TextEncoder().encode(`..${text}..`); // at an offset, as inside a request
  const hit = interner.lookup(buf, 2, buf.length - 4);
  if (hit !== undefined) return { value: hit, hit: true };
  interner.store(buf, 2, buf.length - 4, text);
  return { value: text, hit: false };
}

describe('ByteInterner', () => {
  it('hits for bytes it has stored and returns the stored string', () => {
    const interner = new ByteInterner(64, 32);
    expect(intern(interner, 'http.route')).toEqual({ value: 'http.route', hit: false });
    expect(intern(interner, 'http.route')).toEqual({ value: 'http.route', hit: true });
    expect(intern(interner, '')).toEqual({ value: '', hit: false });
    expect(intern(interner, '')).toEqual({ value: '', hit: true });
  });

  it('never answers with a different string, even when every key shares one slot', () => {
    const interner = new ByteInterner(1, 32);
    // same length, same first/last four bytes and middle byte: the hash cannot tell them apart, the compare must
    const keys = ['abcdXXXXmXXXXwxyz', 'abcdYYYYmYYYYwxyz', 'abcd', 'x', 'abcdXXXXmXXXXwxyz'];
    for (let round = 0; round < 3; round++) for (const k of keys) expect(intern(interner, k).value).toBe(k);
  });

  it('does not cache keys longer than its entry size, and stays correct for them', () => {
    const interner = new ByteInterner(8, 8);
    const long = 'a.very.long.attribute.key';
    expect(intern(interner, long)).toEqual({ value: long, hit: false });
    expect(intern(interner, long)).toEqual({ value: long, hit: false });
  });

  it('stays correct when values stop repeating and it bypasses itself, then hits again later', () => {
    const interner = new ByteInterner(1024, 32);
    for (let i = 0; i < 40_000; i++) expect(intern(interner, `unique-${i}`).value).toBe(`unique-${i}`);
    let hits = 0;
    for (let i = 0; i < 40_000; i++) {
      const r = intern(interner, i % 2 === 0 ? 'GET' : 'POST');
      expect(r.value).toBe(i % 2 === 0 ? 'GET' : 'POST');
      if (r.hit) hits++;
    }
    expect(hits).toBeGreaterThan(10_000);
  });

  it('requires a power-of-two slot count', () => {
    expect(() => new ByteInterner(1000, 32)).toThrow(/power of two/);
  });
});
