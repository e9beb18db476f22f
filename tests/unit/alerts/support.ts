/**
 * Test support for SLO evaluation: journeys with alert rules compiled by the real loader, and a simulator that
 * turns synthetic traffic (one list of attempts per simulated second) into attempt records and 1-second SLI rows
 * delivered with a realistic delay, evaluating the engine on a fake clock. No sleeping: time is a number.
 */
import type { AlertEvent } from '../../../src/alerts/model.js';
import { SloEngine, DEFAULT_ENGINE_OPTIONS, type SloEngineOptions } from '../../../src/alerts/engine.js';
import type { AttemptRecord, CompiledJourney, SliWindow } from '../../../src/journeys/model.js';
import { compileYaml } from '../journeys/runtime/support.js';

/** 2025-11-22T10:00:00Z: a round time, so windows align. */
export const T0 = 1_763_805_600_000;

/** A journey document with `alerts` (YAML text, indented as under `spec:`, without the `alerts:` line). */
export function journeyWith(opts: { name?: string; alerts?: string; target?: string; window?: string; segments?: string[] } = {}): CompiledJourney {
  const name = opts.name ?? 'checkout';
  const lines = [
    'apiVersion: pulse/v1',
    'kind: Journey',
    'metadata:',
    `  name: ${name}`,
    '  owner: team-payments',
    '  runbook: https://runbooks.example.com/checkout',
    'spec:',
    '  start: { service: frontend, span: "POST /api/checkout" }',
    `  segments: [${(opts.segments ?? ['customer.tier']).join(', ')}]`,
    `  objective: { target: ${opts.target ?? '99.5%'}, window: ${opts.window ?? '28d'} }`,
  ];
  if (opts.alerts !== undefined) lines.push('  alerts:', ...opts.alerts.split('\n').map((l) => `    ${l}`));
  return compileYaml(lines.join('\n') + '\n')[0]!;
}

/** Short windows for tests and demos: a minute-long incident is enough. */
export const FAST_ALERTS = [
  'burn_rates:',
  '  - { severity: page, long: 60s, short: 10s, factor: 14.4 }',
  '  - { severity: ticket, long: 5m, short: 30s, factor: 3 }',
  'segments: { min_attempts: 20 }',
  'heartbeat: false',
  'repeat_interval: 1m',
].join('\n');

export interface SimAttempt {
  readonly failed: boolean;
  readonly journey?: string;
  readonly segments?: Record<string, string>;
  /** [service, version] pairs the attempt went through. */
  readonly services?: ReadonlyArray<readonly [string, string]>;
  readonly failingStep?: string;
}

let traceCounter = 0;

export function attemptRecord(a: SimAttempt, atMs: number): AttemptRecord {
  const trace = (++traceCounter).toString(16).padStart(32, '0');
  const services = (a.services ?? [['frontend', '5.0.1']]).map(([service, version]) => ({ service, version }));
  return {
    journey: a.journey ?? 'checkout',
    traceId: Buffer.from(trace, 'hex').toString('latin1'),
    startSpanId: 'span',
    startTimeUnixNano: BigInt(atMs) * 1_000_000n,
    durationMs: 100,
    outcome: a.failed ? 'failure' : 'success',
    reasons: a.failed ? ['error:charge'] : [],
    signals: [],
    segments: a.segments ?? {},
    services,
    failingStep: a.failed && a.failingStep !== undefined ? { step: a.failingStep, service: services[0]!.service, version: services[0]!.version } : undefined,
    spans: [],
    decidedBy: 'complete',
    decidedAtMs: atMs + 500,
  };
}

/** All-traffic and per-segment rows of one window, as the journeys connector would emit them. */
export function rowsFor(journey: string, windowStartMs: number, windowSeconds: number, attempts: readonly SimAttempt[], dims: readonly string[]): SliWindow[] {
  const counts = new Map<string, { key: string; value: string; attempts: number; failures: number }>();
  const add = (key: string, value: string, failed: boolean) => {
    const k = `${key}\u0000${value}`;
    let c = counts.get(k);
    if (!c) counts.set(k, (c = { key, value, attempts: 0, failures: 0 }));
    c.attempts++;
    if (failed) c.failures++;
  };
  for (const a of attempts) {
    add('', '', a.failed);
    for (const d of dims) add(d, a.segments?.[d] ?? '__unset__', a.failed);
  }
  return [...counts.values()].map((c) => row(journey, windowStartMs, c.attempts, c.failures, c.key === '' ? undefined : [c.key, c.value], windowSeconds));
}

