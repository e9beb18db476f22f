/**
 * "What's different about the failures": a bounded ring of recent attempt summaries per journey, and the
 * ranking of dimension values over-represented among the failed attempts of a time window.
 *
 * Dimensions of an attempt: each segment (`customer.tier` = `enterprise`), each service it went through
 * (`service` = `payments`), each service's version (`service.version:payments` = `2.5.0`) and the failing step
 * (`failing_step` = `charge`). For a value v in the window:
 *
 *     failureRatio = failures(v) / attempts(v)
 *     shareOfFailures = failures(v) / failures(all)
 *     lift = failureRatio / (failures(all) / attempts(all))          (> 1: over-represented among failures)
 *     excess = failures(v) − attempts(v) × failures(all) / attempts(all)   (= failures(all) × share × (1 − 1/lift))
 *
 * A suspect needs `minFailures` failures (support), lift ≥ `minLift` and a share ≥ `minShare`; they are ranked by
 * excess: the failures the value accounts for beyond what it would have at the overall ratio. Lift alone favours
 * a value seen in two failed attempts, share alone a value every attempt has, and lift × share still put a tiny
 * tenant failing entirely on a bad release (19 of 19) before the release (95 of 500, 95% of the failures). Excess
 * favours broad values in turn, so a value explained by a narrower one comes right after it (`narrowerCausesFirst`).
 * `failing_step` values always have a high lift (successes have no failing step), so they rank after the other
 * dimensions: they say *where* it fails, the others *for whom* and *what changed*.
 */
import { idToHex } from '../core/model.js';
import type { AttemptRecord } from '../journeys/model.js';
import type { AlertSuspect } from './model.js';

export const FAILING_STEP = 'failing_step';
export const SERVICE = 'service';
export const SERVICE_VERSION_PREFIX = 'service.version:';
/** Separates dimension and value in an interned dimension-value key (never part of an attribute name). */
export const DIMENSION_SEPARATOR = '\u0000';

/**
 * Interned `dimension\0value` keys, so a ring of many attempts shares one copy of each. Looked up by dimension, then
 * value, so that a hit (nearly every lookup) builds no string: concatenating and hashing a fresh key per dimension
 * per attempt was most of the cost of adding an attempt.
 */
class Interner {
  private readonly byDimension = new Map<string, Map<string, string>>();
  private size = 0;
  constructor(private readonly max: number) {}
  get(dimension: string, value: string): string {
    let values = this.byDimension.get(dimension);
    if (values === undefined) {
      values = new Map();
      this.byDimension.set(dimension, values);
    }
    const hit = values.get(value);
    if (hit !== undefined) return hit;
    // Bound the table: past it, start over (already interned strings stay shared by the summaries holding them).
    if (this.size >= this.max) {
      this.byDimension.clear();
      this.size = 0;
      values = new Map();
      this.byDimension.set(dimension, values);
    }
    const key = dimension + DIMENSION_SEPARATOR + value;
    values.set(value, key);
    this.size++;
    return key;
  }
}

/**
 * The most recent `capacity` attempts of one journey (the oldest are overwritten), as columns: start, outcome, trace
 * id and dimension list per slot. It holds ~20k attempts per journey for minutes, so every object it keeps is
 * promoted to V8's old generation and collected there: per attempt it keeps no object of its own — the trace id is
 * the record's string, and the dimension list is shared by every attempt with the same dimension values (most of
 * them: the same tiers, regions, services and versions recur).
 */
export class AttemptRing {
  private readonly startMs: Float64Array;
  private readonly failed: Uint8Array;
  private readonly traceIds: Array<string | undefined>;
  private readonly dims: Array<readonly string[] | undefined>;
  private next = 0;
  private count = 0;
  private readonly interner = new Interner(65_536);
  private readonly lists = new ListInterner(65_536);
  /** `service.version:<service>` by service, built once per service. */
  private readonly versionDimensions = new Map<string, string>();
  /** Where an attempt's dimensions are gathered before the shared list is looked up. */
  private readonly scratch: string[] = [];

