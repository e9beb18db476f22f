/**
 * The matching index: every selector (start and steps) of every journey of one snapshot, compiled into one
 * structure so that the cost of a span that matches nothing does not grow with the number of journeys.
 *
 * Shape:
 *
 *     service name ──(Map, once per ResourceSpans, cached)──▶ ServiceView
 *     ServiceView  = exact span name ──(Map, once per span)──▶ candidates
 *                  + span-name patterns (glob/regex/any) of selectors that apply to this service
 *                  + (when it has patterns) span name ──▶ every candidate whose name matcher accepts it, memoised
 *
 * Selectors whose service is exact or a list are filed under each name; selectors whose service is a glob, regex
 * or "any" are tested once per *service name* when its view is first built, and merged into that view. Views are
 * cached per service name, so for a resource whose service no journey mentions the per-span cost is zero (the
 * whole ResourceSpans is skipped), and otherwise it is one `Map.get`. Span names repeat (they are route templates
 * and operation names), so in a view with patterns the result of testing every pattern against a name is
 * memoised per name: the patterns run once per distinct name, and afterwards a span costs one `Map.get` however
 * many journeys and patterns are loaded. The memo is bounded (`MAX_MEMOISED_NAMES` over all views); past it,
 * names not yet seen are tested pattern by pattern each time. Kind and `where` checks run only on candidates.
 *
 * A candidate is (journey, role): role -1 is the start selector, 0..n-1 a step index. One span takes at most one
 * role per journey: start first, then steps in definition order (a definition where a span could be both start
 * and step resolves to start). It may match several journeys.
 *
 * An index is immutable after `build` apart from its view cache, and is rebuilt for every snapshot.
 */
import { getAttribute, type KeyValue, type Span } from '../../core/model.js';
import type { CompiledJourney, SpanSelector } from '../model.js';

/** Role number of the start selector. */
export const START_ROLE = -1;

export interface Candidate {
  readonly journey: CompiledJourney;
  /** Position of the journey in its snapshot; orders candidates deterministically. */
  readonly journeyOrder: number;
  /** `START_ROLE` (-1) for the start selector, else the step index. */
  readonly role: number;
  /** `start` or the step name: the value of the `journey.step` tag. */
  readonly stepName: string;
  readonly selector: SpanSelector;
}

/** What can match in one service: built once per service name and cached. */
export interface ServiceView {
  readonly exact: ReadonlyMap<string, readonly Candidate[]>;
  readonly patterns: readonly Candidate[];
  /** Views with patterns: span name → every candidate whose span matcher accepts it (memo, see file comment). */
  readonly byName: Map<string, readonly Candidate[]> | undefined;
}

/** Service views kept at most; beyond this the cache is cleared (a flood of distinct service names costs rebuilds, not memory). */
const MAX_CACHED_VIEWS = 4096;
/** Span names memoised over all views of an index, at most (a flood of distinct names costs pattern tests, not memory). */
export const MAX_MEMOISED_NAMES = 65_536;

const NO_CANDIDATES: readonly Candidate[] = Object.freeze([]);

interface SpanLevel {
  exact: Map<string, Candidate[]>;
  patterns: Candidate[];
}

export class MatcherIndex {
  /** Selectors whose service matcher is exact or a set, filed under each service name. */
  private readonly byService = new Map<string, SpanLevel>();
  /** Selectors whose service matcher is a glob, regex or any: tested per service name when its view is built. */
  private readonly serviceScan: Candidate[] = [];
  private readonly views = new Map<string, ServiceView | null>();
  /** Names the views' memos may still take. */
  private memoBudget = MAX_MEMOISED_NAMES;
  readonly candidateCount: number;

  private constructor(readonly journeys: readonly CompiledJourney[]) {
    let count = 0;
    journeys.forEach((journey, journeyOrder) => {
      this.add({ journey, journeyOrder, role: START_ROLE, stepName: 'start', selector: journey.start });
      count++;
      for (const step of journey.steps) {
        this.add({ journey, journeyOrder, role: step.index, stepName: step.name, selector: step.selector });
        count++;
      }
    });
    this.candidateCount = count;
  }

  static build(journeys: readonly CompiledJourney[]): MatcherIndex {
    return new MatcherIndex(journeys);
  }

  /**
   * The view for one service name, or `undefined` when no selector can match a span of that service (the caller
   * then skips the whole ResourceSpans). Call once per ResourceSpans.
   */
  viewFor(service: string): ServiceView | undefined {
    let view = this.views.get(service);
    if (view === undefined) {
      view = this.buildView(service);
      if (this.views.size >= MAX_CACHED_VIEWS) {
        this.views.clear();
        this.memoBudget = MAX_MEMOISED_NAMES;
      }
      this.views.set(service, view);
    }
    return view ?? undefined;
  }

