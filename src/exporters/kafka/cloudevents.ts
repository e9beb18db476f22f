/**
 * AlertEvent (src/alerts/model.ts) → the CloudEvents 1.0 structured-mode event published on Kafka. The output type
 * comes from event-schema.ts, so the converter and the published JSON Schema cannot drift apart.
 */
import { hostname } from 'node:os';
import { pagerDutySeverity, type AlertEvent } from '../../alerts/model.js';
import { ALERT_EVENT_DATASCHEMA, type AlertCloudEvent } from './event-schema.js';

/** The default CloudEvents `source`: this host. */
export function defaultSource(): string {
  return `pulse://${hostname()}`;
}

export function toCloudEvent(e: AlertEvent, source: string): AlertCloudEvent {
  return {
    specversion: '1.0',
    id: e.id,
    source,
    type: e.status === 'firing' ? 'dev.pulse.alert.firing' : 'dev.pulse.alert.resolved',
    subject: e.journey,
    time: rfc3339(e.eventTimeMs),
    datacontenttype: 'application/json',
    dataschema: ALERT_EVENT_DATASCHEMA,
    data: {
      journey: e.journey,
      kind: e.kind,
      severity: e.severity,
      pagerduty_severity: pagerDutySeverity(e),
      status: e.status,
      fingerprint: e.fingerprint,
      starts_at: rfc3339(e.startsAtMs),
      ends_at: e.endsAtMs === undefined ? null : rfc3339(e.endsAtMs),
      repeat: e.repeat,
      segment: e.segment === undefined ? null : { key: e.segment.key, value: e.segment.value },
      objective: { target: e.objective.target, window: formatDuration(e.objective.windowMs), window_ms: e.objective.windowMs },
      error_budget_remaining: finite(e.errorBudgetRemaining),
      burn_rates: e.burnRates.map((b) => ({
        window: b.window,
        window_ms: b.windowMs,
        burn_rate: finite(b.burnRate),
        threshold: b.threshold,
      })),
      attempts: e.attempts,
      failures: e.failures,
      suspects: e.suspects.map((s) => ({
        dimension: s.dimension,
        value: s.value,
        attempts: s.attempts,
        failures: s.failures,
        failure_ratio: finite(s.failureRatio),
        share_of_failures: finite(s.shareOfFailures),
        lift: finite(s.lift),
      })),
      release:
        e.release === undefined
          ? null
          : {
              service: e.release.service,
              new_version: e.release.newVersion,
              previous_version: e.release.previousVersion,
              first_seen: rfc3339(e.release.firstSeenMs),
              new_failure_ratio: finite(e.release.newFailureRatio),
              previous_failure_ratio: finite(e.release.previousFailureRatio),
            },
      exemplar_trace_ids: [...e.exemplarTraceIds],
      owner: e.owner,
      runbook: e.runbook,
      summary: e.summary,
    },
  };
}

/** RFC 3339 in UTC with milliseconds; throws a RangeError for a time that is not a finite number. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** JSON has no NaN or Infinity (JSON.stringify would write null anyway); say null explicitly. */
function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** The largest unit that divides `ms` exactly: 2592000000 → `30d`, 5400000 → `90m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
