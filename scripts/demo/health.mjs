// Journey health for the demo's live table, read back from what Pulse wrote to ClickHouse: the SLI rows
// (pulse.journey_sli, one partial row per journey × segment value × 1 s window) and the attempts
// (pulse.journey_attempts, for the service releases each attempt went through). Always read with FINAL, so a
// batch the exporter re-sent is counted once (src/exporters/clickhouse/README.md, "Exactly once").
import { clickHouseQuery } from '../infra/clickhouse-lib.mjs';
import { count, percent } from './terminal.mjs';

/** The table covers the last WINDOW_S seconds of event time, ending LAG_S seconds ago (SLI windows still open). */
export const WINDOW_S = 30;
export const LAG_S = 4;

/** SQL of the table's main part: attempts and failures per journey and segment value. */
export const HEALTH_SQL = `SELECT journey, segment_key, segment_value, sum(attempts) AS attempts, sum(failures) AS failures
FROM pulse.journey_sli FINAL
WHERE window_start >= now() - ${WINDOW_S + LAG_S} AND window_start < now() - ${LAG_S}
GROUP BY journey, segment_key, segment_value
ORDER BY journey, segment_key, segment_value`;

/** SQL of the releases line: checkout attempts per service version they went through. */
export const RELEASES_SQL = `SELECT service, version, count() AS attempts, countIf(outcome = 'failure') AS failures
FROM pulse.journey_attempts FINAL
ARRAY JOIN services AS service, service_versions AS version
WHERE journey = 'checkout' AND start_time >= now() - ${WINDOW_S + LAG_S} AND start_time < now() - ${LAG_S}
GROUP BY service, version
ORDER BY service, version`;

/** SQL of the closing summary: what ClickHouse holds once the demo is over. */
export const TOTALS_SQL = `SELECT
  (SELECT count() FROM pulse.journey_attempts FINAL) AS attempts,
  (SELECT count() FROM pulse.journey_sli FINAL) AS sli_rows,
  (SELECT count() FROM pulse.journey_alerts FINAL) AS alert_events`;

/** SQL of the closing summary's failure reasons: why attempts failed, and where (step, service, version). */
export const REASONS_SQL = `SELECT journey, reason, failing_service, failing_version, count() AS failed
FROM pulse.journey_attempts FINAL
ARRAY JOIN reasons AS reason
WHERE outcome = 'failure'
GROUP BY journey, reason, failing_service, failing_version
ORDER BY failed DESC
LIMIT 6`;

/** SQL of the alert history (the same events as on Kafka, in ClickHouse). */
export const ALERTS_SQL = `SELECT event_time, journey, kind, status, segment_key, segment_value, summary
FROM pulse.journey_alerts FINAL
ORDER BY event_time, journey, kind`;

