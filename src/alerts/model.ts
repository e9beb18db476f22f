/**
 * The alert contract: what SLO evaluation produces on the `alerts` signal and what the Kafka exporter (as a
 * CloudEvent), the ClickHouse exporter (`journey_alerts`) and the debug exporter consume.
 *
 * One *alert* is identified by its `fingerprint` (journey, kind, segment — and service for a release
 * regression): every event of that alert carries it, so consumers deduplicate and order by it (the Kafka message
 * key). An alert goes firing → (re-sent every `repeat_interval` while firing) → resolved. Each event has its own
 * unique `id`.
 */

export type AlertKind = 'burn_rate' | 'segment' | 'heartbeat' | 'release_regression';
export type AlertSeverity = 'page' | 'ticket';
export type AlertStatus = 'firing' | 'resolved';

/** A dimension value over-represented among the failed attempts of the alert's window. */
export interface AlertSuspect {
  /** e.g. `customer.tier`, `service.version:payments`, `service`, `failing_step`. */
  readonly dimension: string;
  readonly value: string;
  /** Attempts having this value, and how many of them failed, in the alert's window. */
  readonly attempts: number;
  readonly failures: number;
  /** failures / attempts for this value. */
  readonly failureRatio: number;
  /** This value's failures / all failures in the window. */
  readonly shareOfFailures: number;
  /** failureRatio / the window's overall failure ratio (> 1 = over-represented). */
  readonly lift: number;
}

export interface BurnRateWindow {
  /** As written, e.g. `1h`, `5m`. */
  readonly window: string;
  readonly windowMs: number;
  /** Error rate in the window / (1 − target). */
  readonly burnRate: number;
  /** The factor it was compared with. */
  readonly threshold: number;
}

export interface ReleaseDetails {
  readonly service: string;
  readonly newVersion: string;
  readonly previousVersion: string;
  readonly firstSeenMs: number;
  readonly newFailureRatio: number;
  readonly previousFailureRatio: number;
}

export interface AlertEvent {
  /** Unique per event (a UUID). */
  readonly id: string;
  /** Stable per alert: the same for its firing, repeated and resolved events. */
  readonly fingerprint: string;
  readonly journey: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  readonly status: AlertStatus;
  /** When the alert started firing (ms since epoch). */
  readonly startsAtMs: number;
  /** When it resolved; `undefined` while firing. */
  readonly endsAtMs: number | undefined;
  /** When this event was produced. */
  readonly eventTimeMs: number;
  /** `true` for a re-sent firing event (repeat_interval), `false` for the first one and for resolved. */
  readonly repeat: boolean;
  /** The segment the alert is about; `undefined` for whole-journey alerts. */
  readonly segment: { readonly key: string; readonly value: string } | undefined;
  readonly objective: { readonly target: number; readonly windowMs: number };
  /** Share of the error budget left over the objective window, 0..1 (may be negative when overspent). */
  readonly errorBudgetRemaining: number;
  readonly burnRates: readonly BurnRateWindow[];
  /** Attempts and failures in the alert's (long) window. */
  readonly attempts: number;
  readonly failures: number;
  /** Ranked, most likely cause first. */
  readonly suspects: readonly AlertSuspect[];
  readonly release: ReleaseDetails | undefined;
  /** A few hex trace ids of failed attempts, for drill-down. */
  readonly exemplarTraceIds: readonly string[];
  readonly owner: string;
  readonly runbook: string;
  /** One human sentence: "checkout failing for customer.tier=enterprise: payments 2.5.0 (lift 9.1)". */
  readonly summary: string;
}

/** PagerDuty Events v2 severity for an alert event (consumers that page map it directly). */
export function pagerDutySeverity(e: Pick<AlertEvent, 'severity' | 'status' | 'kind'>): 'critical' | 'error' | 'warning' | 'info' {
  if (e.status === 'resolved') return 'info';
  if (e.severity === 'page') return e.kind === 'heartbeat' || e.kind === 'burn_rate' ? 'critical' : 'error';
  return 'warning';
}