  /**
   * Writes the candidates `span` matches into `out` (from index 0, at most one per journey, ordered by journey)
   * and returns how many. `resourceAttributes` are the span's resource's, for `where` conditions not found on the
   * span. Allocates nothing unless `out` must grow.
   */
  match(view: ServiceView, span: Span, resourceAttributes: readonly KeyValue[], out: Candidate[]): number {
    const name = span.name;
    let list: readonly Candidate[] | undefined;
    if (view.byName === undefined) list = view.exact.get(name);
    else {
      list = view.byName.get(name);
      if (list === undefined) list = this.resolveName(view, view.byName, name);
    }
    if (list === undefined) return 0;
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (accepts(c.selector, span, resourceAttributes)) out[n++] = c;
    }
    return n > 1 ? oneRolePerJourney(out, n) : n;
  }

  /** Every candidate of `view` whose span matcher accepts `name`, in (journey, role) order; memoised while the budget lasts. */
  private resolveName(view: ServiceView, memo: Map<string, readonly Candidate[]>, name: string): readonly Candidate[] {
    const matched: Candidate[] = [...(view.exact.get(name) ?? NO_CANDIDATES)];
    for (const c of view.patterns) if (c.selector.span.matches(name)) matched.push(c);
    matched.sort(byOrder);
    const list = matched.length === 0 ? NO_CANDIDATES : matched;
    if (this.memoBudget > 0) {
      this.memoBudget--;
      memo.set(name, list);
    }
    return list;
  }

  private add(c: Candidate): void {
    const service = c.selector.service;
    if (service.kind === 'exact' || service.kind === 'set') {
      for (const name of service.values) {
        let level = this.byService.get(name);
        if (!level) {
          level = { exact: new Map(), patterns: [] };
          this.byService.set(name, level);
        }
        fileBySpan(level, c);
      }
    } else {
      this.serviceScan.push(c);
    }
  }

  private buildView(service: string): ServiceView | null {
    const level: SpanLevel = { exact: new Map(), patterns: [] };
    const own = this.byService.get(service);
    if (own) {
      for (const [name, list] of own.exact) level.exact.set(name, [...list]);
      level.patterns.push(...own.patterns);
    }
    for (const c of this.serviceScan) if (c.selector.service.matches(service)) fileBySpan(level, c);
    if (level.exact.size === 0 && level.patterns.length === 0) return null;
    for (const list of level.exact.values()) list.sort(byOrder);
    level.patterns.sort(byOrder);
    return { exact: level.exact, patterns: level.patterns, byName: level.patterns.length > 0 ? new Map() : undefined };
  }
}

function fileBySpan(level: SpanLevel, c: Candidate): void {
  const span = c.selector.span;
  if (span.kind === 'exact' || span.kind === 'set') {
    for (const name of span.values) {
      let list = level.exact.get(name);
      if (!list) {
        list = [];
        level.exact.set(name, list);
      }
      // A set like [a, a] must not file one selector twice under one name.
      if (!list.includes(c)) list.push(c);
    }
  } else {
    level.patterns.push(c);
  }
}

/** Start before steps, steps in definition order: the order in which roles win within one journey. */
function roleOrder(c: Candidate): number {
  return c.role + 1;
}

function byOrder(a: Candidate, b: Candidate): number {
  return a.journeyOrder - b.journeyOrder || roleOrder(a) - roleOrder(b);
}

function accepts(selector: SpanSelector, span: Span, resourceAttributes: readonly KeyValue[]): boolean {
  if (selector.kind !== undefined && selector.kind !== span.kind) return false;
  const where = selector.where;
  for (let i = 0; i < where.length; i++) {
    const cond = where[i]!;
    let value = getAttribute(span.attributes, cond.key);
    if (value === undefined) value = getAttribute(resourceAttributes, cond.key);
    if (!cond.test(value)) return false;
  }
  return true;
}

/**
 * Sorts `out[0..n)` by (journey, role) in place (insertion sort: n is tiny) and keeps the first role of each
 * journey. Runs only when a span matched more than one selector.
 */
function oneRolePerJourney(out: Candidate[], n: number): number {
  for (let i = 1; i < n; i++) {
    const c = out[i]!;
    let j = i - 1;
    while (j >= 0 && byOrder(out[j]!, c) > 0) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = c;
  }
  let kept = 1;
  for (let i = 1; i < n; i++) {
    const c = out[i]!;
    if (c.journey !== out[kept - 1]!.journey) out[kept++] = c;
  }
  return kept;
}
