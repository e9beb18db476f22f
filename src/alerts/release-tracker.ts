/**
 * First-seen times and failure counts per journey × service × `service.version`, from attempt records.
 *
 * A version is *new* when it was first seen at least `graceMs` after the first version of its service was seen
 * here: the versions running when Pulse starts are the baseline, not releases. Its *previous* version is the
 * other version of the service, first seen before it, that was seen most recently (a rollout replaces it; a
 * canary runs beside it).
 *
 * A regression (evaluated by the engine with `ReleaseRules`): over the last `windowMs`, the new version has at
 * least `minAttempts` attempts, a failure ratio above the error budget rate (1 − target) — a regression that stays
 * within the objective is not an SLO alert — and a failure ratio significantly above the previous version's
 * (chanceOfLookingWorse in stats.ts; the previous version's attempts are counted from `newForMs` before the new
 * version appeared, so a completed rollout still has a baseline).
 *
 * Bounds: at most `MAX_VERSIONS_PER_SERVICE` versions per service (the least recently seen is forgotten) and
 * `MAX_SERVICES_PER_JOURNEY` services per journey (more are ignored); counts are kept for the journey's release
 * history (`historyMs`) only.
 */
import type { AttemptRecord } from '../journeys/model.js';
import { TieredCounts, type Counts } from './tiered-counts.js';

export const MAX_VERSIONS_PER_SERVICE = 32;
export const MAX_SERVICES_PER_JOURNEY = 64;
/** Versions first seen within this long of their service's first version are the baseline, not releases. */
export const RELEASE_GRACE_MS = 30_000;

export interface VersionState {
  readonly version: string;
  readonly firstSeenMs: number;
  lastSeenMs: number;
  readonly counts: TieredCounts;
}

export interface ServiceState {
  readonly firstSeenMs: number;
  readonly versions: Map<string, VersionState>;
}

export interface ReleaseCandidate {
  readonly service: string;
  readonly current: VersionState;
  readonly previous: VersionState;
}

export class ReleaseTracker {
  /** journey → service → state. */
  private readonly journeys = new Map<string, Map<string, ServiceState>>();
  private readonly historyMs = new Map<string, number>();

  constructor(private readonly graceMs = RELEASE_GRACE_MS) {}

  /** How long counts are kept for `journey` (its release window + 2 × new_for); set from its rules. */
  setHistory(journey: string, historyMs: number): void {
    this.historyMs.set(journey, historyMs);
  }

  add(record: AttemptRecord): void {
    const atMs = Number(record.startTimeUnixNano / 1_000_000n);
    const failed = record.outcome === 'failure' ? 1 : 0;
    let services = this.journeys.get(record.journey);
    if (services === undefined) {
      services = new Map();
      this.journeys.set(record.journey, services);
    }
    for (let i = 0; i < record.services.length; i++) {
      const { service, version } = record.services[i]!;
      if (version === '') continue;
      // One attempt counts once per service version even if several of its spans ran it.
      let dup = false;
      for (let k = 0; k < i; k++) if (record.services[k]!.service === service && record.services[k]!.version === version) dup = true;
      if (dup) continue;
      let s = services.get(service);
      if (s === undefined) {
        if (services.size >= MAX_SERVICES_PER_JOURNEY) continue;
        s = { firstSeenMs: atMs, versions: new Map() };
        services.set(service, s);
      }
      let v = s.versions.get(version);
      if (v === undefined) {
        if (s.versions.size >= MAX_VERSIONS_PER_SERVICE) this.evictLeastRecent(s);
        v = { version, firstSeenMs: atMs, lastSeenMs: atMs, counts: new TieredCounts(this.historyMs.get(record.journey) ?? 3_600_000) };
        s.versions.set(version, v);
      }
      if (atMs > v.lastSeenMs) v.lastSeenMs = atMs;
      v.counts.add(atMs, 1, failed);
    }
  }

  /** New versions of `journey`'s services (first seen within `newForMs` of `nowMs`, or still `keep`-ing an alert), with their previous version. */
  candidates(journey: string, nowMs: number, newForMs: number, keep: (service: string) => boolean): ReleaseCandidate[] {
    const services = this.journeys.get(journey);
    if (services === undefined) return [];
    const out: ReleaseCandidate[] = [];
    for (const [service, s] of services) {
      // The newest version that is a release (not part of the baseline) and still new.
      let current: VersionState | undefined;
      for (const v of s.versions.values()) {
        if (v.firstSeenMs < s.firstSeenMs + this.graceMs) continue;
        if (current === undefined || v.firstSeenMs > current.firstSeenMs) current = v;
      }
      if (current === undefined) continue;
      if (nowMs - current.firstSeenMs > newForMs && !keep(service)) continue;
      let previous: VersionState | undefined;
      for (const v of s.versions.values()) {
        if (v === current || v.firstSeenMs >= current.firstSeenMs) continue;
        if (previous === undefined || v.lastSeenMs > previous.lastSeenMs) previous = v;
      }
      if (previous !== undefined) out.push({ service, current, previous });
    }
    return out;
  }

  static sum(v: VersionState, fromMs: number, toMs: number, nowMs: number): Counts {
    return v.counts.sum(fromMs, toMs, nowMs);
  }

  /** Trims counts, forgets versions not seen within their history and journeys no longer defined. */
  trim(nowMs: number, defined: ReadonlySet<string>): void {
    for (const [journey, services] of this.journeys) {
      if (!defined.has(journey)) {
        this.journeys.delete(journey);
        continue;
      }
      const historyMs = this.historyMs.get(journey) ?? 3_600_000;
      for (const s of services.values()) {
        for (const [version, v] of s.versions) {
          v.counts.trim(nowMs);
          // Keep the first-seen facts while the version might still be someone's previous version.
          if (nowMs - v.lastSeenMs > 2 * historyMs) s.versions.delete(version);
        }
      }
    }
  }

  private evictLeastRecent(s: ServiceState): void {
    let oldest: VersionState | undefined;
    for (const v of s.versions.values()) if (oldest === undefined || v.lastSeenMs < oldest.lastSeenMs) oldest = v;
    if (oldest !== undefined) s.versions.delete(oldest.version);
  }
}
