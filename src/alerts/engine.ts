/**
 * The SLO evaluation engine: pure and clock-injected (every method takes `nowMs`), so tests drive time.
 *
 *     SLI rows ──▶ WindowStore (per journey: all traffic + each segment value, tiered buckets)
 *     attempts ──▶ AttemptRing (suspects, exemplars) + ReleaseTracker (first-seen versions)
 *     evaluate(now) ──▶ findings: burn_rate, segment, heartbeat, release_regression ──▶ AlertLifecycle ──▶ events
 *
 * Definitions (objective, alert rules) come from the journey snapshot given to `setJourneys`; rules are compiled
 * once per compiled journey (rules.ts). See src/connectors/slo/README.md for the math of every rule.
 */
import type { CompiledJourney, SliWindow, AttemptRecord } from '../journeys/model.js';
import type { AlertEvent, AlertKind, AlertSeverity, AlertSuspect, BurnRateWindow } from './model.js';
import { alertRulesOf, formatDuration, type AlertRules, type BurnRatePair, type HeartbeatRules } from './rules.js';
import { AlertLifecycle, fingerprintOf, type AlertDetails, type Finding, type RestoredAlert } from './lifecycle.js';
import { WindowStore, OTHER_SEGMENT_VALUE, type JourneySeries, type SegmentSeries } from './window-store.js';
import { AttemptRing, analyseSuspects, describeSuspect, DEFAULT_SUSPECT_OPTIONS, DIMENSION_SEPARATOR, SERVICE_VERSION_PREFIX, type SuspectAnalysis, type SuspectOptions } from './suspects.js';
import { ReleaseTracker } from './release-tracker.js';
import type { TieredCounts, Counts } from './tiered-counts.js';
import { chanceOfLookingWorse, poissonPmf } from './stats.js';

export interface SloEngineOptions {
  /** The most SLI history kept in memory, whatever the rules ask for. */
  readonly maxHistoryMs: number;
  /** Segment series (journey × segment key × value) kept at most. */
  readonly maxSeries: number;
  /** Fixed SLI data delay, or `undefined` to measure it from the rows. */
  readonly fixedDelayMs: number | undefined;
  /** The data delay assumed before any row arrived (auto). */
  readonly initialDelayMs: number;
  /** Attempt summaries kept per journey (suspects, exemplars). */
  readonly recentAttempts: number;
  readonly suspects: SuspectOptions;
}

export const DEFAULT_ENGINE_OPTIONS: SloEngineOptions = {
  maxHistoryMs: 7 * 86_400_000,
  maxSeries: 2000,
  fixedDelayMs: undefined,
  initialDelayMs: 30_000,
  recentAttempts: 20_000,
  suspects: DEFAULT_SUSPECT_OPTIONS,
};

/** Delays measured above this are capped. */
const MAX_DELAY_MS = 10 * 60_000;
/** Attempts up to this far past the clock still count (clock skew between services and Pulse). */
const FUTURE_SLACK_MS = 60_000;
const DAY_MS = 86_400_000;
const SEVERITY_RANK: Record<AlertSeverity, number> = { ticket: 0, page: 1 };

interface PairResult {
  readonly pair: BurnRatePair;
  readonly long: Counts;
  readonly short: Counts;
  readonly longBurn: number;
  readonly shortBurn: number;
  readonly firing: boolean;
}

export class SloEngine {
  private readonly store: WindowStore;
  private readonly rings = new Map<string, AttemptRing>();
  private readonly releases = new ReleaseTracker();
  /**
   * Release regressions open (firing, or not yet resolved) at some evaluation, by fingerprint: until when, and the
   * most severe severity seen. A segment alert whose failures ran on that version is left to it while its windows
   * still hold those failures, also after the release alert resolved (a rollback clears the release's short window
   * first). Entries older than the journey's longest rule window are dropped.
   */
  private readonly openReleases = new Map<string, OpenRelease>();
  private readonly lifecycle: AlertLifecycle;
  private journeys: readonly CompiledJourney[] = [];
  private byName = new Map<string, CompiledJourney>();
  private defined = new Set<string>();

  constructor(
    private readonly options: SloEngineOptions = DEFAULT_ENGINE_OPTIONS,
    newId?: () => string,
  ) {
    this.store = new WindowStore({
      historyMs: options.maxHistoryMs,
      maxSeries: options.maxSeries,
      fixedDelayMs: options.fixedDelayMs,
      initialDelayMs: options.initialDelayMs,
      maxDelayMs: MAX_DELAY_MS,
    });
    this.lifecycle = new AlertLifecycle(newId);
  }

  /** Segment rows not kept because of `maxSeries`. */
  get droppedRows(): number {
    return this.store.droppedRows;
  }

  get seriesCount(): number {
    return this.store.seriesCount;
  }

  get buckets(): number {
    return this.store.buckets;
  }

  /** History the rules need: the longest window of any journey (+ the data delay margin), capped. */
  historyMs(): number {
    let longest = 0;
    // Not the objective window itself: error budget remaining is computed over the history held (memory first).
    for (const j of this.journeys) longest = Math.max(longest, alertRulesOf(j).longestWindowMs);
    return Math.min(this.options.maxHistoryMs, longest + MAX_DELAY_MS);
  }

