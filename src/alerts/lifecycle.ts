/**
 * Alert lifecycle and deduplication: turns "these conditions hold now" (one `Finding` per fingerprint, from each
 * evaluation) into events.
 *
 *     not firing ──condition holds──▶ firing (event, repeat=false)
 *     firing ──still holds, repeat_interval since the last send──▶ firing (event, repeat=true)
 *     firing ──still holds, severity rose above any sent──▶ firing (event at once, repeat=true)
 *     firing ──condition false at RESOLVE_AFTER consecutive evaluations, and for keep_firing_for──▶ resolved (event,
 *                                                                           endsAt set) ──▶ forgotten
 *
 * The hysteresis (two evaluations) keeps one noisy evaluation from resolving and re-opening an incident; a journey's
 * `keep_firing_for` keeps it open longer after its condition last held (a dip of a few evaluations in a window of
 * few attempts). Every
 * event has a fresh UUID; all events of one alert share its fingerprint (`fingerprintOf`). State restored after
 * a restart (`restore`) makes a still-firing alert continue with repeat=true instead of being announced as new.
 *
 * An alert keeps the highest severity it was sent with until it resolves: a page whose fast pair lets go while a
 * ticket pair still holds repeats, and resolves, as a page (a router that opened it in the pager closes it there),
 * and the page pair firing again is not a new escalation.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AlertEvent, AlertKind, AlertSeverity } from './model.js';

/** Consecutive evaluations without the condition before an alert resolves. */
export const RESOLVE_AFTER = 2;

export interface FingerprintParts {
  readonly journey: string;
  readonly kind: AlertKind;
  readonly segment?: { readonly key: string; readonly value: string } | undefined;
  readonly service?: string | undefined;
}

/** A stable id for one alert: a hash of journey, kind, segment key and value, and service (release alerts). */
export function fingerprintOf(p: FingerprintParts): string {
  const text = [p.journey, p.kind, p.segment?.key ?? '', p.segment?.value ?? '', p.service ?? ''].join('\u0000');
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** What an evaluation found for one alert: everything of its event except the lifecycle fields. */
export type AlertDetails = Omit<AlertEvent, 'id' | 'status' | 'startsAtMs' | 'endsAtMs' | 'eventTimeMs' | 'repeat'>;

export interface Finding {
  readonly details: AlertDetails;
  /** Whether the alert's condition holds now. Findings with `false` carry current numbers for a resolved event. */
  readonly firing: boolean;
}

export interface RestoredAlert {
  readonly fingerprint: string;
  readonly journey: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  readonly segment: { readonly key: string; readonly value: string } | undefined;
  readonly startsAtMs: number;
  /** When its last event was sent. */
  readonly lastEventMs: number;
}

interface State {
  /** The latest numbers, with the highest severity sent for this alert: every later event carries it. */
  details: AlertDetails;
  readonly startsAtMs: number;
  lastSentMs: number;
  /** When the condition last held (restored alerts: their last event). */
  lastHeldMs: number;
  misses: number;
  repeatIntervalMs: number;
}

const SEVERITY_RANK: Record<AlertSeverity, number> = { ticket: 0, page: 1 };

export class AlertLifecycle {
  private readonly states = new Map<string, State>();

  constructor(private readonly newId: () => string = randomUUID) {}

  /** Fingerprints of alerts currently firing. */
  has(fingerprint: string): boolean {
    return this.states.has(fingerprint);
  }

  get firing(): ReadonlyMap<string, { readonly details: AlertDetails; readonly startsAtMs: number }> {
    return this.states;
  }

  /** Seeds alerts that were firing before a restart (their next event is a repeat, not a new alert). */
  restore(alerts: readonly RestoredAlert[], details: (a: RestoredAlert) => AlertDetails, repeatIntervalMs: (journey: string) => number): void {
    for (const a of alerts) {
      if (this.states.has(a.fingerprint)) continue;
      this.states.set(a.fingerprint, {
        details: { ...details(a), severity: a.severity },
        startsAtMs: a.startsAtMs,
        lastSentMs: a.lastEventMs,
        lastHeldMs: a.lastEventMs,
        misses: 0,
        repeatIntervalMs: repeatIntervalMs(a.journey),
      });
    }
  }

  /**
   * Applies one evaluation's findings. `repeatIntervalMs` and `keepFiringForMs` are per journey (its rules). Alerts
   * firing before and without a finding now count as not holding (e.g. their segment went quiet, their journey was
   * removed).
   */
  apply(
    findings: readonly Finding[],
    nowMs: number,
    repeatIntervalMs: (journey: string) => number,
    keepFiringForMs: (journey: string) => number = () => 0,
  ): AlertEvent[] {
    const events: AlertEvent[] = [];
    const seen = new Set<string>();
    for (const f of findings) {
      const fp = f.details.fingerprint;
      seen.add(fp);
      const state = this.states.get(fp);
      if (f.firing) {
        if (state === undefined) {
          const s: State = { details: f.details, startsAtMs: nowMs, lastSentMs: nowMs, lastHeldMs: nowMs, misses: 0, repeatIntervalMs: repeatIntervalMs(f.details.journey) };
          this.states.set(fp, s);
          events.push(this.event(s, 'firing', nowMs, false));
          continue;
        }
        const escalated = SEVERITY_RANK[f.details.severity] > SEVERITY_RANK[state.details.severity];
        state.details = escalated || f.details.severity === state.details.severity ? f.details : { ...f.details, severity: state.details.severity };
        state.misses = 0;
        state.lastHeldMs = nowMs;
        state.repeatIntervalMs = repeatIntervalMs(f.details.journey);
        if (escalated || nowMs - state.lastSentMs >= state.repeatIntervalMs) {
          state.lastSentMs = nowMs;
          events.push(this.event(state, 'firing', nowMs, true));
        }
      } else if (state !== undefined) {
        // Current numbers, but the severity the alert was sent with.
        state.details = { ...f.details, severity: state.details.severity };
        this.miss(fp, state, nowMs, events, keepFiringForMs);
      }
    }
    for (const [fp, state] of this.states) if (!seen.has(fp)) this.miss(fp, state, nowMs, events, keepFiringForMs);
    return events;
  }

  private miss(fp: string, state: State, nowMs: number, events: AlertEvent[], keepFiringForMs: (journey: string) => number): void {
    state.misses++;
    if (state.misses < RESOLVE_AFTER || nowMs - state.lastHeldMs < keepFiringForMs(state.details.journey)) return;
    this.states.delete(fp);
    events.push(this.event(state, 'resolved', nowMs, false));
  }

  private event(s: State, status: 'firing' | 'resolved', nowMs: number, repeat: boolean): AlertEvent {
    return {
      ...s.details,
      id: this.newId(),
      status,
      startsAtMs: s.startsAtMs,
      endsAtMs: status === 'resolved' ? nowMs : undefined,
      eventTimeMs: nowMs,
      repeat,
    };
  }
}
