/**
 * Attempt assembly: collects the journey-relevant spans of each (journey, trace) until the attempt can be
 * decided, then hands one `AttemptRecord` per start span to `events.decided`.
 *
 * Contract:
 * - Spans of one trace arrive out of order and in different batches; a step before its start is normal. Only
 *   matched spans are buffered, as compact `SpanRecord`s (never the batch's objects).
 * - **Early decision**: once the start span is present and every required step too (for every start, when the
 *   trace holds several), the group is decided `settleDelayMs` later (`complete`), so late duplicates and
 *   optional steps are still caught. The delay runs from the moment the group became complete and is not
 *   extended by further spans.
 * - **Timeout**: otherwise it is decided `traceWaitMs` after the *arrival* of its latest start span (`timeout`).
 *   Waiting uses arrival time; records carry span time.
 * - **Orphans**: steps whose start has not arrived wait `traceWaitMs` after the first of them arrived; if no start
 *   arrives they are dropped and counted (`events.orphanSteps`).
 * - **Pulse's own overload** (`overloaded`): a group that runs out of `traceWaitMs` incomplete (a required step or
 *   its start missing) when Pulse refused spans for being overloaded, from `traceWaitMs` before the group's first
 *   span on, may be missing a span its sender will send again: it waits another `traceWaitMs`
 *   (`events.waitExtended`), and again while refusals go on through each extra wait, `overloadExtraWaits`
 *   (default `MAX_OVERLOAD_EXTENSIONS`) times at most. Still incomplete after an extra wait without refusals, it
 *   is decided as usual (a sender resending faster than `traceWaitMs` has had its chance); still incomplete with
 *   refusals going on after the last one, its attempts are abandoned, counted but not decided (`events.abandoned`,
 *   `overload`): that
 *   `missing_step` failure would be Pulse's, not the journey's. Orphan steps are then dropped and counted as usual;
 *   their start, if it still comes, is such an abandoned attempt too (it would begin one without them). The same
 *   goes for an incomplete group evicted (memory bound) while such refusals may have kept its spans away.
 * - **Late spans**: a span for a (journey, trace) decided recently is counted (`events.lateSpan`) and dropped. A
 *   *start* span with a new span id in such a trace is a new attempt (a later retry), while the same start span
 *   re-sent is late. Decided keys are remembered in a bounded, oldest-first set (`DecidedSet`).
 * - **Duplicates**: a span id already buffered in its group (an at-least-once re-send) is ignored and counted.
 * - **Memory bound**: at most `maxPendingAttempts` pending groups (a group is one (journey, trace): its attempts
 *   or its orphan steps). On overflow the oldest trace is decided early (`evicted`, counted); its orphans are
 *   dropped and counted as orphans. A group buffers at most `MAX_SPANS_PER_GROUP` spans; more are counted and
 *   dropped.
 * - **Completeness** is checked at once, with a bitmask, for the common single-start case; a group with several
 *   starts is checked at the next tick (its early decision may come one tick later).
 * - **Timers**: none of its own. The owner calls `tick(now)` periodically; deadlines sit in two FIFO queues
 *   (settle, wait) that are naturally in time order because every deadline is `now + constant`.
 * - **Reload**: a group keeps the `CompiledJourney` it started with. A span matched by a newer definition of the
 *   same journey (by name) joins it under its step *name*; a step name the old definition lacks is not buffered.
 */
import type { KeyValue, Span } from '../../core/model.js';
import type { AttemptRecord, CompiledJourney } from '../model.js';
import { buildAttempts, everyStartComplete, forEachAttempt, type DecidedBy } from './attempt-record.js';
import { START_ROLE, type Candidate } from './matcher-index.js';
import { ANY_START, DecidedSet } from './decided-set.js';
import { captureSpan, SpanRecord } from './span-record.js';

/**
 * Extra `traceWaitMs` waits an incomplete group gets at most while Pulse refuses spans for overload, by default
 * (`AssemblerOptions.overloadExtraWaits`): with the default 10 s, 30 s in all, about as long as an OpenTelemetry
 * SDK goes on retrying an export.
 */
export const MAX_OVERLOAD_EXTENSIONS = 2;

/** Why incomplete attempts were dropped undecided (see `AssemblerEvents.abandoned`). */
export type AbandonReason = 'shutdown' | 'overload';