  /** Puts a (re)loaded set of definitions in force: their rules apply from the next evaluation. */
  setJourneys(journeys: readonly CompiledJourney[], nowMs: number): void {
    this.journeys = journeys;
    this.byName = new Map(journeys.map((j) => [j.name, j]));
    this.defined = new Set(this.byName.keys());
    this.store.setHistory(this.historyMs());
    for (const j of journeys) {
      this.store.ensureJourney(j.name, nowMs);
      const rules = alertRulesOf(j);
      // The previous version is read from new_for before the new one's first sighting, and a version stays new for
      // new_for: counts reach back 2 × new_for (plus the window) or the baseline shrinks as the version ages.
      if (rules.release) this.releases.setHistory(j.name, 2 * rules.release.newForMs + rules.release.windowMs);
    }
    for (const name of [...this.rings.keys()]) if (!this.defined.has(name)) this.rings.delete(name);
  }

  ingestRows(rows: readonly SliWindow[], nowMs: number): void {
    this.store.ingest(rows, nowMs, true);
  }

  ingestAttempts(records: readonly AttemptRecord[]): void {
    for (const r of records) {
      let ring = this.rings.get(r.journey);
      if (ring === undefined) {
        if (!this.defined.has(r.journey)) continue;
        ring = new AttemptRing(this.options.recentAttempts);
        this.rings.set(r.journey, ring);
      }
      ring.add(r);
      this.releases.add(r);
    }
  }

  /** Rebuilds windows from history (ClickHouse `journey_sli` rows covering [sinceMs, now)). */
  restoreHistory(rows: readonly SliWindow[], sinceMs: number, nowMs: number): void {
    this.store.ingest(rows, nowMs, false);
    for (const name of new Set([...this.defined, ...rows.map((r) => r.journey)])) {
      if (this.defined.has(name)) this.store.coverFrom(name, sinceMs, nowMs);
    }
  }

  /** Seeds alerts that were firing before a restart, so they are not announced again as new. */
  restoreAlerts(alerts: readonly RestoredAlert[]): void {
    this.lifecycle.restore(
      alerts,
      (a) => {
        const j = this.byName.get(a.journey);
        const rules = j ? alertRulesOf(j) : undefined;
        return {
          fingerprint: a.fingerprint,
          journey: a.journey,
          kind: a.kind,
          severity: a.severity,
          segment: a.segment,
          objective: { target: j?.objective.target ?? 0, windowMs: j?.objective.windowMs ?? 0 },
          errorBudgetRemaining: 1,
          burnRates: [],
          attempts: 0,
          failures: 0,
          suspects: [],
          release: undefined,
          exemplarTraceIds: [],
          owner: j?.owner ?? '',
          runbook: j?.runbook ?? '',
          summary: `${a.journey} ${a.kind} alert restored after a restart${rules ? '' : ' (the journey is no longer defined)'}`,
        };
      },
      (journey) => this.repeatInterval(journey),
    );
  }

  /** Alerts firing now, by kind (for the gauge). */
  firingByKind(): Record<AlertKind, number> {
    const out: Record<AlertKind, number> = { burn_rate: 0, segment: 0, heartbeat: 0, release_regression: 0 };
    for (const s of this.lifecycle.firing.values()) out[s.details.kind]++;
    return out;
  }

