/**
 * The (journey, trace) keys the assembler decided recently, with the start span ids of each: what recognises a
 * late span (a step, or the same start re-sent, after its attempt was decided). A bounded set, oldest out first.
 *
 * Flat arrays, not a Map of objects. At the default bound (100,000 keys, ~10 s of decisions at 10k attempts/s) a
 * `Map<traceId, {journey, startIds[]}>` held 30–47 MiB more RSS and cost ~3% of Pulse's CPU at 120k spans/s
 * (BENCHMARKS.md): each decision made a Map entry, an object and an array that lived ~10 s, so each was promoted
 * and later died in the old generation, and the Map's tables were rebuilt as entries came and went. Here a key
 * is four array slots and a cell of an open-addressing hash table (~97 bytes a key with its trace and span id
 * strings, against ~229 for the Map); nothing is allocated per key except for a journey with several starts in
 * one trace (a retry).
 *
 * The arrays grow by doubling up to `capacity`, so a large bound costs memory only once it is used.
 */
import { SlotTable } from './slot-table.js';

const MIN_TABLE = 1024;
/**
 * Start span ids kept per key at most (a trace that retries one journey more often than this is not a user's):
 * later starts of that key are not remembered, so one of them re-sent would count as a new attempt, not as late.
 */
export const MAX_STARTS_PER_KEY = 512;

/**
 * A start span id no span has (span ids are 8 bytes), remembered for the key of orphan steps dropped while Pulse
 * refused spans (see the assembler): their start, sent again later, must not begin an attempt without them.
 */
export const ANY_START = '';

/** 30-bit FNV-1a hash of a string (trace ids are 16 binary chars). */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}

export class DecidedSet {
  /** Ring of keys in insertion order: slot → trace id, journey name, first start span id, hash of the trace id. */
  private readonly traceIds: string[] = [];
  private readonly journeys: string[] = [];
  private readonly firstStarts: string[] = [];
  private readonly hashes: number[] = [];
  /** Start span ids after the first, for the few keys that have them, by slot. */
  private readonly moreStarts = new Map<number, string[]>();
  /** Trace-id hash → slot. */
  private readonly table = new SlotTable(MIN_TABLE, (slot) => this.hashes[slot]!);
  /** The slot the next new key takes once the ring is full (the oldest). */
  private oldest = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`DecidedSet capacity must be at least 1, got ${capacity}`);
  }

  get size(): number {
    return this.traceIds.length;
  }

  /** The slot of (`traceId`, `journey`), or -1. */
  find(traceId: string, journey: string): number {
    return this.slotOf(traceId, journey, hashOf(traceId));
  }

  /** `find` with the trace id's hash already computed. */
  private slotOf(traceId: string, journey: string, h: number): number {
    const table = this.table;
    for (let i = table.home(h); ; i = table.next(i)) {
      const cell = table.cells[i]!;
      if (cell === SlotTable.EMPTY) return -1;
      const slot = cell - 1;
      if (this.hashes[slot] === h && this.traceIds[slot] === traceId && this.journeys[slot] === journey) return slot;
    }
  }

  /** Whether `spanId` is one of the start span ids remembered in `slot` (from `find`). */
  hasStart(slot: number, spanId: string): boolean {
    if (this.firstStarts[slot] === spanId) return true;
    const more = this.moreStarts.get(slot);
    return more !== undefined && more.includes(spanId);
  }

  /**
   * Remembers that an attempt of `journey` starting at `startSpanId` in `traceId` was decided: adds the start to
   * the key if it is still remembered, else adds the key (forgetting the oldest once `capacity` are held).
   */
  add(traceId: string, journey: string, startSpanId: string): void {
    const h = hashOf(traceId);
    const found = this.slotOf(traceId, journey, h);
    if (found >= 0) {
      if (this.hasStart(found, startSpanId)) return;
      const more = this.moreStarts.get(found);
      if (more === undefined) this.moreStarts.set(found, [startSpanId]);
      else if (more.length < MAX_STARTS_PER_KEY - 1) more.push(startSpanId);
      return;
    }
    let slot: number;
    if (this.traceIds.length < this.capacity) {
      slot = this.traceIds.length;
      this.traceIds.push(traceId);
      this.journeys.push(journey);
      this.firstStarts.push(startSpanId);
      this.hashes.push(h);
    } else {
      slot = this.oldest;
      this.oldest = slot + 1 === this.capacity ? 0 : slot + 1;
      this.table.remove(slot);
      this.moreStarts.delete(slot);
      this.traceIds[slot] = traceId;
      this.journeys[slot] = journey;
      this.firstStarts[slot] = startSpanId;
      this.hashes[slot] = h;
    }
    this.table.add(slot, h, this.traceIds.length);
  }
}