/** Spans buffered per (journey, trace) at most: a loop calling a step thousands of times must not grow a group without bound. */
export const MAX_SPANS_PER_GROUP = 512;

export interface AssemblerOptions {
  readonly traceWaitMs: number;
  readonly settleDelayMs: number;
  readonly maxPendingAttempts: number;
  /** Decided keys remembered for late-span detection; default `max(1000, maxPendingAttempts)`. */
  readonly maxRecentDecided?: number;
  /** Extra trace waits at most while Pulse refuses spans for overload; default `MAX_OVERLOAD_EXTENSIONS`. */
  readonly overloadExtraWaits?: number;
}

/** What the assembler reports. Called synchronously from `add`, `tick` and `flush`. */
export interface AssemblerEvents {
  /**
   * One decided attempt. `delayMs` is the arrival-clock time from the first span of its group (start or step)
   * to the decision: what `settle_delay`, `trace_wait` and the tick add before an attempt is reported.
   */
  decided(journey: CompiledJourney, record: AttemptRecord, delayMs: number): void;
  orphanSteps(journey: string, count: number): void;
  /**
   * Incomplete attempts dropped undecided: by `flush(…, 'abandon')` (`shutdown`: shutdown, reload), or after a
   * wait extended for an overload that went on (`overload`).
   */
  abandoned(journey: string, attempts: number, reason: AbandonReason): void;
  /**
   * Each abandoned attempt (after `abandoned` counted them): its start span and the other spans it had, for the SLI
   * windows' `abandoned` counts.
   */
  abandonedAttempt(journey: CompiledJourney, start: SpanRecord, others: readonly SpanRecord[]): void;
  /** An incomplete group (attempts, or orphan steps) given one more trace wait because Pulse was refusing spans. */
  waitExtended(journey: string): void;
  lateSpan(journey: string): void;
  evicted(journey: string, attempts: number): void;
  duplicateSpan(journey: string): void;
  overflowSpan(journey: string): void;
}

class PendingGroup {
  records: SpanRecord[] = [];
  startCount = 0;
  /** Bit i set: step i seen (steps 0..29); the fast completeness test for a single start. */
  seenSteps = 0;
  /** When the group is decided by timeout (or dropped, for orphans). */
  waitUntil: number;
  /** When a complete group is decided early; -1 while incomplete. */
  settleAt = -1;
  /** When its wait was last extended for Pulse's overload; -1 if it was not. */
  extendedAt = -1;
  /** Times its wait was extended (at most `overloadExtraWaits`). */
  extensions = 0;
  decided = false;
  /** Waiting in the assembler's dirty list for a completeness check at the next tick. */
  dirty = false;
  /** The next group of the same trace (another journey). */
  next: PendingGroup | undefined = undefined;

  constructor(
    readonly journey: CompiledJourney,
    readonly traceId: string,
    readonly requiredSteps: number,
    /** Whether every required step index fits the bitmask. */
    readonly maskable: boolean,
    /** Arrival time of the group's first span: the decision delay is measured from here. */
    readonly createdAt: number,
    waitUntil: number,
  ) {
    this.waitUntil = waitUntil;
  }
}

const MASK_BITS = 30;

/**
 * A FIFO of (deadline, group) kept in two parallel arrays (no object per entry). Entries become stale when their
 * group is decided or its deadline moves; the reader skips them.
 */
class DeadlineQueue {
  private at: number[] = [];
  private groups: Array<PendingGroup | null> = [];
  private head = 0;

  get size(): number {
    return this.at.length - this.head;
  }

  push(at: number, group: PendingGroup): void {
    this.at.push(at);
    this.groups.push(group);
  }

  /** The first deadline, or Infinity when empty. */
  peek(): number {
    return this.head < this.at.length ? this.at[this.head]! : Infinity;
  }

  shift(): PendingGroup {
    const g = this.groups[this.head]!;
    this.groups[this.head] = null;
    this.head++;
    // Drop the consumed prefix once it is most of the arrays: amortised O(1), and memory follows the live size.
    if (this.head >= 1024 && this.head * 2 >= this.at.length) this.dropHead();
    return g;
  }

  /** Removes entries for which `live` is false (stale entries of evicted groups would otherwise pile up). */
  compact(live: (at: number, g: PendingGroup) => boolean): void {
    const at: number[] = [];
    const groups: PendingGroup[] = [];
    for (let i = this.head; i < this.at.length; i++) {
      const g = this.groups[i]!;
      if (live(this.at[i]!, g)) {
        at.push(this.at[i]!);
        groups.push(g);
      }
    }
    this.at = at;
    this.groups = groups;
    this.head = 0;
  }