  /** Evaluates every rule of every journey at `nowMs` and returns the events to send (firing, repeated, resolved). */
  evaluate(nowMs: number): AlertEvent[] {
    const steps = this.evaluation(nowMs);
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
    }
  }

  /**
   * `evaluate`, one journey per step: the generator yields after each journey and returns the events. A caller on
   * the event loop can let other work run between journeys (with suspects analysed, one journey can take ~10 ms).
   * Everything is evaluated as of `nowMs`; data that arrives between steps is seen by the journeys not yet done.
   */
  *evaluation(nowMs: number): Generator<void, AlertEvent[]> {
    const findings: Finding[] = [];
    for (const journey of this.journeys) {
      const rules = alertRulesOf(journey);
      const series = this.store.ensureJourney(journey.name, nowMs);
      const t = this.store.dataTime(series, nowMs);
      const ctx = new JourneyContext(journey, rules, series, t, nowMs, this.rings.get(journey.name), this.options.suspects);
      // Releases are judged first, so that a segment alert the new version explains is left to its alert; their
      // findings still come last, in the order they always had.
      const releases = rules.release ? this.releaseCandidates(ctx) : [];
      this.evaluateBurnRate(ctx, findings);
      if (rules.segments) this.evaluateSegments(ctx, findings, this.releaseExplainers(ctx, releases));
      if (rules.heartbeat) this.evaluateHeartbeat(ctx, findings);
      for (const r of releases) findings.push(releaseFinding(ctx, r));
      yield;
    }
    this.store.trim(nowMs, this.defined);
    this.releases.trim(nowMs, this.defined);
    return this.lifecycle.apply(
      findings,
      nowMs,
      (j) => this.repeatInterval(j),
      (j) => this.keepFiringFor(j),
    );
  }

  private repeatInterval(journey: string): number {
    const j = this.byName.get(journey);
    return j ? alertRulesOf(j).repeatIntervalMs : 300_000;
  }

  /** A journey no longer defined keeps nothing open: its alerts resolve. */
  private keepFiringFor(journey: string): number {
    const j = this.byName.get(journey);
    return j ? alertRulesOf(j).keepFiringForMs : 0;
  }

  // ---- burn rate ------------------------------------------------------------------------------------------

  private evaluateBurnRate(ctx: JourneyContext, findings: Finding[]): void {
    const fingerprint = fingerprintOf({ journey: ctx.journey.name, kind: 'burn_rate' });
    const results = ctx.rules.burnRates.map((p) => ctx.pair(ctx.series.all, p));
    const firing = results.filter((r) => r.firing);
    if (firing.length === 0 && !this.lifecycle.has(fingerprint)) return;
    const lead = leadPair(firing) ?? results[0]!;
    const analysis = ctx.suspects(lead.pair.shortMs);
    const ratio = lead.short.attempts > 0 ? lead.short.failures / lead.short.attempts : 0;
    const head =
      `${ctx.journey.name} is burning its error budget ${fmt(lead.shortBurn)}× too fast over ${lead.pair.short} ` +
      `(${pct(ratio)} of ${lead.short.attempts} attempts failed; ${lead.pair.severity} threshold ${lead.pair.factor}×)`;
    findings.push({
      firing: firing.length > 0,
      details: ctx.details({
        fingerprint,
        kind: 'burn_rate',
        severity: lead.pair.severity,
        segment: undefined,
        errorBudgetRemaining: ctx.budgetRemaining(ctx.series.all),
        burnRates: burnWindows(lead, firing),
        attempts: lead.long.attempts,
        failures: lead.long.failures,
        analysis,
        release: undefined,
        summary: summarise(head, analysis.suspects),
      }),
    });
  }

  // ---- segments -------------------------------------------------------------------------------------------

  private evaluateSegments(ctx: JourneyContext, findings: Finding[], releases: readonly ReleaseExplainer[]): void {
    const seg = ctx.rules.segments!;
    const candidates: SegmentCandidate[] = [];
    const judged = new Map<BurnRatePair, number>();
    /** Segment values with enough attempts in the pair's short window to be judged (counted once per pair, when needed). */
    const judgedValues = (pair: BurnRatePair): number => {
      let n = judged.get(pair);
      if (n === undefined) {
        n = 0;
        for (const values of ctx.series.segments.values()) {
          for (const v of values.values()) if (v.value !== OTHER_SEGMENT_VALUE && ctx.sum(v.counts, pair.shortMs).attempts >= seg.minAttempts) n++;
        }
        n = Math.max(1, n);
        judged.set(pair, n);
      }
      return n;
    };
    for (const byValue of ctx.series.segments.values()) {
      for (const s of byValue.values()) {
        if (s.value === OTHER_SEGMENT_VALUE) continue;
        const segment = { key: s.key, value: s.value };
        const fingerprint = fingerprintOf({ journey: ctx.journey.name, kind: 'segment', segment });
        const tracked = this.lifecycle.has(fingerprint);
        const results: Array<PairResult & { rest: Counts }> = [];
        let anyFiring = false;
        for (const pair of ctx.rules.burnRates) {
          const short = ctx.sum(s.counts, pair.shortMs);
          // Cheap checks on the short window first: most segment values are healthy and stop here.
          if (!tracked && (short.attempts < seg.minAttempts || ctx.burn(short) <= pair.factor)) continue;
          const r = ctx.pair(s.counts, pair, short);
          const rest = restOf(ctx.sum(ctx.series.all, pair.shortMs), r.short);
          const firing = r.firing && short.attempts >= seg.minAttempts && this.segmentWorse(ctx, r, rest, tracked, seg.alpha / judgedValues(pair));
          if (firing) anyFiring = true;
          results.push({ ...r, firing, rest });
        }
        if (!anyFiring && !tracked) continue;
        const firing = results.filter((r) => r.firing);
        const lead = leadPair(firing) ?? results[0];
        if (lead === undefined) {
          // Tracked, but no traffic in any window any more: resolve with zero counts.
          findings.push({ firing: false, details: this.quietSegment(ctx, fingerprint, segment) });
          continue;
        }
        const ratio = lead.short.attempts > 0 ? lead.short.failures / lead.short.attempts : 0;
        candidates.push({ segment, fingerprint, tracked, anyFiring, lead, firing, series: s, ratio, explains: [] });
      }
    }
    for (const c of keepUnexplained(ctx, candidates, releases)) {
      const { lead, segment } = c;
      const analysis = ctx.suspects(lead.pair.shortMs);
      const restRatio = lead.rest.attempts > 0 ? lead.rest.failures / lead.rest.attempts : 0;
      let head =
        `${ctx.journey.name} failing for ${segment.key}=${segment.value}: ${pct(c.ratio)} of ${lead.short.attempts} attempts over ${lead.pair.short} ` +
        `vs ${pct(restRatio)} for the rest (burn rate ${fmt(lead.shortBurn)}×)`;
      if (c.explains.length > 0) head += ` (also explains ${c.explains.map((e) => `${e.key}=${e.value}`).join(', ')}: their failures are this segment's)`;
      findings.push({
        firing: c.anyFiring,
        details: ctx.details({
          fingerprint: c.fingerprint,
          kind: 'segment',
          severity: lead.pair.severity,
          segment,
          errorBudgetRemaining: ctx.budgetRemaining(c.series.counts),
          burnRates: burnWindows(lead, c.firing),
          attempts: lead.long.attempts,
          failures: lead.long.failures,
          analysis,
          release: undefined,
          summary: summarise(head, analysis.suspects),
        }),
      });
    }
  }

  /**
   * Whether a segment value's failures are too many, against the rest of the journey, to be chance.
   *
   * Now: on the short window, looked at once, under `alpha` (already shared out over the values judged). Always
   * required, and all an open alert needs: its opening paid for the looks below, and paying them again at every
   * evaluation made it resolve mid-incident whenever a window fell a failure short.
   *
   * To open: judged every evaluation for every value, the daily false alert budget has to cover every look of a
   * day, on the short window (9/10 of it: it reacts first, and a lasting fault in a small value shows there best)
   * or on the long one (1/10: once a fault in a busy value has lasted a few short windows, it holds far more
   * evidence). The long window alone could blame a value for a journey-wide fault that began after the rest's
   * traffic was counted (the rest's attempts are older); "worse now" rules that out.
   */
  private segmentWorse(ctx: JourneyContext, r: PairResult, restShort: Counts, open: boolean, alpha: number): boolean {
    const { short, long } = r;
    if (chanceOfLookingWorse(short.failures, short.attempts, restShort.failures, restShort.attempts, 0) >= alpha) return false;
    if (open) return true;
    if (chanceOfLookingWorse(short.failures, short.attempts, restShort.failures, restShort.attempts, DAY_MS / r.pair.shortMs) < alpha * (1 - LONG_WINDOW_SHARE)) return true;
    const restLong = restOf(ctx.sum(ctx.series.all, r.pair.longMs), long);
    return chanceOfLookingWorse(long.failures, long.attempts, restLong.failures, restLong.attempts, DAY_MS / r.pair.longMs) < alpha * LONG_WINDOW_SHARE;
  }

  private quietSegment(ctx: JourneyContext, fingerprint: string, segment: { key: string; value: string }): AlertDetails {
    return ctx.details({
      fingerprint,
      kind: 'segment',
      severity: 'ticket',
      segment,
      errorBudgetRemaining: 1,
      burnRates: [],
      attempts: 0,
      failures: 0,
      analysis: { attempts: 0, failures: 0, suspects: [], exemplarTraceIds: [] },
      release: undefined,
      summary: `${ctx.journey.name} for ${segment.key}=${segment.value}: no attempts any more`,
    });
  }

  // ---- heartbeat ------------------------------------------------------------------------------------------

  private evaluateHeartbeat(ctx: JourneyContext, findings: Finding[]): void {
    const hb = ctx.rules.heartbeat!;
    const fingerprint = fingerprintOf({ journey: ctx.journey.name, kind: 'heartbeat' });
    const tracked = this.lifecycle.has(fingerprint);
    const covered = ctx.t - ctx.series.coveredSinceMs;
    // Not before one whole interval of data exists: an empty store after start is not a flatline.
    if (covered < hb.perMs) {
      if (tracked) findings.push({ firing: true, details: this.lifecycle.firing.get(fingerprint)!.details });
      return;
    }
    let windowMs = hb.perMs;
    let firing: boolean;
    let head: string;
    let now: Counts;
    let successes: number;
    let unknown: number;
    if (hb.mode === 'floor') {
      ({ now, successes, unknown } = heartbeatCounts(ctx, windowMs));
      firing = successes + unknown < hb.minSuccesses;
      head = `${ctx.journey.name} ${successes === 0 ? 'stopped happening' : 'is happening too rarely'}: ${successes} successes in the last ${formatDuration(windowMs)} (floor ${hb.minSuccesses})`;
    } else {
      if (covered < hb.minHistoryMs + hb.perMs) {
        if (tracked) findings.push({ firing: true, details: this.lifecycle.firing.get(fingerprint)!.details });
        return;
      }
      // While the alert is open, the baseline is the one it fired against (the window before it started): read
      // from now, the outage itself would become the usual rate within one baseline window, and the alert would
      // resolve while the journey is still down. It resolves once successes are back to half that rate (or `ratio` of
      // it, if higher): resolving at `ratio` let a journey down to a tenth of its rate resolve on a lucky window
      // and page again.
      const open = tracked ? this.lifecycle.firing.get(fingerprint) : undefined;
      const lastMs = open !== undefined ? Math.min(ctx.t, open.startsAtMs - (ctx.nowMs - ctx.t)) : ctx.t;
      // The counting window is `per`, lengthened until a drop to `ratio` of the usual rate is significant (see
      // heartbeatWindow); the baseline ends where that window starts, so an outage inside it does not lower it.
      windowMs = heartbeatWindow(heartbeatRate(ctx, hb, lastMs - hb.perMs), hb);
      // A window reaching back before the data starts would count that gap as silence.
      if (open === undefined && windowMs > covered) return;
      const rate = heartbeatRate(ctx, hb, lastMs - windowMs);
      ({ now, successes, unknown } = heartbeatCounts(ctx, windowMs));
      const possible = successes + unknown;
      const expected = rate * windowMs;
      firing = open !== undefined ? possible < expected * Math.max(hb.ratio, HEARTBEAT_RESOLVE_RATIO) : possible <= heartbeatMaxCount(rate, windowMs, hb);
      head =
        `${ctx.journey.name} ${successes === 0 ? 'stopped happening' : 'is happening far less than usual'}: ${successes} successes in the last ` +
        `${formatDuration(windowMs)} (baseline ${fmt(expected)})`;
    }
    if (unknown > 0) head += `; ${unknown} more attempts that Pulse could not judge (abandoned)`;
    if (!firing && !tracked) return;
    const analysis = ctx.suspects(windowMs);
    findings.push({
      firing,
      details: ctx.details({
        fingerprint,
        kind: 'heartbeat',
        severity: 'page',
        segment: undefined,
        errorBudgetRemaining: ctx.budgetRemaining(ctx.series.all),
        burnRates: [],
        attempts: now.attempts,
        failures: now.failures,
        analysis,
        release: undefined,
        summary: summarise(head, analysis.suspects),
      }),
    });
  }

  // ---- release regressions --------------------------------------------------------------------------------

  /**
   * What may explain a segment alert: the release regressions open now (`releases`), then those open earlier within
   * the journey's longest rule window, which are remembered here.
   */
  private releaseExplainers(ctx: JourneyContext, releases: readonly ReleaseCandidate[]): ReleaseExplainer[] {
    const out: ReleaseExplainer[] = [];
    for (const r of releases) {
      const before = this.openReleases.get(r.fingerprint);
      const severity = before !== undefined && SEVERITY_RANK[before.severity] > SEVERITY_RANK[r.openSeverity] ? before.severity : r.openSeverity;
      this.openReleases.set(r.fingerprint, { journey: ctx.journey.name, service: r.release.service, version: r.release.newVersion, severity, openAtMs: ctx.nowMs });
      out.push({ service: r.release.service, version: r.release.newVersion, severity, openAtMs: ctx.nowMs, candidate: r });
    }
    const keepMs = ctx.rules.burnRates.reduce((m, p) => Math.max(m, p.longMs), 0);
    for (const [fingerprint, o] of this.openReleases) {
      if (o.journey !== ctx.journey.name || o.openAtMs === ctx.nowMs) continue;
      if (o.openAtMs < ctx.nowMs - keepMs) this.openReleases.delete(fingerprint);
      else out.push({ service: o.service, version: o.version, severity: o.severity, openAtMs: o.openAtMs, candidate: undefined });
    }
    return out;
  }

  /** Each release of the journey that fires now or is still tracked, with what its finding needs. */
  private releaseCandidates(ctx: JourneyContext): ReleaseCandidate[] {
    const rel = ctx.rules.release!;
    const e = 1 - ctx.rules.target;
    const fp = (service: string) => fingerprintOf({ journey: ctx.journey.name, kind: 'release_regression', service });
    const firstPage = ctx.rules.burnRates.find((p) => p.severity === 'page');
    const out: ReleaseCandidate[] = [];
    for (const c of this.releases.candidates(ctx.journey.name, ctx.nowMs, rel.newForMs, (s) => this.lifecycle.has(fp(s)))) {
      const fingerprint = fp(c.service);
      const open = this.lifecycle.has(fingerprint);
      const cur = ReleaseTracker.sum(c.current, ctx.nowMs - rel.windowMs, ctx.nowMs + FUTURE_SLACK_MS, ctx.nowMs);
      const prev = ReleaseTracker.sum(c.previous, c.current.firstSeenMs - rel.newForMs, ctx.nowMs + FUTURE_SLACK_MS, ctx.nowMs);
      const curRatio = cur.attempts > 0 ? cur.failures / cur.attempts : 0;
      const prevRatio = prev.attempts > 0 ? prev.failures / prev.attempts : 0;
      const firing =
        cur.attempts >= rel.minAttempts &&
        cur.failures >= ctx.rules.minFailures &&
        curRatio > e &&
        prev.attempts > 0 &&
        // Open: one look at the window is enough to keep it (its opening paid for the looks of new_for).
        chanceOfLookingWorse(cur.failures, cur.attempts, prev.failures, prev.attempts, open ? 0 : rel.looks) < rel.alpha;
      if (!firing && !open) continue;
      const severity: AlertSeverity = firstPage !== undefined && curRatio > firstPage.factor * e ? 'page' : 'ticket';
      // The severity it was sent with, while it is open: after a rollback its window empties before it resolves.
      const sent = this.lifecycle.firing.get(fingerprint)?.details.severity;
      out.push({
        fingerprint,
        firing,
        severity,
        openSeverity: sent !== undefined && SEVERITY_RANK[sent] > SEVERITY_RANK[severity] ? sent : severity,
        windowMs: rel.windowMs,
        e,
        attempts: cur.attempts,
        failures: cur.failures,
        release: {
          service: c.service,
          newVersion: c.current.version,
          previousVersion: c.previous.version,
          firstSeenMs: c.current.firstSeenMs,
          newFailureRatio: curRatio,
          previousFailureRatio: prevRatio,
        },
        explains: [],
      });
    }
    return out;
  }
}