async function rows(httpPort, sql) {
  const body = await clickHouseQuery(httpPort, `${sql}\nFORMAT JSONEachRow`, { timeoutMs: 5000 });
  // 64-bit integers come back as strings in ClickHouse's JSON formats.
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/**
 * @returns {Promise<{ journeys: Map<string, { attempts: number, failures: number, segments: Array<{ key: string, value: string, attempts: number, failures: number }> }>,
 *                     releases: Array<{ service: string, version: string, attempts: number, failures: number }> }>}
 */
export async function readHealth(httpPort) {
  const [sli, rel] = await Promise.all([rows(httpPort, HEALTH_SQL), rows(httpPort, RELEASES_SQL)]);
  const journeys = new Map();
  for (const r of sli) {
    let j = journeys.get(r.journey);
    if (j === undefined) {
      j = { attempts: 0, failures: 0, segments: [] };
      journeys.set(r.journey, j);
    }
    const attempts = Number(r.attempts);
    const failures = Number(r.failures);
    if (r.segment_key === '') {
      j.attempts += attempts;
      j.failures += failures;
    } else {
      j.segments.push({ key: r.segment_key, value: r.segment_value, attempts, failures });
    }
  }
  const releases = rel.map((r) => ({ service: r.service, version: r.version, attempts: Number(r.attempts), failures: Number(r.failures) }));
  return { journeys, releases };
}

/** What ClickHouse holds: `{ attempts, sliRows, alertEvents }`. */
export async function readTotals(httpPort) {
  const [r] = await rows(httpPort, TOTALS_SQL);
  return { attempts: Number(r.attempts), sliRows: Number(r.sli_rows), alertEvents: Number(r.alert_events) };
}

/** Failed attempts by reason and failing service version. */
export const readFailureReasons = (httpPort) => rows(httpPort, REASONS_SQL);

/** Alert events as ClickHouse has them. */
export const readAlertHistory = (httpPort) => rows(httpPort, ALERTS_SQL);


/**
 * The table's lines.
 * @param {Awaited<ReturnType<typeof readHealth>> | null} health  null: no data yet
 * @param {{ targets: Map<string, number>, heading: string, footer: string[], paint: (style: string, text: string) => string, error?: string,
 *           coveredSeconds?: number }} o  coveredSeconds: how much of the window had traffic (less than WINDOW_S just after start)
 */
export function renderHealth(health, o) {
  const { paint, targets } = o;
  const covered = Math.min(WINDOW_S, Math.max(1, o.coveredSeconds ?? WINDOW_S));
  const perMinute = (n) => (n * 60) / covered;
  const lines = [paint('bold', o.heading)];
  lines.push(paint('dim', `${'journey'.padEnd(9)} ${'target'.padStart(6)} ${'attempts/min'.padStart(12)} ${'success'.padStart(8)}   worst segments: success (attempts/min)`));
  const names = [...targets.keys()];
  for (const name of names) {
    const j = health?.journeys.get(name);
    const target = targets.get(name);
    const targetText = `${Number((target * 100).toFixed(2))}%`;
    if (j === undefined || j.attempts === 0) {
      lines.push(`${name.padEnd(9)} ${targetText.padStart(6)} ${'–'.padStart(12)} ${'–'.padStart(8)}   ${paint('dim', o.error ?? 'waiting for SLI rows in ClickHouse …')}`);
      continue;
    }
    const ratio = 1 - j.failures / j.attempts;
    const ratioText = percent(ratio, 2).padStart(8);
    const worst = j.segments
      .filter((s) => s.attempts >= 10 && s.value !== '__unset__')
      .sort((a, b) => b.failures / b.attempts - a.failures / a.attempts || b.attempts - a.attempts)
      .filter((s) => s.failures > 0)
      .slice(0, 3)
      .map((s) => {
        const r = 1 - s.failures / s.attempts;
        const text = `${s.key}=${s.value} ${percent(r)} (${count(perMinute(s.attempts))})`;
        return r < target ? paint('red', text) : text;
      });
    const segments = worst.length > 0 ? worst.join(' · ') : paint('dim', 'no failures in any segment');
    lines.push(`${name.padEnd(9)} ${targetText.padStart(6)} ${count(perMinute(j.attempts)).padStart(12)} ${ratio < target ? paint('red', ratioText) : paint('green', ratioText)}   ${segments}`);
  }
  if (health && health.releases.length > 0) {
    const byService = new Map();
    for (const r of health.releases) byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
    const parts = [];
    for (const [service, versions] of byService) {
      // Services running one version everywhere say little; show those with a rollout going on, plus payments.
      if (versions.length < 2 && service !== 'payments') continue;
      for (const v of versions) {
        const r = 1 - v.failures / v.attempts;
        const text = `${service} ${v.version} ${percent(r)} (${count(perMinute(v.attempts))})`;
        parts.push(r < (targets.get('checkout') ?? 0.995) && v.attempts >= 5 ? paint('red', text) : text);
      }
    }
    lines.push(`${paint('dim', 'releases in checkout:')} ${parts.join(' · ')}`);
  }
  lines.push(...o.footer);
  return lines;
}
