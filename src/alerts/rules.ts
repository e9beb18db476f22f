/**
 * Compiles the `alerts:` section of a journey (schema.ts `alertsSchema`, parsed with defaults) together with the
 * journey's objective into the `AlertRules` SLO evaluation reads. The journey compiler keeps the validated
 * document in `CompiledJourney.spec`; `alertRulesOf(journey)` compiles it once per compiled journey (a reload
 * builds new `CompiledJourney` objects, so new rules) and caches the result by identity.
 */
import type { CompiledJourney } from '../journeys/model.js';
import type { AlertsSpec, JourneyDocument } from '../journeys/definition/schema.js';
import { alertsSchema } from '../journeys/definition/schema.js';
import type { AlertSeverity } from './model.js';

export interface BurnRatePair {
  readonly severity: AlertSeverity;
  readonly longMs: number;
  readonly shortMs: number;
  /** The windows as text (`1h`, `4m40s`), for events and summaries. */
  readonly long: string;
  readonly short: string;
  readonly factor: number;
}

export interface SegmentRules {
  readonly minAttempts: number;
  readonly confidence: number;
  /**
   * 1 − confidence: the chance of a false segment alert a journey may run per day of healthy traffic, shared out
   * over the segment values judged (`chanceOfLookingWorse` in stats.ts).
   */
  readonly alpha: number;
}

export type HeartbeatRules =
  | { readonly mode: 'floor'; readonly perMs: number; readonly minSuccesses: number }
  | {
      readonly mode: 'baseline';
      readonly perMs: number;
      readonly minHistoryMs: number;
      readonly baselineWindowMs: number;
      readonly ratio: number;
      readonly confidence: number;
    };

export interface ReleaseRules {
  /** A version first seen less than this long ago is new (may start a release_regression alert). */
  readonly newForMs: number;
  /** The new version's attempts over this window are compared (the shortest short window). */
  readonly windowMs: number;
  readonly minAttempts: number;
  /** 1 − confidence: the chance that a release as good as the previous one is flagged while it is new. */
  readonly alpha: number;
  /** Window lengths of time a version is judged in while new (`newForMs / windowMs`). */
  readonly looks: number;
}

export interface AlertRules {
  readonly target: number;
  readonly objectiveWindowMs: number;
  /** Failures a burn-rate pair, segment value or new release needs in its short window before it may fire. */
  readonly minFailures: number;
  /** Page pairs first, then ticket pairs; each in the order written. */
  readonly burnRates: readonly BurnRatePair[];
  readonly segments: SegmentRules | undefined;
  readonly heartbeat: HeartbeatRules | undefined;
  readonly release: ReleaseRules | undefined;
  readonly repeatIntervalMs: number;
  /** How long a firing alert stays open after its condition last held (`keep_firing_for`); 0 = two evaluations. */
  readonly keepFiringForMs: number;
  /** The longest window any rule of this journey reads (how much history it needs). */
  readonly longestWindowMs: number;
}

const DAY_MS = 86_400_000;
const WORKBOOK_OBJECTIVE_MS = 30 * DAY_MS;
/** The SRE Workbook's pairs (chapter 5, "Alerting on SLOs"), for a 30-day objective. */
export const WORKBOOK_BURN_RATES: ReadonlyArray<{ severity: AlertSeverity; longMs: number; shortMs: number; factor: number }> = [
  { severity: 'page', longMs: 3_600_000, shortMs: 300_000, factor: 14.4 },
  { severity: 'page', longMs: 6 * 3_600_000, shortMs: 1_800_000, factor: 6 },
  { severity: 'ticket', longMs: DAY_MS, shortMs: 2 * 3_600_000, factor: 3 },
  { severity: 'ticket', longMs: 3 * DAY_MS, shortMs: 6 * 3_600_000, factor: 1 },
];
/** Scaled default windows are never shorter than this (SLI rows are at least one second long). */
export const MIN_SCALED_WINDOW_MS = 1000;

/**
 * The workbook's pairs with their windows scaled by `objectiveWindowMs / 30d` (factors unchanged, so each pair
 * still spends the same share of the budget before it fires), rounded to whole seconds and at least 1 s.
 */
