/**
 * A small, bounded cache from UTF-8 bytes to the string they decode to, for attribute keys.
 *
 * Why: a request repeats the same few dozen keys (`http.route`, `service.name`) thousands of times. Decoding each
 * occurrence costs ~45-80 ns and allocates; hashing the bytes and comparing them against one cached copy costs
 * about half and allocates nothing, and every occurrence of a key then shares one string object, so model lookups
 * (`getAttribute`) compare pointers.
 *
 * Shape: direct-mapped (one entry per slot, a new key simply replaces whatever shared its slot), so memory is fixed
 * at `slots × maxBytes` bytes plus one string per slot, and a flood of distinct keys can cost hit rate but never
 * memory. Only keys of at most `maxBytes` bytes are cached; longer ones are decoded every time.
 *
 * The cache holds validated strings only: callers `store` what they decoded successfully. When the bytes stop
 * repeating (under a quarter of lookups hitting), the interner bypasses itself for a while so that unique data
 * costs one counter check rather than a hash, a compare and a store.
 */
const WINDOW = 1024;
const BYPASS = 16384;

export class ByteInterner {
  private readonly arena: Uint8Array;
  private readonly lengths: Int32Array;
  private readonly strings: string[];
  private readonly mask: number;
  /** The slot the last `lookup` hashed to, so a following `store` does not hash again; -1: do not store. */
  private slot = 0;
  /** Hit-rate sampling: probes and hits in the current window, and lookups left to bypass. */
  private probes = 0;
  private hits = 0;
  private bypass = 0;

  constructor(
    slots = 2048,
    readonly maxBytes = 64,
  ) {
    if ((slots & (slots - 1)) !== 0 || slots <= 0) throw new Error('ByteInterner slots must be a power of two');
    this.arena = new Uint8Array(slots * maxBytes);
    this.lengths = new Int32Array(slots).fill(-1);
    this.strings = new Array<string>(slots).fill('');
    this.mask = slots - 1;
  }

  /** The cached string for `buf[start, start + n)`, or `undefined` (then call `store` with the decoded string). */
  lookup(buf: Uint8Array, start: number, n: number): string | undefined {
    if (n > this.maxBytes || this.bypass > 0) {
      if (this.bypass > 0) this.bypass--;
      this.slot = -1;
      return undefined;
    }
    // When fewer than a quarter of the last WINDOW lookups hit, the data does not repeat (unique ids as values):
    // stop hashing and storing for BYPASS lookups, then sample again.
    if (++this.probes === WINDOW) {
      if (this.hits < WINDOW / 4) this.bypass = BYPASS;
      this.probes = 0;
      this.hits = 0;
    }
    // The hash reads only the length, the first and last four bytes and the middle byte: keys are told apart by
    // those almost always (`http.request.method` / `http.response.status_code`), and hashing every byte cost as
    // much as decoding the string. The full comparison below makes a collision a miss, never a wrong answer.
    const end = start + n;
    let h = n;
    if (n >= 4) {
      h = Math.imul(h ^ (buf[start]! | (buf[start + 1]! << 8) | (buf[start + 2]! << 16) | (buf[start + 3]! << 24)), 0x9e3779b1);
      h = Math.imul(h ^ (buf[end - 1]! | (buf[end - 2]! << 8) | (buf[end - 3]! << 16) | (buf[end - 4]! << 24)), 0x85ebca77);
      h ^= buf[start + (n >> 1)]!;
    } else {
      for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    }
    const slot = (h ^ (h >>> 16)) & this.mask;
    this.slot = slot;
    if (this.lengths[slot] !== n) return undefined;
    const arena = this.arena;
    let a = slot * this.maxBytes;
    for (let i = start; i < end; i++, a++) if (arena[a] !== buf[i]) return undefined;
    this.hits++;
    return this.strings[slot];
  }

  /** Caches `str` as the decoding of `buf[start, start + n)`; must directly follow the `lookup` of the same bytes. */
  store(buf: Uint8Array, start: number, n: number, str: string): void {
    const slot = this.slot;
    if (slot < 0) return;
    // A byte loop rather than `arena.set(buf.subarray(...))`: keys are short, and it allocates no view.
    const arena = this.arena;
    for (let i = 0, a = slot * this.maxBytes; i < n; i++, a++) arena[a] = buf[start + i]!;
    this.lengths[slot] = n;
    this.strings[slot] = str;
  }
}