  private dropHead(): void {
    this.at.splice(0, this.head);
    this.groups.splice(0, this.head);
    this.head = 0;
  }
}

export class Assembler {
  /** Trace id → its pending groups (a chain, one per journey); insertion order = first arrival, oldest first. */
  private readonly pending = new Map<string, PendingGroup>();
  private groupCount = 0;
  private readonly settleQueue = new DeadlineQueue();
  private readonly waitQueue = new DeadlineQueue();
  /** Groups whose completeness must be checked at the next tick (several starts; see `tick`). */
  private dirty: PendingGroup[] = [];
  /** Decided (journey, trace) keys, for late spans. */
  private readonly recent: DecidedSet;
  /**
   * An iterator over `pending` that stands at the oldest live entry, so that finding it is O(1) while
   * evicting: a fresh `keys().next()` for every eviction would walk over every deleted entry V8 has not compacted
   * yet (tens of µs at 100k entries, measured in bench/assembler.bench.ts). But an idle iterator pins the Map's
   * old hash tables: V8 keeps every table the Map outgrew (and the entries it held) alive for as long as an
   * iterator might still walk it, and a long-lived one held ~230k decided groups (~100 MB) after 30 s at 100k
   * spans/s. So it lives for one tick at most: made on first use, dropped by `tick`.
   */
  private pendingOrder: Iterator<PendingGroup> | undefined;
  /** Arrival clock, never going backwards, so that queued deadlines stay in order. */
  private now = -Infinity;
  /** Arrival-clock time of the latest overload refusal reported (`overloaded`). */
  private refusedAt = -Infinity;
  /** Required-step masks by journey object, computed once per journey definition. */
  private readonly masks = new WeakMap<CompiledJourney, { required: number; maskable: boolean }>();

  constructor(
    private readonly options: AssemblerOptions,
    private readonly events: AssemblerEvents,
  ) {
    this.recent = new DecidedSet(options.maxRecentDecided ?? Math.max(1000, options.maxPendingAttempts));
  }

  /** Pending groups: attempts waiting for a decision and orphan steps waiting for their start. */
  get pendingCount(): number {
    return this.groupCount;
  }

  /** Entries in the deadline queues, live or stale: what they hold on to (bounded by ~2 × pending + 2048). */
  get queuedDeadlines(): number {
    return this.settleQueue.size + this.waitQueue.size;
  }

  /**
   * Buffers one matched span. `resourceAttributes`, `service` and `version` describe its resource; `nowMs` is
   * the arrival time.
   */
  add(candidate: Candidate, span: Span, resourceAttributes: readonly KeyValue[], service: string, version: string, nowMs: number): void {
    const now = this.advance(nowMs);
    const g = this.groupFor(candidate.journey, candidate.role, span.traceId, span.spanId, now);
    if (g === undefined) return;
    if (g === 'abandoned') {
      this.events.abandonedAttempt(candidate.journey, captureSpan(candidate.journey, START_ROLE, span, resourceAttributes, service, version), []);
      return;
    }
    const role = candidate.journey === g.journey ? candidate.role : roleIn(g.journey, candidate.role, candidate.stepName);
    if (role === NO_ROLE || !this.hasRoom(g, span.spanId)) return;
    this.file(g, role, captureSpan(g.journey, role, span, resourceAttributes, service, version), now);
  }

  /**
   * Buffers one span captured elsewhere (`captureSpan` with `journey`, in the thread that matched it; see
   * connectors/journeys). Same rules as `add`; when the span's attempt started under another definition of the
   * journey (a reload), the record is filed under the step of the same name and its segment values are moved to
   * that definition's dimensions by attribute; a segment only the old definition has stays unset, and a start span
   * keeps the `success.where` verdict of the definition that matched it (`add` judges both by the old one: it
   * still has the span's attributes).
   */
  addRecord(journey: CompiledJourney, stepName: string, traceId: string, record: SpanRecord, nowMs: number): void {
    const now = this.advance(nowMs);
    const g = this.groupFor(journey, record.role, traceId, record.spanId, now);
    if (g === undefined) return;
    if (g === 'abandoned') {
      this.events.abandonedAttempt(journey, record, []);
      return;
    }
    if (journey !== g.journey) {
      const role = roleIn(g.journey, record.role, stepName);
      if (role === NO_ROLE) return;
      record = refiled(record, role, journey, g.journey);
    }
    if (!this.hasRoom(g, record.spanId)) return;
    this.file(g, record.role, record, now);
  }