/**
 * The share of a journey's daily false segment alert budget spent on the long window of a pair (the rest goes to
 * the short one). Measured (bench/alerts/segments.sim.ts): one tenant of 200 at 10 × the others' failure ratio
 * was ticketed after 56 min with 1/10 (as with the short window alone) and after 70 min with half.
 */
const LONG_WINDOW_SHARE = 0.1;

/** The journey's counts without one segment value's. */
function restOf(all: Counts, part: Counts): Counts {
  return { attempts: Math.max(0, all.attempts - part.attempts), failures: Math.max(0, all.failures - part.failures) };
}

/** An open baseline heartbeat resolves once successes are back to this share of its baseline (or `ratio`, if higher). */
const HEARTBEAT_RESOLVE_RATIO = 0.5;

type BaselineHeartbeat = Extract<HeartbeatRules, { mode: 'baseline' }>;

/**
 * How often a day healthy traffic would page, for a baseline heartbeat that fires at `count` successes or fewer in
 * a sliding window expecting `expected`: the window's count falls to `count` each time a success leaves it while
 * `count + 1` remain, about `successes a day × P(N = count + 1)` times a day (N ~ Poisson(expected)). The test is
 * on this rate, not on one window's p-value: evaluated every few seconds, a window that is unusual once in a
 * hundred (p < 0.01) is met many times a day.
 */
