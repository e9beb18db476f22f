/**
 * The requests whose journey spans were already taken, remembered by a fingerprint: what recognises a request that
 * its sender sent again.
 *
 * Why: Pulse may refuse a request after the journeys connector has taken its spans (the forward destination is down
 * or slow, so the exporter's queue is full: 503 / 429). The sender then sends the same request again, for as long as
 * its retry policy says: an SDK for seconds, an upstream Collector's `retry_on_failure` for up to 5 minutes. The
 * assembler recognises a re-sent span only while its attempt is pending or its key is among the recently decided
 * ones (`DecidedSet`, ~10 s of decisions at 10k attempts/s); a copy arriving later started the attempt again, and
 * every resend counted it once more (measured: 1,500 checkouts resent for 6 s were 4,498 attempts).
 *
 * The fingerprint is the trace and span ids of the request's first and last span and its span count: span ids are
 * random 64-bit values, so two requests that share them are the same spans, batched the same way. It costs two short
 * hashes per request that has journey spans, nothing per span. A copy batched differently (re-batched upstream) is
 * not recognised here and falls back to the assembler's checks.
 *
 * Kept per request: 12 bytes in the ring and ≤ 8 in the table (two 32-bit hashes and the span count; 64 bits of
 * hash, so ~10⁻⁸ odds of a false match among a million remembered requests). Bounded by `capacity`, oldest first out;
 * the arrays grow by doubling, so a large bound costs memory only once it is used.
 */
import type { Span, TraceBatch } from '../../core/model.js';
import { SlotTable } from './slot-table.js';

const INITIAL_SLOTS = 1024;

// The fingerprint of the last `fingerprint()` call (module state: no object per call).
let fpA = 0;
let fpB = 0;
let fpCount = 0;

export class SeenRequests {
  /** Ring of fingerprints in insertion order: two hashes and the span count per slot. */
  private hashA = new Int32Array(INITIAL_SLOTS);
  private hashB = new Int32Array(INITIAL_SLOTS);
  private counts = new Int32Array(INITIAL_SLOTS);
  private size = 0;
  /** The slot the next fingerprint takes once the ring is full (the oldest). */
  private oldest = 0;
  private readonly table = new SlotTable(2 * INITIAL_SLOTS, (slot) => this.hashA[slot]! & 0x3fffffff);

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`SeenRequests capacity must be at least 1, got ${capacity}`);
  }

  /** Requests remembered. */
  get remembered(): number {
    return this.size;
  }

  /**
   * Whether a request with `batch`'s fingerprint was remembered before; if not, remembers it (forgetting the oldest
   * once `capacity` are held). A batch without spans is never remembered.
   */
  seenBefore(batch: TraceBatch): boolean {
    if (!fingerprint(batch)) return false;
    const a = fpA;
    const b = fpB;
    const count = fpCount;
    const h = a & 0x3fffffff;
    const table = this.table;
    for (let i = table.home(h); ; i = table.next(i)) {
      const cell = table.cells[i]!;
      if (cell === SlotTable.EMPTY) break;
      const slot = cell - 1;
      if (this.hashA[slot] === a && this.hashB[slot] === b && this.counts[slot] === count) return true;
    }
    let slot: number;
    if (this.size < this.capacity) {
      if (this.size === this.hashA.length) this.growRing();
      slot = this.size++;
    } else {
      slot = this.oldest;
      this.oldest = slot + 1 === this.capacity ? 0 : slot + 1;
      table.remove(slot);
    }
    this.hashA[slot] = a;
    this.hashB[slot] = b;
    this.counts[slot] = count;
    table.add(slot, h, this.size);
    return false;
  }

  private growRing(): void {
    const n = Math.min(this.capacity, this.hashA.length * 2);
    const grown = (old: Int32Array) => {
      const next = new Int32Array(n);
      next.set(old);
      return next;
    };
    this.hashA = grown(this.hashA);
    this.hashB = grown(this.hashB);
    this.counts = grown(this.counts);
  }
}

/** Sets `fpA`, `fpB`, `fpCount` for `batch`; false when it has no span. */
function fingerprint(batch: TraceBatch): boolean {
  let first: Span | undefined;
  let last: Span | undefined;
  let count = 0;
  for (const rs of batch.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      const spans = ss.spans;
      if (spans.length === 0) continue;
      first ??= spans[0];
      last = spans[spans.length - 1];
      count += spans.length;
    }
  }
  if (first === undefined || last === undefined) return false;
  fpA = 0x811c9dc5; // FNV-1a
  fpB = 0x9747b28c; // a multiplicative hash with another multiplier, for 64 bits in all
  mix(first.traceId);
  mix(first.spanId);
  mix(last.traceId);
  mix(last.spanId);
  fpCount = count;
  return true;
}

/** Adds `s` to `fpA` / `fpB`, then a separator, so that ids of other lengths cannot shift into one another. */
function mix(s: string): void {
  let a = fpA;
  let b = fpB;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  fpA = Math.imul(a ^ 0x100, 0x01000193);
  fpB = Math.imul(b ^ 0x100, 0x5bd1e995);
}