  /**
   * The pending group of (journey, trace), created when needed; `undefined` for a late span (counted);
   * `'abandoned'` for a start abandoned on arrival (counted; see `giveUp`).
   */
  private groupFor(journey: CompiledJourney, role: number, traceId: string, spanId: string, now: number): PendingGroup | 'abandoned' | undefined {
    const name = journey.name;
    const head = this.pending.get(traceId);
    let g = head;
    while (g !== undefined && g.journey.name !== name) g = g.next;
    if (g !== undefined) return g;
    const seen = this.recent.find(traceId, name);
    if (seen >= 0) {
      if (role !== START_ROLE || this.recent.hasStart(seen, spanId)) {
        this.events.lateSpan(name);
        return undefined;
      }
      if (this.recent.hasStart(seen, ANY_START)) {
        // The start of orphan steps dropped during Pulse's overload: an attempt it cannot judge, counted once.
        this.recent.add(traceId, name, spanId);
        this.events.abandoned(name, 1, 'overload');
        return 'abandoned';
      }
    }
    g = this.newGroup(journey, traceId, now);
    if (head === undefined) this.pending.set(traceId, g);
    else {
      g.next = head.next;
      head.next = g;
    }
    this.groupCount++;
    return g;
  }

  /** False (counted) when the span is a duplicate in its group or the group is full. */
  private hasRoom(g: PendingGroup, spanId: string): boolean {
    const records = g.records;
    for (let i = 0; i < records.length; i++) {
      if (records[i]!.spanId === spanId) {
        this.events.duplicateSpan(g.journey.name);
        return false;
      }
    }
    if (records.length >= MAX_SPANS_PER_GROUP) {
      this.events.overflowSpan(g.journey.name);
      return false;
    }
    return true;
  }

  private file(g: PendingGroup, role: number, record: SpanRecord, now: number): void {
    const journey = g.journey;
    g.records.push(record);
    if (role === START_ROLE) {
      g.startCount++;
      const until = now + this.options.traceWaitMs;
      if (until !== g.waitUntil) {
        g.waitUntil = until;
        this.waitQueue.push(until, g);
      }
      if (g.startCount === 1 && g.maskable) this.checkComplete(g, now);
      else {
        g.settleAt = -1; // the new start needs its own steps
        this.markDirty(g);
      }
    } else {
      if (role < MASK_BITS) g.seenSteps |= 1 << role;
      if (g.startCount > 0 && journey.steps[role]?.required === true) {
        if (g.startCount === 1 && g.maskable) {
          if (g.settleAt < 0) this.checkComplete(g, now);
        } else this.markDirty(g);
      }
    }

    if (this.groupCount > this.options.maxPendingAttempts) this.evictOldest(now);
  }

  /**
   * Pulse refused spans at `nowMs` because it was overloaded (a receiver shed requests unread, or the pipeline
   * refused them as full): their senders will send them again, perhaps after `traceWaitMs`. Groups running out of
   * time incomplete around then wait longer (see the contract above).
   */
  overloaded(nowMs: number): void {
    this.refusedAt = this.advance(nowMs);
  }

  /** Decides every group whose settle delay or trace wait has run out at `nowMs`. */
  tick(nowMs: number): void {
    const now = this.advance(nowMs);
    this.pendingOrder = undefined;
    // Several starts in one trace: completeness needs the step → start assignment, so it is checked once per
    // tick rather than per span (a trace with hundreds of starts must not cost quadratic time per span).
    if (this.dirty.length > 0) {
      for (const g of this.dirty.splice(0)) {
        g.dirty = false;
        if (!g.decided) this.checkComplete(g, now);
      }
    }
    while (this.settleQueue.peek() <= now) {
      const at = this.settleQueue.peek();
      const g = this.settleQueue.shift();
      if (!g.decided && g.settleAt === at) this.decide(g, 'complete', now);
    }
    while (this.waitQueue.peek() <= now) {
      const at = this.waitQueue.peek();
      const g = this.waitQueue.shift();
      if (!g.decided && g.waitUntil === at) this.timeOut(g, now);
    }
    // Decided groups leave stale entries until their deadline: a group decided early (complete, `settle_delay`)
    // would stay referenced for the rest of `trace_wait`, with its record array and boxed times: ~240k groups,
    // ~60 MB of heap at 100k spans/s with trace_wait 10s. So the queues are compacted whenever stale entries
    // outnumber the live groups: O(1) amortised per entry, and memory follows the live size.
    const bound = 2 * this.groupCount + 1024;
    if (this.waitQueue.size > bound) this.waitQueue.compact((at, g) => !g.decided && g.waitUntil === at);
    if (this.settleQueue.size > bound) this.settleQueue.compact((at, g) => !g.decided && g.settleAt === at);
  }