function heartbeatFalsePagesPerDay(count: number, expected: number, ratePerMs: number): number {
  return ratePerMs * DAY_MS * poissonPmf(count + 1, expected);
}

/**
 * The highest success count in a window of `windowMs` that fires: under `ratio` of the expected count, and reached
 * by healthy traffic fewer than `1 − confidence` times a day. −1 when no count qualifies (the window is too short
 * for the journey's rate to say anything).
 */
function heartbeatMaxCount(ratePerMs: number, windowMs: number, hb: BaselineHeartbeat): number {
  const expected = ratePerMs * windowMs;
  const budget = 1 - hb.confidence;
  // Counts under ratio × expected (< expected): P(N = count + 1) rises with count there, so bisect.
  let lo = -1;
  let hi = Math.ceil(expected * hb.ratio) - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi + 1) / 2);
    if (heartbeatFalsePagesPerDay(mid, expected, ratePerMs) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A baseline heartbeat's counting window: `per`, lengthened in steps of a quarter (whole seconds, at most
 * `baseline_window`) until a drop to `ratio` of the usual rate would fire. A journey with 40 successes a minute
 * keeps a 1m window; 10 a minute gets ~4m, 2 a minute ~15m, so a quiet journey is judged on enough successes.
 */
function heartbeatWindow(ratePerMs: number, hb: BaselineHeartbeat): number {
  let windowMs = hb.perMs;
  if (ratePerMs <= 0) return windowMs;
  while (windowMs < hb.baselineWindowMs && heartbeatMaxCount(ratePerMs, windowMs, hb) < Math.ceil(ratePerMs * windowMs * hb.ratio) - 1) {
    windowMs = Math.min(hb.baselineWindowMs, Math.ceil((windowMs * 1.25) / 1000) * 1000);
  }
  return windowMs;
}