export function defaultBurnRates(objectiveWindowMs: number): BurnRatePair[] {
  const scale = objectiveWindowMs / WORKBOOK_OBJECTIVE_MS;
  const scaled = (ms: number) => Math.max(MIN_SCALED_WINDOW_MS, Math.round((ms * scale) / 1000) * 1000);
  return WORKBOOK_BURN_RATES.map((p) => {
    const shortMs = scaled(p.shortMs);
    // Scaling and the 1 s floor can make both windows equal for tiny objectives; keep short < long.
    const longMs = Math.max(scaled(p.longMs), shortMs + 1000);
    return { severity: p.severity, longMs, shortMs, long: formatDuration(longMs), short: formatDuration(shortMs), factor: p.factor };
  });
}

/** 4_680_000 → `1h18m`; 280_000 → `4m40s`; 1500 → `1.5s`; whole units only, largest first. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms % 1000 !== 0 && ms < 60_000) return `${ms / 1000}s`;
  const units: Array<[string, number]> = [
    ['d', DAY_MS],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

export function compileAlertRules(spec: AlertsSpec, objective: { target: number; windowMs: number }): AlertRules {
  const written = spec.burn_rates?.map(
    (p): BurnRatePair => ({ severity: p.severity, longMs: p.long, shortMs: p.short, long: formatDuration(p.long), short: formatDuration(p.short), factor: p.factor }),
  );
  const pairs = written ?? defaultBurnRates(objective.windowMs);
  // Stable: page pairs first, each severity in the order written.
  const burnRates = [...pairs.filter((p) => p.severity === 'page'), ...pairs.filter((p) => p.severity === 'ticket')];
  const shortest = Math.min(...burnRates.map((p) => p.shortMs));
  const longest = Math.max(...burnRates.map((p) => p.longMs));
  const firstPage = burnRates.find((p) => p.severity === 'page') ?? burnRates[0]!;

  const segConfidence = spec.segments === false ? 0.99 : spec.segments.confidence;
  const segments: SegmentRules | undefined =
    spec.segments === false ? undefined : { minAttempts: spec.segments.min_attempts, confidence: segConfidence, alpha: 1 - segConfidence };

  let heartbeat: HeartbeatRules | undefined;
  const hb = spec.heartbeat;
  if (hb !== false) {
    heartbeat =
      hb.min_successes !== undefined
        ? { mode: 'floor', perMs: hb.per, minSuccesses: hb.min_successes }
        : { mode: 'baseline', perMs: hb.per, minHistoryMs: hb.min_history, baselineWindowMs: hb.baseline_window, ratio: hb.ratio, confidence: hb.confidence };
  }

  let release: ReleaseRules | undefined;
  if (spec.release !== false) {
    const newForMs = spec.release.new_for ?? firstPage.longMs;
    release = { newForMs, windowMs: shortest, minAttempts: segments?.minAttempts ?? 20, alpha: 1 - segConfidence, looks: newForMs / shortest };
  }

  const heartbeatNeeds = heartbeat === undefined ? 0 : heartbeat.mode === 'floor' ? heartbeat.perMs : heartbeat.baselineWindowMs + heartbeat.perMs;
  return {
    target: objective.target,
    objectiveWindowMs: objective.windowMs,
    minFailures: spec.min_failures,
    burnRates,
    segments,
    heartbeat,
    release,
    repeatIntervalMs: spec.repeat_interval,
    keepFiringForMs: spec.keep_firing_for,
    longestWindowMs: Math.max(longest, heartbeatNeeds, release ? release.newForMs + release.windowMs : 0),
  };
}

const cache = new WeakMap<CompiledJourney, AlertRules>();
let defaultsSpec: AlertsSpec | undefined;

/**
 * The alert rules of a compiled journey (cached per journey object). A journey whose `spec` carries no parsed
 * `alerts` section (built by hand in tests, or by an older compiler) gets the defaults.
 */
export function alertRulesOf(journey: CompiledJourney): AlertRules {
  let rules = cache.get(journey);
  if (rules === undefined) {
    const doc = journey.spec as Partial<JourneyDocument> | undefined;
    const spec = doc?.spec?.alerts ?? (defaultsSpec ??= alertsSchema.parse({}));
    rules = compileAlertRules(spec, journey.objective);
    cache.set(journey, rules);
  }
  return rules;
}

/**
 * Rules that can never fire, for `pulse validate` (as warnings): a burn-rate factor so high that even a 100%
 * error rate stays under factor × (1 − target).
 */
export function neverFiringPairs(rules: AlertRules): BurnRatePair[] {
  return rules.burnRates.filter((p) => p.factor * (1 - rules.target) >= 1);
}