  /**
   * Decides everything pending now (`flush`): shutdown or end of input. Orphan steps are dropped and counted.
   * `incomplete` says what happens to attempts still missing a required step: `decide` them (end of recorded
   * input: the step will never come, so `missing_step` is the truth), or `abandon` them undecided and count them
   * (shutdown and reload: the step may well be on its way, and a `missing_step` failure would be a false one).
   */
  flush(nowMs: number, incomplete: 'decide' | 'abandon' = 'decide'): void {
    const now = this.advance(nowMs);
    for (const head of [...this.pending.values()]) {
      for (let g: PendingGroup | undefined = head; g !== undefined; g = g.next) {
        if (g.decided) continue;
        if (incomplete === 'abandon' && g.startCount > 0 && !this.isComplete(g)) {
          this.abandon(g, 'shutdown');
          continue;
        }
        this.decide(g, 'flush', now);
      }
    }
    this.settleQueue.compact(() => false);
    this.waitQueue.compact(() => false);
  }

  private advance(nowMs: number): number {
    if (nowMs > this.now) this.now = nowMs;
    return this.now;
  }

  private newGroup(journey: CompiledJourney, traceId: string, now: number): PendingGroup {
    let mask = this.masks.get(journey);
    if (mask === undefined) {
      let required = 0;
      let maskable = true;
      for (const step of journey.steps) {
        if (!step.required) continue;
        if (step.index < MASK_BITS) required |= 1 << step.index;
        else maskable = false;
      }
      mask = { required, maskable };
      this.masks.set(journey, mask);
    }
    const g = new PendingGroup(journey, traceId, mask.required, mask.maskable, now, now + this.options.traceWaitMs);
    this.waitQueue.push(g.waitUntil, g);
    return g;
  }

  private markDirty(g: PendingGroup): void {
    if (g.dirty) return;
    g.dirty = true;
    this.dirty.push(g);
  }

  private isComplete(g: PendingGroup): boolean {
    return g.startCount === 1 && g.maskable
      ? (g.seenSteps & g.requiredSteps) === g.requiredSteps
      : everyStartComplete(g.journey, g.records, g.startCount);
  }

  private checkComplete(g: PendingGroup, now: number): void {
    const complete = this.isComplete(g);
    if (!complete) {
      g.settleAt = -1;
      return;
    }
    if (g.settleAt >= 0) return;
    g.settleAt = now + this.options.settleDelayMs;
    this.settleQueue.push(g.settleAt, g);
  }

  /** A group whose trace wait ran out: decided, or (Pulse overloaded) given more time or abandoned. */
  private timeOut(g: PendingGroup, now: number): void {
    if (!this.missingForOverload(g)) this.decide(g, 'timeout', now);
    else if (g.extensions < (this.options.overloadExtraWaits ?? MAX_OVERLOAD_EXTENSIONS)) {
      g.extensions++;
      g.extendedAt = now;
      g.waitUntil = now + this.options.traceWaitMs;
      this.waitQueue.push(g.waitUntil, g);
      this.events.waitExtended(g.journey.name);
    } else this.giveUp(g, 'timeout', now);
  }

  /**
   * Whether `g` is incomplete and Pulse refused spans for overload when they may have been its own: from
   * `traceWaitMs` before its first span on, or, once its wait was extended, during its last extra wait.
   */
  private missingForOverload(g: PendingGroup): boolean {
    const refused = g.extendedAt < 0 ? this.refusedAt >= g.createdAt - this.options.traceWaitMs : this.refusedAt > g.extendedAt;
    return refused && (g.startCount === 0 || !this.isComplete(g));
  }