  constructor(readonly capacity: number) {
    this.startMs = new Float64Array(capacity);
    this.failed = new Uint8Array(capacity);
    this.traceIds = new Array<string | undefined>(capacity).fill(undefined);
    this.dims = new Array<readonly string[] | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  add(record: AttemptRecord): void {
    const dims = this.scratch;
    dims.length = 0;
    const interner = this.interner;
    for (const key in record.segments) dims.push(interner.get(key, record.segments[key]!));
    for (const sv of record.services) {
      dims.push(interner.get(SERVICE, sv.service));
      // Keyed by the version's own dimension (one per service), so that no string is built for a hit.
      if (sv.version !== '') dims.push(interner.get(this.versionDimension(sv.service), sv.version));
    }
    if (record.failingStep !== undefined) dims.push(interner.get(FAILING_STEP, record.failingStep.step));
    dedupe(dims);
    const i = this.next;
    this.startMs[i] = Number(record.startTimeUnixNano / 1_000_000n);
    this.failed[i] = record.outcome === 'failure' ? 1 : 0;
    this.traceIds[i] = record.traceId;
    this.dims[i] = this.lists.get(dims);
    this.next = (i + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  private versionDimension(service: string): string {
    let d = this.versionDimensions.get(service);
    if (d === undefined) {
      if (this.versionDimensions.size >= 4096) this.versionDimensions.clear();
      d = SERVICE_VERSION_PREFIX + service;
      this.versionDimensions.set(service, d);
    }
    return d;
  }

  /** Slots of the attempts with a start in [fromMs, toMs), newest first; read them with `failedAt` etc. */
  window(fromMs: number, toMs: number): number[] {
    const slots: number[] = [];
    for (let k = 0; k < this.count; k++) {
      const i = this.slot(k);
      const start = this.startMs[i]!;
      if (start >= fromMs && start < toMs) slots.push(i);
    }
    return slots;
  }

  /** The slot of the `k`-th newest attempt, for `k` in [0, size). */
  slot(k: number): number {
    return (this.next - 1 - k + this.capacity) % this.capacity;
  }

  startAt(slot: number): number {
    return this.startMs[slot]!;
  }

  failedAt(slot: number): boolean {
    return this.failed[slot] === 1;
  }

  /** Binary trace id (hex only when it becomes an exemplar). */
  traceIdAt(slot: number): string {
    return this.traceIds[slot]!;
  }

  /** Interned `dimension\0value` keys, each once. */
  dimsAt(slot: number): readonly string[] {
    return this.dims[slot]!;
  }
}

/**
 * One shared, frozen copy of each list of interned keys: a trie keyed by the keys themselves (interned, so compared
 * by pointer), so that looking up a list that exists builds nothing. Bounded: past `max` nodes it starts over
 * (lists already handed out stay valid).
 */
class ListInterner {
  private root = new ListNode();
  private nodes = 0;
  constructor(private readonly max: number) {}

  get(keys: readonly string[]): readonly string[] {
    let node = this.root;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      let child = node.children?.get(key);
      if (child === undefined) {
        if (this.nodes >= this.max) {
          this.root = new ListNode();
          this.nodes = 0;
          return this.get(keys);
        }
        child = new ListNode();
        (node.children ??= new Map()).set(key, child);
        this.nodes++;
      }
      node = child;
    }
    return (node.list ??= Object.freeze(keys.slice()));
  }
}

class ListNode {
  children: Map<string, ListNode> | undefined = undefined;
  list: readonly string[] | undefined = undefined;
}

/** Removes repeated keys in place, keeping first occurrences (an attempt through two spans of one service lists it once). */
function dedupe(dims: string[]): void {
  // Interned keys compare by pointer, and lists are short: a pairwise scan, no set.
  let kept = 0;
  outer: for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    for (let j = 0; j < kept; j++) if (dims[j] === d) continue outer;
    dims[kept++] = d;
  }
  dims.length = kept;
}

export interface SuspectOptions {
  readonly maxSuspects: number;
  readonly maxExemplars: number;
  readonly minFailures: number;
  readonly minLift: number;
  readonly minShare: number;
}

export const DEFAULT_SUSPECT_OPTIONS: SuspectOptions = { maxSuspects: 5, maxExemplars: 5, minFailures: 2, minLift: 1.2, minShare: 0.05 };

export interface SuspectAnalysis {
  readonly attempts: number;
  readonly failures: number;
  readonly suspects: AlertSuspect[];
  /** Hex trace ids of failed attempts, those carrying the top suspect first, newest first. */
  readonly exemplarTraceIds: string[];
}

/** Ranks the dimension values over-represented among failures of the ring's attempts in [fromMs, toMs). */
export function analyseSuspects(ring: AttemptRing | undefined, fromMs: number, toMs: number, options: SuspectOptions): SuspectAnalysis {
  if (ring === undefined) return { attempts: 0, failures: 0, suspects: [], exemplarTraceIds: [] };
  let attempts = 0;
  let failures = 0;
  const byDim = new Map<string, { attempts: number; failures: number }>();
  const failed: number[] = [];
  // A plain loop over the ring (no generator, no iterator objects): it runs over up to `capacity` attempts per
  // journey and window at every evaluation while an alert fires.
  const size = ring.size;
  for (let k = 0; k < size; k++) {
    const slot = ring.slot(k);
    const start = ring.startAt(slot);
    if (start < fromMs || start >= toMs) continue;
    attempts++;
    const isFailed = ring.failedAt(slot);
    if (isFailed) {
      failures++;
      failed.push(slot);
    }
    const dims = ring.dimsAt(slot);
    for (let j = 0; j < dims.length; j++) {
      const d = dims[j]!;
      let c = byDim.get(d);
      if (c === undefined) {
        c = { attempts: 0, failures: 0 };
        byDim.set(d, c);
      }
      c.attempts++;
      if (isFailed) c.failures++;
    }
  }
  if (failures === 0) return { attempts, failures, suspects: [], exemplarTraceIds: [] };
  const overall = failures / attempts;
  const ranked: Array<AlertSuspect & { score: number; key: string }> = [];
  for (const [key, c] of byDim) {
    if (c.failures < options.minFailures) continue;
    const failureRatio = c.failures / c.attempts;
    const lift = failureRatio / overall;
    const shareOfFailures = c.failures / failures;
    if (lift < options.minLift || shareOfFailures < options.minShare) continue;
    const sep = key.indexOf(DIMENSION_SEPARATOR);
    ranked.push({
      dimension: key.slice(0, sep),
      value: key.slice(sep + 1),
      attempts: c.attempts,
      failures: c.failures,
      failureRatio,
      shareOfFailures,
      lift,
      score: c.failures - c.attempts * overall,
      key,
    });
  }
  const late = (s: { dimension: string }) => (s.dimension === FAILING_STEP ? 1 : 0);
  ranked.sort((a, b) => late(a) - late(b) || b.score - a.score || b.failures - a.failures || (a.key < b.key ? -1 : 1));
  const top = narrowerCausesFirst(ranked, ring, failed).slice(0, options.maxSuspects);
  const suspects = top.map(({ score: _score, key: _key, ...s }) => s);

  const exemplars: string[] = [];
  const topKey = top[0]?.key;
  if (topKey !== undefined) {
    for (const slot of failed) if (exemplars.length < options.maxExemplars && ring.dimsAt(slot).includes(topKey)) exemplars.push(idToHex(ring.traceIdAt(slot)));
  }
  for (const slot of failed) {
    if (exemplars.length >= options.maxExemplars) break;
    const hex = idToHex(ring.traceIdAt(slot));
    if (!exemplars.includes(hex)) exemplars.push(hex);
  }
  return { attempts, failures, suspects, exemplarTraceIds: exemplars };
}

/** A value whose failures are this share or more of another's is taken to explain them (as for correlated alerts). */
const EXPLAINS_SHARE = 0.9;
/** Values looked at for explaining one another: the best ranked ones (the pair counts grow with its square). */
const EXPLAIN_CANDIDATES = 32;

/**
 * Reorders `ranked` (by excess, `failing_step` last) so that a value comes right after a narrower one that explains
 * it: fewer attempts, a higher failure ratio, and 90% or more of its failures. Excess favours broad values: with
 * payments 2.5.0 (88 of 120 attempts failing) the cause of an enterprise outage (96 of 150), enterprise accounts
 * for more failures only because it also holds a few others. Chains resolve to the narrowest explaining value.
 */
function narrowerCausesFirst<T extends { key: string; dimension: string; attempts: number; failures: number; failureRatio: number }>(
  ranked: T[],
  ring: AttemptRing,
  failed: readonly number[],
): T[] {
  const head = ranked.filter((r) => r.dimension !== FAILING_STEP).slice(0, EXPLAIN_CANDIDATES);
  if (head.length < 2) return ranked;
  const n = head.length;
  const index = new Map(head.map((r, i) => [r.key, i]));
  // both[i * n + j]: failed attempts carrying head[i] and head[j].
  const both = new Uint32Array(n * n);
  const present: number[] = [];
  for (const slot of failed) {
    present.length = 0;
    for (const d of ring.dimsAt(slot)) {
      const i = index.get(d);
      if (i !== undefined) present.push(i);
    }
    for (const i of present) for (const j of present) both[i * n + j]!++;
  }
  const out: T[] = [];
  const left = head.map((_, i) => i);
  while (left.length > 0) {
    let pick = left[0]!;
    for (;;) {
      const x = head[pick]!;
      let by = -1;
      for (const j of left) {
        const y = head[j]!;
        if (y.attempts < x.attempts && y.failureRatio > x.failureRatio && both[pick * n + j]! >= EXPLAINS_SHARE * x.failures) {
          by = j;
          break; // `left` keeps the excess order: the first is the best ranked
        }
      }
      if (by < 0) break;
      pick = by;
    }
    out.push(head[pick]!);
    left.splice(left.indexOf(pick), 1);
  }
  const chosen = new Set(out);
  for (const r of ranked) if (!chosen.has(r)) out.push(r);
  return out;
}

/** How a suspect reads in a summary: `payments 2.5.0`, `service payments`, `step charge`, `customer.tier=enterprise`. */
export function describeSuspect(s: Pick<AlertSuspect, 'dimension' | 'value'>): string {
  if (s.dimension.startsWith(SERVICE_VERSION_PREFIX)) return `${s.dimension.slice(SERVICE_VERSION_PREFIX.length)} ${s.value}`;
  if (s.dimension === SERVICE) return `service ${s.value}`;
  if (s.dimension === FAILING_STEP) return `step ${s.value}`;
  return `${s.dimension}=${s.value}`;
}
