// Types for scenarios.mjs (a plain-JS module so it runs without a build step; TypeScript tests import it).
import type { Shop } from './shop.d.mts';

export declare const SCENARIO_TOPIC: string;

/** The alert rules the scenario journeys carry, and how long traffic must run before every rule is armed. */
export declare const SCENARIO_RULES: Readonly<{
  target: number;
  longWindowMs: number;
  shortWindowMs: number;
  factor: number;
  minAttempts: number;
  heartbeatPerMs: number;
  heartbeatMinHistoryMs: number;
  repeatIntervalMs: number;
  sliDelayMs: number;
  warmupMs: number;
}>;

/** Journey files (checkout with second-level alert windows, search): file name → YAML. */
export declare function scenarioJourneys(): Record<string, string>;
/** Writes scenarioJourneys() into `dir` (created if missing); returns `dir`. */
export declare function writeScenarioJourneys(dir: string): string;

/**
 * Pulse's config for the scenarios without `service.telemetry`: it ends inside `service:` (a telemetry block
 * indented two spaces may follow — tests/support/pulse-process.ts appends one). `alertsPath` adds a debug
 * exporter recording every alert event as a JSON line.
 */
export declare function scenarioPulseConfig(options: { journeysDir: string; httpPort: number; brokers: string; topic?: string; alertsPath?: string }): string;

export interface DriverOptions {
  /** Default 40. */
  checkoutsPerSecond: number;
  /** Default 10. */
  searchesPerSecond: number;
  /** Share of requests failing at random (charge, frontend 500, mailer; search suggestions). Default 0.002. */
  backgroundErrorRate: number;
  /** [value, weight]: default free 0.6, pro 0.3, enterprise 0.1. */
  tiers: Array<[string, number]>;
  /** [value, weight]: default eu-west-1 0.5, us-east-1 0.5. */
  regions: Array<[string, number]>;
  /** PRNG seed: the same traffic every run. */
  seed: number;
  /** Default 100. */
  tickMs: number;
}

export interface ExpectedAlert {
  /** Alert kinds that announce this fault (the first is the one it is built to produce). */
  kinds: Array<'burn_rate' | 'segment' | 'heartbeat' | 'release_regression'>;
  segment: { key: string; value: string } | undefined;
  /** The suspect that must rank first (`undefined`: no failures, so no suspects — a flatline). */
  suspect: { dimension: string; value: string } | undefined;
  release?: { service: string; newVersion: string; previousVersion: string };
}

export interface Fault {
  kind: 'segment' | 'bad_release' | 'flatline';
  description: string;
  expected: ExpectedAlert;
  /** Wall clock (ms since the epoch) when the fault took effect. */
  readonly injectedAtMs: number;
  /** Set by clear(). */
  readonly clearedAtMs: number | undefined;
  /** Ends the fault (idempotent); returns the wall-clock time it ended. */
  clear(): number;
}

export interface ScenarioDriver {
  readonly stats: { checkouts: number; searches: number; backgroundFailures: number; injectedFailures: number };
  readonly running: boolean;
  /** Steady traffic from now on (a timer every `tickMs`). */
  start(): void;
  stop(): void;
  /** Attempts of one tier fail (default: enterprise in us-east-1, every card charge; `region: undefined` = everywhere). */
  segmentFault(f?: { tier?: string; region?: string | undefined; failureRatio?: number }): Fault;
  /** payments `version` (default 2.5.0) serves `share` (0.2) of checkouts and fails `failureRatio` (0.25) of its charges. */
  badRelease(f?: { version?: string; share?: number; failureRatio?: number }): Fault;
  /** Checkouts stop happening (no spans at all); searches go on. */
  flatline(): Fault;
}

export declare function createScenarioDriver(shop: Shop, options?: Partial<DriverOptions>): ScenarioDriver;

/** The `data` of an alert CloudEvent, as far as these helpers read it. */
export interface AlertData {
  journey: string;
  kind: string;
  status: string;
  segment: { key: string; value: string } | null;
  suspects: Array<{ dimension: string; value: string }>;
}

/** `data` is a firing event of the alert `fault` should produce. */
export declare function isExpectedAlert(data: AlertData, fault: Fault): boolean;
/** Whether the top suspect is the injected cause; `undefined` when the fault names none (flatline). */
export declare function firstSuspectIsCause(data: Pick<AlertData, 'suspects'>, fault: Fault): boolean | undefined;
export declare function describeFirstSuspect(data: Pick<AlertData, 'suspects'>): string;