/** Decided attempts over the last `windowMs`, their successes, and the attempts Pulse abandoned undecided. */
function heartbeatCounts(ctx: JourneyContext, windowMs: number): { now: Counts; successes: number; unknown: number } {
  const now = ctx.sum(ctx.series.all, windowMs);
  // Attempts Pulse dropped undecided (its own overload, a restart) may have succeeded: they are not a silence.
  return { now, successes: now.attempts - now.failures, unknown: ctx.sum(ctx.series.abandoned, windowMs).attempts };
}

/** Successes per millisecond over the `baseline_window` (or the history there is) ending at `baseEnd`. */
function heartbeatRate(ctx: JourneyContext, hb: BaselineHeartbeat, baseEnd: number): number {
  const spanMs = Math.min(hb.baselineWindowMs, Math.max(hb.perMs, baseEnd - ctx.series.coveredSinceMs));
  const base = ctx.series.all.sum(baseEnd - spanMs, baseEnd, ctx.nowMs);
  return (base.attempts - base.failures) / spanMs;
}

interface OpenRelease {
  readonly journey: string;
  readonly service: string;
  readonly version: string;
  readonly severity: AlertSeverity;
  /** The last evaluation it was open at. */
  readonly openAtMs: number;
}

/** A release regression that may explain a segment alert: open now (`candidate`), or open at `openAtMs`. */
interface ReleaseExplainer {
  readonly service: string;
  readonly version: string;
  readonly severity: AlertSeverity;
  readonly openAtMs: number;
  readonly candidate: ReleaseCandidate | undefined;
}

/** A release regression of one evaluation, before its finding is built (segment alerts it explains are added). */
interface ReleaseCandidate {
  readonly fingerprint: string;
  readonly firing: boolean;
  readonly severity: AlertSeverity;
  /** The more severe of `severity` and the severity the open alert was last sent with. */
  readonly openSeverity: AlertSeverity;
  readonly windowMs: number;
  /** 1 − target. */
  readonly e: number;
  readonly attempts: number;
  readonly failures: number;
  readonly release: NonNullable<AlertDetails['release']>;
  /** Segment values whose alert this one stands for. */
  readonly explains: Array<{ key: string; value: string }>;
}

function releaseFinding(ctx: JourneyContext, r: ReleaseCandidate): Finding {
  const { release } = r;
  const analysis = ctx.suspects(r.windowMs);
  let head =
    `${release.service} ${release.newVersion} (first seen ${new Date(release.firstSeenMs).toISOString()}) fails ${pct(release.newFailureRatio)} of ` +
    `${ctx.journey.name} attempts over ${formatDuration(r.windowMs)} vs ${pct(release.previousFailureRatio)} for ${release.previousVersion}`;
  if (r.explains.length > 0) head += ` (also explains ${r.explains.map((x) => `${x.key}=${x.value}`).join(', ')}: their failures ran on it)`;
  return {
    firing: r.firing,
    details: ctx.details({
      fingerprint: r.fingerprint,
      kind: 'release_regression',
      severity: r.severity,
      segment: undefined,
      errorBudgetRemaining: ctx.budgetRemaining(ctx.series.all),
      burnRates: [{ window: formatDuration(r.windowMs), windowMs: r.windowMs, burnRate: release.newFailureRatio / r.e, threshold: 1 }],
      attempts: r.attempts,
      failures: r.failures,
      analysis,
      release,
      summary: summarise(head, analysis.suspects),
    }),
  };
}

