/**
 * Shared by the clickhouse exporter's integration tests: a checkout journey definition, OTLP traffic that matches
 * it (posted straight to a running Pulse, one request per group of checkouts), the Pulse config that sends
 * attempts and SLI rows to a real ClickHouse, queries, and the persistent queue's contents on disk.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpanKind, StatusCode, hexToId, type Span, type TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { ROOT } from '../support/pulse-process.js';
import type { AttemptRecord, SliWindow } from '../../src/journeys/model.js';
import { LATENCY_BOUNDS_MS } from '../../src/journeys/runtime/sli.js';
import { id, makeSpan, toAttributes } from '../support/traces.js';

/** The shipped checkout journey, reduced to what the tests need (kept here so edits to config/ do not move it). */
export const CHECKOUT_JOURNEY = `apiVersion: pulse/v1
kind: Journey
metadata:
  name: checkout
  owner: team-payments
spec:
  start:
    service: frontend
    span: "POST /api/checkout"
    kind: server
  steps:
    - name: charge
      service: payments
      span: "charge card"
      required: true
  success:
    no_errors: journey
    where:
      http.response.status_code: { lt: 500 }
    max_duration: 2s
  segments:
    - customer.tier
    - { name: release, attribute: service.version }
  objective:
    target: 99.5%
    window: 28d
`;

export function writeJourneys(dir: string): string {
  const journeys = join(dir, 'journeys');
  mkdirSync(journeys, { recursive: true });
  writeFileSync(join(journeys, 'checkout.yaml'), CHECKOUT_JOURNEY);
  return journeys;
}

export interface Checkout {
  /** `customer.tier`; null = none (counts under `__unset__`). */
  tier: string | null;
  ok: boolean;
  /** Start time, ms since the epoch; default now. */
  at?: number;
  durationMs?: number;
  /** frontend `service.version` (the `release` segment). */
  release?: string;
}

let traceSeq = 0;
const RUN = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .padStart(8, '0');