export function row(journey: string, windowStartMs: number, attempts: number, failures: number, segment?: [string, string], windowSeconds = 1): SliWindow {
  return {
    journey,
    windowStartMs,
    windowSeconds,
    segmentKey: segment?.[0] ?? '',
    segmentValue: segment?.[1] ?? '',
    attempts,
    successes: attempts - failures,
    failures,
    abandoned: 0,
    failuresByReason: failures > 0 ? { 'error:charge': failures } : {},
    latencyBoundsMs: [],
    latencyCounts: [],
    latencySumMs: 0,
  };
}

/**
 * Drives an engine second by second: traffic(tMs) gives the attempts starting in [tMs, tMs + 1s). Attempts are
 * ingested when decided (at the end of their second); their 1 s SLI rows arrive `rowDelayMs` after the window end.
 * The engine is evaluated every `evaluationIntervalMs`.
 */
export class Sim {
  readonly engine: SloEngine;
  now = T0;
  readonly events: AlertEvent[] = [];
  private readonly queued: Array<{ dueMs: number; rows: SliWindow[] }> = [];
  private ids = 0;

  constructor(
    public journeys: CompiledJourney[],
    options: Partial<SloEngineOptions> = {},
    readonly rowDelayMs = 3000,
    readonly evaluationIntervalMs = 10_000,
  ) {
    this.engine = new SloEngine({ ...DEFAULT_ENGINE_OPTIONS, ...options }, () => `id-${++this.ids}`);
    this.engine.setJourneys(journeys, this.now);
  }

  reload(journeys: CompiledJourney[]): void {
    this.journeys = journeys;
    this.engine.setJourneys(journeys, this.now);
  }

  /**
   * Runs `seconds` simulated seconds; returns the events produced meanwhile. `abandoned(tMs)`: attempts of the first
   * journey starting in that second that Pulse dropped undecided (an all-traffic row's `abandoned`).
   */
  run(seconds: number, traffic: (tMs: number) => readonly SimAttempt[], abandoned?: (tMs: number) => number): AlertEvent[] {
    const produced: AlertEvent[] = [];
    for (let s = 0; s < seconds; s++) {
      const t = this.now;
      const attempts = traffic(t);
      const dropped = abandoned?.(t) ?? 0;
      if (dropped > 0) this.queued.push({ dueMs: t + 1000 + this.rowDelayMs, rows: [{ ...row(this.journeys[0]!.name, t, 0, 0), abandoned: dropped }] });
      this.engine.ingestAttempts(attempts.map((a, i) => attemptRecord(a, t + Math.floor((i * 1000) / Math.max(1, attempts.length)))));
      for (const j of this.journeys) {
        const mine = attempts.filter((a) => (a.journey ?? 'checkout') === j.name);
        if (mine.length > 0) this.queued.push({ dueMs: t + 1000 + this.rowDelayMs, rows: rowsFor(j.name, t, 1, mine, j.segments.map((d) => d.name)) });
      }
      this.now += 1000;
      while (this.queued.length > 0 && this.queued[0]!.dueMs <= this.now) this.engine.ingestRows(this.queued.shift()!.rows, this.now);
      if ((this.now - T0) % this.evaluationIntervalMs === 0) {
        const events = this.engine.evaluate(this.now);
        produced.push(...events);
        this.events.push(...events);
      }
    }
    return produced;
  }
}

/** `n` attempts of which `failures` fail; `extra` applies to all. */
export function batchOf(n: number, failures: number, extra: Omit<SimAttempt, 'failed'> = {}): SimAttempt[] {
  return Array.from({ length: n }, (_, i) => ({ ...extra, failed: i < failures }));
}

/** A Poisson-distributed count with the given mean (Knuth's method; means up to a few hundred). */
export function poissonDraw(rand: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k++;
    p *= rand();
  }
  return k;
}

/** A deterministic pseudo-random source (mulberry32), so "random" background errors are the same every run. */
export { seededRandom as seeded } from '../../../scripts/random.mjs';