/** Per journey and evaluation: its rules, its data time, and memoised suspect analyses. */
class JourneyContext {
  private readonly analyses = new Map<number, SuspectAnalysis>();
  /** 1 − target: the failure ratio that spends the budget exactly over the objective window. */
  readonly budgetRate: number;

  constructor(
    readonly journey: CompiledJourney,
    readonly rules: AlertRules,
    readonly series: JourneySeries,
    /** Data time: windows end here. */
    readonly t: number,
    readonly nowMs: number,
    private readonly ring: AttemptRing | undefined,
    private readonly suspectOptions: SuspectOptions,
  ) {
    this.budgetRate = 1 - rules.target;
  }

  sum(counts: TieredCounts, windowMs: number): Counts {
    return counts.sum(this.t - windowMs, this.t, this.nowMs);
  }

  burn(c: Counts): number {
    return c.attempts > 0 ? c.failures / c.attempts / this.budgetRate : 0;
  }

  pair(counts: TieredCounts, pair: BurnRatePair, short?: Counts): PairResult {
    const s = short ?? this.sum(counts, pair.shortMs);
    const l = this.sum(counts, pair.longMs);
    const shortBurn = this.burn(s);
    const longBurn = this.burn(l);
    // Not before the data covers the short window: 12 minutes after a start, a 5h36m ticket pair reads 12 minutes,
    // and 4 failures of 734 attempts (0.54% against a 0.5% budget) fired it on traffic well within the objective.
    const covered = this.t - this.series.coveredSinceMs >= pair.shortMs;
    const firing = covered && longBurn > pair.factor && shortBurn > pair.factor && s.failures >= this.rules.minFailures;
    return { pair, long: l, short: s, longBurn, shortBurn, firing };
  }

  /** Share of the error budget left over the objective window, as far as the history held reaches (the longest rule window). */
  budgetRemaining(counts: TieredCounts): number {
    const c = this.sum(counts, this.rules.objectiveWindowMs);
    return c.attempts > 0 ? 1 - this.burn(c) : 1;
  }

  /**
   * Of the failed attempts carrying `of` in the attempt ring over the same span `suspects(windowMs)` reads, the share
   * that also carry `alsoIn` (0 when none carries `of`).
   */
  failuresAlsoIn(windowMs: number, of: { key: string; value: string }, alsoIn: { key: string; value: string }): number {
    if (this.ring === undefined) return 0;
    const a = of.key + DIMENSION_SEPARATOR + of.value;
    const b = alsoIn.key + DIMENSION_SEPARATOR + alsoIn.value;
    let failures = 0;
    let both = 0;
    for (const slot of this.ring.window(this.t - windowMs, this.nowMs + FUTURE_SLACK_MS)) {
      if (!this.ring.failedAt(slot)) continue;
      const dims = this.ring.dimsAt(slot);
      if (!dims.includes(a)) continue;
      failures++;
      if (dims.includes(b)) both++;
    }
    return failures === 0 ? 0 : both / failures;
  }

  /** Failure ratio of the attempts carrying `dim` in the attempt ring, over the span `suspects(windowMs)` reads (0 when none). */
  failureRatioOf(windowMs: number, dim: { key: string; value: string }): number {
    if (this.ring === undefined) return 0;
    const d = dim.key + DIMENSION_SEPARATOR + dim.value;
    let attempts = 0;
    let failures = 0;
    for (const slot of this.ring.window(this.t - windowMs, this.nowMs + FUTURE_SLACK_MS)) {
      if (!this.ring.dimsAt(slot).includes(d)) continue;
      attempts++;
      if (this.ring.failedAt(slot)) failures++;
    }
    return attempts === 0 ? 0 : failures / attempts;
  }

  /** Suspects among attempts started from `windowMs` before data time up to now (attempts are fresher than SLI rows). */
  suspects(windowMs: number): SuspectAnalysis {
    let a = this.analyses.get(windowMs);
    if (a === undefined) {
      a = analyseSuspects(this.ring, this.t - windowMs, this.nowMs + FUTURE_SLACK_MS, this.suspectOptions);
      this.analyses.set(windowMs, a);
    }
    return a;
  }

  details(d: {
    fingerprint: string;
    kind: AlertKind;
    severity: AlertSeverity;
    segment: { key: string; value: string } | undefined;
    errorBudgetRemaining: number;
    burnRates: BurnRateWindow[];
    attempts: number;
    failures: number;
    analysis: SuspectAnalysis;
    release: AlertDetails['release'];
    summary: string;
  }): AlertDetails {
    return {
      fingerprint: d.fingerprint,
      journey: this.journey.name,
      kind: d.kind,
      severity: d.severity,
      segment: d.segment,
      objective: { target: this.rules.target, windowMs: this.rules.objectiveWindowMs },
      errorBudgetRemaining: d.errorBudgetRemaining,
      burnRates: d.burnRates,
      attempts: d.attempts,
      failures: d.failures,
      suspects: d.analysis.suspects,
      release: d.release,
      exemplarTraceIds: d.analysis.exemplarTraceIds,
      owner: this.journey.owner,
      runbook: this.journey.runbook,
      summary: d.summary,
    };
  }
}