/** One request holding `checkouts` complete traces (start + charge), as three services would send them. */
export function checkoutBatch(checkouts: readonly Checkout[]): { batch: TraceBatch; traceIds: string[] } {
  const byRelease = new Map<string, Span[]>();
  const charges: Span[] = [];
  const traceIds: string[] = [];
  for (const c of checkouts) {
    const traceHex = `${RUN}${(++traceSeq).toString(16).padStart(24, '0')}`;
    traceIds.push(traceHex);
    const traceId = hexToId(traceHex)!;
    const at = BigInt(c.at ?? Date.now()) * 1_000_000n;
    const durationNs = BigInt(Math.round((c.durationMs ?? 40) * 1e6));
    const attrs: Record<string, string | bigint> = { 'http.request.method': 'POST', 'http.response.status_code': c.ok ? 200n : 502n };
    if (c.tier !== null) attrs['customer.tier'] = c.tier;
    const start = makeSpan({ traceId, name: 'POST /api/checkout', kind: SpanKind.SERVER, startTimeUnixNano: at, endTimeUnixNano: at + durationNs, attributes: toAttributes(attrs) });
    const release = c.release ?? '1.8.0';
    let spans = byRelease.get(release);
    if (!spans) byRelease.set(release, (spans = []));
    spans.push(start);
    charges.push(
      makeSpan({
        traceId,
        parentSpanId: start.spanId,
        name: 'charge card',
        kind: SpanKind.SERVER,
        startTimeUnixNano: at + 1_000_000n,
        endTimeUnixNano: at + 5_000_000n,
        statusCode: c.ok ? StatusCode.UNSET : StatusCode.ERROR,
      }),
    );
  }
  const resource = (service: string, version: string, spans: Span[]) => ({
    resource: { attributes: toAttributes({ 'service.name': service, 'service.version': version }), droppedAttributesCount: 0 },
    scopeSpans: [{ scope: { name: 'shop', version: '1', attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
    schemaUrl: '',
  });
  const resourceSpans = [...byRelease].map(([version, spans]) => resource('frontend', version, spans));
  resourceSpans.push(resource('payments', '2.4.1', charges));
  return { batch: { resourceSpans, spanCount: checkouts.length * 2 }, traceIds };
}

/** POSTs the checkouts to Pulse's OTLP/HTTP receiver; returns their trace ids (hex). */
export async function postCheckouts(otlpPort: number, checkouts: readonly Checkout[]): Promise<string[]> {
  const { batch, traceIds } = checkoutBatch(checkouts);
  const res = await fetch(`http://127.0.0.1:${otlpPort}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: encodeTraceRequest(batch),
  });
  if (res.status !== 200) throw new Error(`OTLP POST answered ${res.status}: ${await res.text()}`);
  return traceIds;
}

/**
 * A Pulse config: OTLP/HTTP in → journeys → clickhouse (attempts and journey_metrics); `service:` comes last.
 * `exporterExtra` lines are added to the exporter's config (and replace the defaults here for the same key).
 */
export function pulseConfig(o: { otlpPort: number; journeysDir: string; clickhouseUrl: string; exporterExtra?: string; traceWait?: string }): string {
  const extraLines = (o.exporterExtra ?? '').split('\n').filter((l) => l.trim() !== '');
  const keys = new Set(extraLines.map((l) => l.split(':')[0]!.trim()));
  const base = ['retry_on_failure: { initial_interval: 100ms, max_interval: 500ms }', 'batch: { flush_timeout: 100ms }'].filter(
    (l) => !keys.has(l.split(':')[0]!),
  );
  const extra = [...base, ...extraLines].map((l) => `    ${l}`).join('\n');
  return `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${o.otlpPort} }
connectors:
  journeys:
    directory: ${o.journeysDir}
    trace_wait: ${o.traceWait ?? '1s'}
    settle_delay: 100ms
    sli: { window: 1s, allowed_lateness: 1s }
exporters:
  clickhouse:
    endpoint: ${o.clickhouseUrl}
${extra}
service:
  pipelines:
    traces/in: { receivers: [otlp], exporters: [journeys] }
    attempts: { receivers: [journeys], exporters: [clickhouse] }
    journey_metrics: { receivers: [journeys], exporters: [clickhouse] }
`;
}

/** Rows of a query as objects (numbers as ClickHouse prints them in JSON: 64-bit integers are quoted). */
export async function rows<T = Record<string, unknown>>(query: (sql: string) => Promise<string>, sql: string): Promise<T[]> {
  const text = await query(`${sql.trim().replace(/;$/, '')} FORMAT JSONEachRow`);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

export async function scalar(query: (sql: string) => Promise<string>, sql: string): Promise<number> {
  return Number((await query(sql)).trim());
}

/** The ```sql blocks of the exporter README's "Querying journey data" section, in order. */
export function readmeQueries(): string[] {
  const readme = readFileSync(join(ROOT, 'src', 'exporters', 'clickhouse', 'README.md'), 'utf8');
  const section = readme.split('## Querying journey data')[1]!.split('\n## ')[0]!;
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
}

/** Rows held by a persistent queue directory: the item counts in its `<seq>-<items>.batch` file names. */
export function queuedItems(dir: string): number {
  let n = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^\d+-(\d+)\.batch$/.exec(name);
    if (m) n += Number(m[1]);
  }
  return n;
}

/** A decided, successful checkout attempt, `n` making its trace and start span ids unique. */
export function attempt(n: number): AttemptRecord {
  const hex = (0xabc000 + n).toString(16).padStart(32, '0');
  return {
    journey: 'checkout',
    traceId: id(hex),
    startSpanId: id(hex.slice(16)),
    startTimeUnixNano: BigInt(Date.now()) * 1_000_000n,
    durationMs: 12,
    outcome: 'success',
    reasons: [],
    signals: [],
    segments: { 'customer.tier': 'gold' },
    services: [{ service: 'frontend', version: '1.8.0' }],
    failingStep: undefined,
    spans: [],
    decidedBy: 'complete',
    decidedAtMs: Date.now(),
  };
}

/** One SLI row of `checkout` for the current 10 s window: all traffic (`''`) or a `customer.tier` value. */
export function sliRow(segmentValue: string, attempts: number, successes: number): SliWindow {
  return {
    journey: 'checkout',
    windowStartMs: Math.floor(Date.now() / 10_000) * 10_000,
    windowSeconds: 10,
    segmentKey: segmentValue === '' ? '' : 'customer.tier',
    segmentValue,
    attempts,
    successes,
    failures: attempts - successes,
    abandoned: 0,
    failuresByReason: attempts > successes ? { 'error:charge': attempts - successes } : {},
    latencyBoundsMs: LATENCY_BOUNDS_MS,
    latencyCounts: Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => (i === 5 ? attempts : 0)),
    latencySumMs: attempts * 20,
  };
}