  /**
   * Ends a group that Pulse's overload may have kept spans from: its attempts are abandoned; orphan steps are
   * dropped (counted), and their start, which may still be on its way, will be abandoned too rather than begin an
   * attempt without them.
   */
  private giveUp(g: PendingGroup, by: DecidedBy, now: number): void {
    if (g.startCount > 0) return this.abandon(g, 'overload');
    this.recent.add(g.traceId, g.journey.name, ANY_START);
    this.decide(g, by, now);
  }

  /**
   * Drops an incomplete group's attempts undecided, counted. Its starts are remembered as decided, so that spans of
   * the trace sent again later are late spans, not orphans.
   */
  private abandon(g: PendingGroup, reason: AbandonReason): void {
    g.decided = true;
    this.unlink(g);
    const name = g.journey.name;
    const records = g.records;
    for (const r of records) if (r.role === START_ROLE) this.recent.add(g.traceId, name, r.spanId);
    this.events.abandoned(name, g.startCount, reason);
    forEachAttempt(records, g.startCount, (start, steps) => this.events.abandonedAttempt(g.journey, start, steps));
    g.records = [];
  }

  private decide(g: PendingGroup, by: DecidedBy, now: number): void {
    g.decided = true;
    this.unlink(g);
    const name = g.journey.name;
    if (g.startCount === 0) {
      this.events.orphanSteps(name, g.records.length);
      g.records = [];
      return;
    }
    const attempts = buildAttempts(g.journey, g.traceId, g.records, g.startCount, by, now);
    g.records = [];
    for (const a of attempts) this.recent.add(g.traceId, name, a.startSpanId);
    if (by === 'evicted') this.events.evicted(name, attempts.length);
    const delayMs = now - g.createdAt;
    for (const a of attempts) this.events.decided(g.journey, a, delayMs);
  }

  private unlink(g: PendingGroup): void {
    this.groupCount--;
    const head = this.pending.get(g.traceId);
    if (head === g) {
      if (g.next === undefined) this.pending.delete(g.traceId);
      else this.pending.set(g.traceId, g.next);
      return;
    }
    for (let p = head; p !== undefined; p = p.next) {
      if (p.next === g) {
        p.next = g.next;
        return;
      }
    }
  }

  private evictOldest(now: number): void {
    while (this.groupCount > this.options.maxPendingAttempts) {
      this.pendingOrder ??= this.pending.values();
      let oldest = this.pendingOrder.next();
      if (oldest.done === true) {
        this.pendingOrder = this.pending.values();
        oldest = this.pendingOrder.next();
        if (oldest.done === true) return;
      }
      // Orphan-only groups are dropped and counted as orphan steps by decide(). While Pulse refuses spans for
      // overload, an incomplete group is given up on instead: deciding it would make a missing_step failure of
      // Pulse's own overload.
      for (let g: PendingGroup | undefined = oldest.value; g !== undefined; g = g.next) {
        if (this.missingForOverload(g)) this.giveUp(g, 'evicted', now);
        else this.decide(g, 'evicted', now);
      }
    }
  }
}

/** `roleIn` found no step of that name. */
const NO_ROLE = -2;

/**
 * The role in `journey` (the definition an attempt started with) of a span matched by another definition of the
 * same journey: the start stays the start, a step is found by name (`NO_ROLE` when that definition lacks it).
 */
function roleIn(journey: CompiledJourney, role: number, stepName: string): number {
  if (role === START_ROLE) return START_ROLE;
  const i = journey.steps.findIndex((s) => s.name === stepName);
  return i < 0 ? NO_ROLE : i;
}

/** `record` (captured for `from`) as `to` files it: its role there, its segment values under `to`'s dimensions. */
function refiled(record: SpanRecord, role: number, from: CompiledJourney, to: CompiledJourney): SpanRecord {
  let segments: Array<string | undefined> | undefined;
  if (record.segments !== undefined) {
    for (let i = 0; i < to.segments.length; i++) {
      const at = from.segments.findIndex((d) => d.attribute === to.segments[i]!.attribute);
      const text = at < 0 ? undefined : record.segments[at];
      if (text === undefined) continue;
      segments ??= new Array<string | undefined>(to.segments.length).fill(undefined);
      segments[i] = text;
    }
  }
  return new SpanRecord(record.spanId, record.parentSpanId, role, record.startNs, record.endNs, record.statusCode, record.service, record.version, segments, record.whereFailures);
}