/** A segment value whose alert fires or is tracked, before correlated ones are folded together. */
interface SegmentCandidate {
  readonly segment: { readonly key: string; readonly value: string };
  readonly fingerprint: string;
  readonly tracked: boolean;
  readonly anyFiring: boolean;
  readonly lead: PairResult & { readonly rest: Counts };
  readonly firing: ReadonlyArray<PairResult & { readonly rest: Counts }>;
  readonly series: SegmentSeries;
  /** Failure ratio over the lead pair's short window. */
  readonly ratio: number;
  /** Segment values of other dimensions whose alert this one stands for. */
  readonly explains: Array<{ key: string; value: string }>;
}

/**
 * Share of a segment value's failed attempts that must also carry a stronger firing value of another dimension for
 * its alert to be left to that one: enterprise customers, all in us-east-1, failing make us-east-1 fail too, and
 * one incident should page once.
 */
export const EXPLAINED_SHARE = 0.9;

/**
 * The candidates to report: an alert about to *start* firing is dropped when another alert stands for it, and that
 * one names it instead:
 * - a firing segment alert of another dimension, as severe or more, with a failure ratio at least as high (the
 *   narrower cause), holding `EXPLAINED_SHARE` of its failed attempts (enterprise customers, all in us-east-1,
 *   failing make us-east-1 fail too);
 * - or a release regression open within the segment's lead long window (firing, not yet resolved, or resolved
 *   since: a rollback clears the release's short window before a segment's longer windows let go of its
 *   failures), as severe or more, whose new version fails at least as large a share of its attempts, and ran in
 *   `EXPLAINED_SHARE` of the segment's failed attempts (a bad release rolled out to enterprise customers first
 *   makes enterprise fail: the release is what changed). An open one names the segment in its summary.
 * Shares come from the attempt ring over the segment's lead short window. Alerts already tracked are always kept,
 * so nothing resolves or flaps because another one started.
 */
function keepUnexplained(ctx: JourneyContext, candidates: SegmentCandidate[], releases: readonly ReleaseExplainer[]): SegmentCandidate[] {
  const ranked = [...candidates].sort(
    (a, b) => b.ratio - a.ratio || a.segment.key.localeCompare(b.segment.key) || a.segment.value.localeCompare(b.segment.value),
  );
  const kept: SegmentCandidate[] = [];
  for (const c of ranked) {
    if (c.anyFiring && !c.tracked) {
      const severity = SEVERITY_RANK[c.lead.pair.severity];
      const release = releases.find((r) => {
        // Open within the segment's long window: its failures may still be that release's.
        if (SEVERITY_RANK[r.severity] < severity || r.openAtMs < ctx.nowMs - c.lead.pair.longMs) return false;
        const version = { key: SERVICE_VERSION_PREFIX + r.service, value: r.version };
        return (
          ctx.failureRatioOf(c.lead.pair.shortMs, version) >= c.ratio &&
          ctx.failuresAlsoIn(c.lead.pair.shortMs, c.segment, version) >= EXPLAINED_SHARE
        );
      });
      if (release !== undefined) {
        release.candidate?.explains.push(c.segment);
        continue;
      }
      const by = kept.find(
        (k) =>
          k.anyFiring &&
          k.segment.key !== c.segment.key &&
          SEVERITY_RANK[k.lead.pair.severity] >= severity &&
          ctx.failuresAlsoIn(c.lead.pair.shortMs, c.segment, k.segment) >= EXPLAINED_SHARE,
      );
      if (by !== undefined) {
        by.explains.push(c.segment);
        continue;
      }
    }
    kept.push(c);
  }
  return kept;
}

/** The firing pair an alert reports: the most severe, and among those the first written (the fastest). */
function leadPair<P extends PairResult>(firing: readonly P[]): P | undefined {
  let lead: P | undefined;
  for (const r of firing) if (lead === undefined || SEVERITY_RANK[r.pair.severity] > SEVERITY_RANK[lead.pair.severity]) lead = r;
  return lead;
}

/** The lead pair's windows (long first), then those of the other firing pairs. */
function burnWindows(lead: PairResult, firing: readonly PairResult[]): BurnRateWindow[] {
  const out: BurnRateWindow[] = [];
  for (const r of [lead, ...firing.filter((f) => f !== lead)]) {
    out.push({ window: r.pair.long, windowMs: r.pair.longMs, burnRate: r.longBurn, threshold: r.pair.factor });
    out.push({ window: r.pair.short, windowMs: r.pair.shortMs, burnRate: r.shortBurn, threshold: r.pair.factor });
  }
  return out;
}

function summarise(head: string, suspects: readonly AlertSuspect[]): string {
  if (suspects.length === 0) return head;
  return `${head}: ${suspects.slice(0, 3).map(describeSuspect).join(', ')}`;
}

function pct(ratio: number): string {
  const p = ratio * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p >= 1 ? p.toFixed(1) : p.toFixed(2)}%`;
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
