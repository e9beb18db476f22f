/**
 * End to end: a small shop instrumented with the real OpenTelemetry JS SDK (scripts/shop.mjs: one provider and
 * one exporter per service, version and region — frontend over OTLP/HTTP protobuf, payments over gRPC, notifier
 * over OTLP/HTTP JSON) sends checkout traces to a running `bin/pulse start` whose journeys connector loads the
 * shipped config/journeys/checkout.yaml (the issue's example). The spans of one trace arrive in different
 * requests, steps before their start. Read back from the debug exporters' JSON Lines files and the next hop:
 * one attempt record per checkout with the right outcome, reasons, failing step (service and version), segments
 * and duplicate-call signal; SLI rows whose segments sum to the all-traffic row, with only the enterprise segment
 * failing; forwarded spans tagged with journey.name/journey.step (and others untouched); the journey counters in
 * /metrics; and hot reload — a good edit takes effect as generation 2, a broken edit is logged with
 * file:line:col and the last good definitions keep deciding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAttribute, idToHex, type Span, type TraceBatch } from '../../src/core/model.js';
import { freePort, waitFor } from '../support/net.js';
import { startHttpSink, type OtlpSink } from '../support/otlp-sink.js';
import { ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { createShop, type Shop, type ShopRequest } from '../../scripts/shop.mjs';

/** The attempt record as the debug exporter writes it (src/exporters/debug/README.md): ids in hex, time as text. */
interface AttemptLine {
  journey: string;
  traceId: string;
  startSpanId: string;
  startTimeUnixNano: string;
  durationMs: number;
  outcome: 'success' | 'failure';
  reasons: string[];
  signals: string[];
  segments: Record<string, string>;
  services: Array<{ service: string; version: string }>;
  failingStep?: { step: string; service: string; version: string };
  spans: Array<{ step: string; spanId: string; service: string; version: string; statusCode: number }>;
  decidedBy: string;
}

interface SliLine {
  journey: string;
  windowStartMs: number;
  windowSeconds: number;
  segmentKey: string;
  segmentValue: string;
  attempts: number;
  successes: number;
  failures: number;
  failuresByReason: Record<string, number>;
  latencyBoundsMs: number[];
  latencyCounts: number[];
  latencySumMs: number;
}

const WHERE_5XX = 'where:http.response.status_code < 500';
const CHECKOUT_YAML = readFileSync(join(ROOT, 'config', 'journeys', 'checkout.yaml'), 'utf8');

// The same story with the attempt pipeline on the main thread (the default) and in its worker thread; each
// suite has its own Pulse, files and sink.
for (const thread of ['main', 'worker'] as const) {
  let work: string;
  let journeysDir: string;
  let journeyFile: string;
  let attemptsPath: string;
  let sliPath: string;
  let sink: OtlpSink;
  let pulse: PulseProcess;
  let shop: Shop;

  /** Whole lines of a JSON Lines file (a line still being written is left for the next read). */
  function readJsonLines<T>(path: string): T[] {
    if (!existsSync(path)) return [];
    const text = readFileSync(path, 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    return complete
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as T);
  }

  function attemptsFor(requests: readonly ShopRequest[]): AttemptLine[] {
    const ids = new Set(requests.map((r) => r.traceId));
    return readJsonLines<AttemptLine>(attemptsPath).filter((a) => ids.has(a.traceId));
  }

  async function waitForAttempts(requests: readonly ShopRequest[], what: string): Promise<Map<string, AttemptLine>> {
    const found = await waitFor(
      () => {
        const lines = attemptsFor(requests);
        return lines.length >= requests.length ? lines : undefined;
      },
      15_000,
      what,
    );
    return new Map(found.map((a) => [a.traceId, a]));
  }

  /** `name{labels} value` lines of a Prometheus text exposition, as { labels, value }. */
  function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      out.push({ labels, value: Number(m[3]) });
    }
    return out;
  }

  /** The value of the one sample of `name` whose labels include `labels`; undefined when none does. */
  function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
    const hits = samples(text, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return hits[0]?.value;
  }

  /** Pulse's own log: pino JSON lines (stderr), each with `level` and `msg`. */
  function logLines(): Array<{ level: string; msg: string }> {
    const out: Array<{ level: string; msg: string }> = [];
    for (const line of pulse.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as { level: string; msg: string });
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  function findSpan(batches: readonly TraceBatch[], spanIdHex: string): Span | undefined {
    for (const b of batches)
      for (const rs of b.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const span of ss.spans) if (idToHex(span.spanId) === spanIdHex) return span;
    return undefined;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pulse-journeys-e2e-'));
    journeysDir = join(work, 'journeys');
    journeyFile = join(journeysDir, 'checkout.yaml');
    attemptsPath = join(work, 'attempts.jsonl');
    sliPath = join(work, 'sli.jsonl');
    mkdirSync(journeysDir);
    writeFileSync(journeyFile, CHECKOUT_YAML);

    sink = await startHttpSink();
    const grpcPort = await freePort();
    const httpPort = await freePort();
    pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${grpcPort} }
      http: { endpoint: 127.0.0.1:${httpPort} }
processors:
  memory_limiter: { check_interval: 1s, limit_mib: 2048 }
  batch: { timeout: 50ms }
connectors:
  journeys:
    directory: ${journeysDir}
    trace_wait: 2s
    settle_delay: 200ms
    reload_poll_interval: 200ms
    sli: { window: 1s, allowed_lateness: 3s }
exporters:
  otlphttp/next:
    endpoint: http://127.0.0.1:${sink.port}
    retry_on_failure: { initial_interval: 50ms }
  debug/attempts: { verbosity: normal, path: ${attemptsPath} }
  debug/sli: { path: ${sliPath} }
service:
  pipelines:
    traces/in:       { receivers: [otlp], processors: [memory_limiter], exporters: [journeys] }
    traces/out:      { receivers: [journeys], processors: [batch], exporters: [otlphttp/next] }
    attempts:        { receivers: [journeys], exporters: [debug/attempts] }
    journey_metrics: { receivers: [journeys], exporters: [debug/sli] }
  derived_signals: { thread: ${thread} }
`);
    shop = createShop({
      endpoints: { http: `http://127.0.0.1:${httpPort}`, grpc: `http://127.0.0.1:${grpcPort}` },
      transports: { frontend: 'http/protobuf', payments: 'grpc', notifier: 'http/json', search: 'http/protobuf' },
      // Nothing is exported until the test flushes, service by service, in the order it chooses.
      scheduledDelayMillis: 600_000,
    });
  }, 60_000);

  afterAll(async () => {
    await shop?.shutdown();
    const code = await pulse?.stop();
    await sink?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    expect(code).toBe(0);
  });

  describe(`checkout journeys end to end through bin/pulse start (derived signals on the ${thread} thread)`, () => {
    // Phase 1: the payments canary (2.5.0) fails every enterprise charge; free and pro go through 2.4.1 and succeed.
    // Start times of the phase-1 requests (ms since the epoch), set when the first test runs.
    let base = 0;
    const at = (i: number): number => base + i * 7;
    let free: ShopRequest[];
    let pro: ShopRequest[];
    let duplicate: ShopRequest;
    let enterprise: ShopRequest[];
    let guest: ShopRequest;
    let browse: ShopRequest;
    let phase1: ShopRequest[];
    let attempts: Map<string, AttemptLine>;

    it('decides one attempt per checkout across three services: outcome, reasons, failing step and version, segments, duplicate calls', async () => {
      base = Date.now() - 500;
      free = [shop.checkout({ tier: 'free', at: at(0) }), shop.checkout({ tier: 'free', at: at(1) })];
      pro = [shop.checkout({ tier: 'pro', region: 'us-east-1', at: at(2) }), shop.checkout({ tier: 'pro', region: 'us-east-1', at: at(3) })];
      // The card is charged twice in one checkout: still a success, with the duplicate-call signal.
      duplicate = shop.checkout({ tier: 'pro', region: 'us-east-1', charges: 2, at: at(4) });
      enterprise = [5, 6, 7].map((i) => shop.checkout({ tier: 'enterprise', paymentsVersion: '2.5.0', chargeFails: true, at: at(i) }));
      // A guest checkout (no customer.tier) confirmed without ever charging the card: decided when trace_wait runs out.
      guest = shop.checkout({ tier: null, charges: 0, at: at(8) });
      browse = shop.browse({ at: at(9) });
      phase1 = [...free, ...pro, duplicate, ...enterprise, guest];
      // Steps first, the start last: every attempt's spans reach Pulse in three requests, the start span's last.
      await shop.flush(['payments', 'notifier', 'search', 'frontend']);

      attempts = await waitForAttempts(phase1, '9 checkout attempts in attempts.jsonl');
      expect(attempts.size).toBe(9);
      const ns = (i: number) => String(BigInt(at(i)) * 1_000_000n);

      for (const [i, r] of [...free, ...pro].entries()) {
        const a = attempts.get(r.traceId)!;
        const region = i < 2 ? 'eu-west-1' : 'us-east-1';
        expect(a).toMatchObject({
          journey: 'checkout',
          startSpanId: r.startSpanId,
          startTimeUnixNano: ns(i), // span (event) time, to the nanosecond the SDK recorded
          durationMs: 40,
          outcome: 'success',
          reasons: [],
          signals: [],
          segments: { 'customer.tier': i < 2 ? 'free' : 'pro', 'cloud.region': region, release: '1.8.0' },
          services: [
            { service: 'frontend', version: '1.8.0' },
            { service: 'payments', version: '2.4.1' },
            { service: 'notifier', version: '3.1.0' },
          ],
          decidedBy: 'complete',
        });
        expect(a.failingStep).toBeUndefined();
        expect(a.spans.map((s) => s.step)).toEqual(['start', 'charge', 'confirm']);
      }

      const dup = attempts.get(duplicate.traceId)!;
      expect(dup).toMatchObject({ outcome: 'success', reasons: [], signals: ['duplicate_calls:charge'], decidedBy: 'complete' });
      expect(dup.spans.map((s) => s.step)).toEqual(['start', 'charge', 'charge', 'confirm']);
      expect(dup.segments).toEqual({ 'customer.tier': 'pro', 'cloud.region': 'us-east-1', release: '1.8.0' });

      for (const r of enterprise) {
        const a = attempts.get(r.traceId)!;
        expect(a).toMatchObject({
          outcome: 'failure',
          // The charge errored in payments, and the frontend answered 502.
          reasons: ['error:charge', WHERE_5XX],
          signals: [],
          failingStep: { step: 'charge', service: 'payments', version: '2.5.0' },
          segments: { 'customer.tier': 'enterprise', 'cloud.region': 'eu-west-1', release: '1.8.0' },
          services: [
            { service: 'frontend', version: '1.8.0' },
            { service: 'payments', version: '2.5.0' },
          ],
          decidedBy: 'complete',
        });
        expect(a.spans.map((s) => [s.step, s.statusCode])).toEqual([
          ['start', 0],
          ['charge', 2],
        ]);
      }

      const g = attempts.get(guest.traceId)!;
      expect(g).toMatchObject({
        outcome: 'failure',
        reasons: ['missing_step:charge'],
        failingStep: { step: 'charge', service: 'payments', version: '' },
        decidedBy: 'timeout',
      });
      // No customer.tier anywhere in the attempt: the dimension is absent, not empty.
      expect(g.segments).toEqual({ 'cloud.region': 'eu-west-1', release: '1.8.0' });
      expect(g.spans.map((s) => s.step)).toEqual(['start', 'confirm']);
    });

    it('emits SLI rows whose segment rows sum to the all-traffic row, with failures in the enterprise segment only', async () => {
      const windows = new Set([...attempts.values()].map((a) => Math.floor(Number(BigInt(a.startTimeUnixNano) / 1_000_000n) / 1000) * 1000));
      const rowsOf = () => readJsonLines<SliLine>(sliPath).filter((r) => r.journey === 'checkout' && windows.has(r.windowStartMs));
      // Windows of 1 s are emitted 3 s (allowed_lateness) after their end.
      await waitFor(() => rowsOf().filter((r) => r.segmentKey === '').reduce((n, r) => n + r.attempts, 0) >= 9, 15_000, 'SLI rows for 9 attempts');
      const rows = rowsOf();
      expect(rows.every((r) => r.windowSeconds === 1)).toBe(true);

      // Rows are partial (one per window, more for late attempts): sum them per segment.
      const sum = new Map<string, { attempts: number; successes: number; failures: number; reasons: Record<string, number>; counts: number[]; sumMs: number }>();
      for (const r of rows) {
        const key = r.segmentKey === '' ? 'all' : `${r.segmentKey}=${r.segmentValue}`;
        const s = sum.get(key) ?? { attempts: 0, successes: 0, failures: 0, reasons: {}, counts: r.latencyCounts.map(() => 0), sumMs: 0 };
        s.attempts += r.attempts;
        s.successes += r.successes;
        s.failures += r.failures;
        for (const [reason, n] of Object.entries(r.failuresByReason)) s.reasons[reason] = (s.reasons[reason] ?? 0) + n;
        r.latencyCounts.forEach((n, i) => (s.counts[i] = (s.counts[i] ?? 0) + n));
        s.sumMs += r.latencySumMs;
        sum.set(key, s);
      }
      const brief = (key: string) => {
        const s = sum.get(key);
        return s && { attempts: s.attempts, successes: s.successes, failures: s.failures, reasons: s.reasons };
      };

      expect(brief('all')).toEqual({ attempts: 9, successes: 5, failures: 4, reasons: { 'error:charge': 3, [WHERE_5XX]: 3, 'missing_step:charge': 1 } });
      expect(brief('customer.tier=enterprise')).toEqual({ attempts: 3, successes: 0, failures: 3, reasons: { 'error:charge': 3, [WHERE_5XX]: 3 } });
      expect(brief('customer.tier=free')).toEqual({ attempts: 2, successes: 2, failures: 0, reasons: {} });
      expect(brief('customer.tier=pro')).toEqual({ attempts: 3, successes: 3, failures: 0, reasons: {} });
      expect(brief('customer.tier=__unset__')).toEqual({ attempts: 1, successes: 0, failures: 1, reasons: { 'missing_step:charge': 1 } });
      expect(brief('cloud.region=eu-west-1')).toMatchObject({ attempts: 6, successes: 2, failures: 4 });
      expect(brief('cloud.region=us-east-1')).toMatchObject({ attempts: 3, successes: 3, failures: 0 });
      expect(brief('release=1.8.0')).toMatchObject({ attempts: 9, successes: 5, failures: 4 });
      expect([...sum.keys()].sort()).toEqual(
        [
          'all',
          'cloud.region=eu-west-1',
          'cloud.region=us-east-1',
          'customer.tier=__unset__',
          'customer.tier=enterprise',
          'customer.tier=free',
          'customer.tier=pro',
          'release=1.8.0',
        ].sort(),
      );
      // Every dimension's rows add up to the all-traffic row.
      for (const dim of ['customer.tier', 'cloud.region', 'release']) {
        const parts = [...sum.entries()].filter(([k]) => k.startsWith(`${dim}=`)).map(([, s]) => s);
        expect(parts.reduce((n, s) => n + s.attempts, 0), dim).toBe(9);
        expect(parts.reduce((n, s) => n + s.failures, 0), dim).toBe(4);
      }
      // Latency is the start span's duration (40 ms each): all in the bucket bounded by 64 ms.
      const all = sum.get('all')!;
      const bounds = rows[0]!.latencyBoundsMs;
      expect(all.counts[bounds.indexOf(64)]).toBe(9);
      expect(all.counts.reduce((a, b) => a + b, 0)).toBe(9);
      expect(all.sumMs).toBeCloseTo(360, 6);

      // Nothing was decided twice, and nothing else was decided for these traces.
      expect(attemptsFor(phase1)).toHaveLength(9);
      expect(attemptsFor([browse])).toHaveLength(0);
    });

    it('forwards every span at once, journey spans tagged with journey.name and journey.step, other spans untouched', async () => {
      const sent = [...phase1, browse].flatMap((r) => r.spans);
      await waitFor(() => sent.every((s) => findSpan(sink.batches, s.spanId)), 15_000, 'every span at the next hop');
      const role: Record<string, string | undefined> = { 'POST /api/checkout': 'start', 'charge card': 'charge', 'send email': 'confirm' };
      let tagged = 0;
      for (const s of sent) {
        const span = findSpan(sink.batches, s.spanId)!;
        const step = role[s.name];
        expect([getAttribute(span.attributes, 'journey.name'), getAttribute(span.attributes, 'journey.step')], `${s.service} ${s.name}`).toEqual(
          step === undefined ? [undefined, undefined] : ['checkout', step],
        );
        if (step !== undefined) tagged++;
      }
      // 9 fraud checks (one per charge), GET /api/products and list products belong to no journey.
      expect(sent.length - tagged).toBe(9 + 2);
    });

    it('counts matched spans and decided attempts in /metrics', async () => {
      const text = await pulse.metrics();
      const attemptsTotal = (outcome: string, decidedBy: string) =>
        metric(text, 'pulse_journey_attempts_total', { connector: 'journeys', journey: 'checkout', outcome, decided_by: decidedBy });
      expect(attemptsTotal('success', 'complete')).toBe(5);
      expect(attemptsTotal('failure', 'complete')).toBe(3);
      expect(attemptsTotal('failure', 'timeout')).toBe(1);
      // 9 starts + 9 charges + 6 confirmations (none after a failed charge).
      expect(metric(text, 'pulse_journey_spans_tagged_total', { connector: 'journeys' })).toBe(24);
      expect(metric(text, 'pulse_journey_spans_matched_total', { connector: 'journeys', journey: 'checkout' })).toBe(24);
      expect(metric(text, 'pulse_journey_pending_attempts', { connector: 'journeys' })).toBe(0);
      expect(metric(text, 'pulse_journey_definitions_loaded', { connector: 'journeys' })).toBe(1);
      expect(metric(text, 'pulse_journey_late_spans_total', { journey: 'checkout' }) ?? 0).toBe(0);
      expect(metric(text, 'pulse_journey_orphan_steps_total', { journey: 'checkout' }) ?? 0).toBe(0);
      const accepted = samples(text, 'pulse_receiver_accepted_spans_total').reduce((n, s) => n + s.value, 0);
      expect(accepted).toBe(shop.spansCreated);
    });

    it('hot reload: an edit to the journey file takes effect as generation 2 without a restart', async () => {
      expect(CHECKOUT_YAML).toContain('max_duration: 2s');
      writeFileSync(journeyFile, CHECKOUT_YAML.replace('max_duration: 2s', 'max_duration: 30ms'));
      await waitFor(() => logLines().some((l) => l.msg === `reloaded 1 journeys from ${journeysDir} (generation 2)`), 10_000, 'the reload log line');
      const text = await pulse.metrics();
      expect(metric(text, 'pulse_journey_reloads_total', { directory: journeysDir })).toBe(1);
      expect(metric(text, 'pulse_journey_reload_failures_total', { directory: journeysDir })).toBe(0);

      // 40 ms was fine under max_duration 2s; now it is slow. 20 ms still passes. This time the start arrives first.
      const slow = shop.checkout({ tier: 'free' });
      const fast = shop.checkout({ tier: 'free', durationMs: 20 });
      await shop.flush(['frontend', 'payments', 'notifier']);
      const decided = await waitForAttempts([slow, fast], 'attempts after the reload');
      expect(decided.get(slow.traceId)).toMatchObject({ outcome: 'failure', reasons: ['slow'], segments: { 'customer.tier': 'free' } });
      // `slow` alone names no failing step: every step worked.
      expect(decided.get(slow.traceId)!.failingStep).toBeUndefined();
      expect(decided.get(fast.traceId)).toMatchObject({ outcome: 'success', reasons: [] });
    });

    it('a broken edit is logged with file:line:col, counted, and the last good definitions keep deciding', async () => {
      const good = CHECKOUT_YAML.replace('max_duration: 2s', 'max_duration: 30ms');
      const broken = good.replace('max_duration: 30ms', 'max_duration: 30 parsecs');
      const lines = broken.split('\n');
      const row = lines.findIndex((l) => l.includes('max_duration: 30 parsecs'));
      const position = `${row + 1}:${lines[row]!.indexOf('30 parsecs') + 1}`;
      writeFileSync(journeyFile, broken);

      const failures = () => logLines().filter((l) => l.msg.includes('not reloaded'));
      const [logged] = await waitFor(() => (failures().length > 0 ? failures() : undefined), 10_000, 'the reload failure log line');
      expect(logged!.level).toBe('error');
      expect(logged!.msg).toContain(`keeping generation 2: ${journeyFile}:${position}: spec.success.max_duration: "30 parsecs" is not a duration`);
      const text = await pulse.metrics();
      expect(metric(text, 'pulse_journey_reload_failures_total', { directory: journeysDir })).toBe(1);
      expect(metric(text, 'pulse_journeys_loaded', { directory: journeysDir })).toBe(1);

      // Traffic goes on under generation 2 (max_duration 30ms): tagged, forwarded and decided as before.
      const during = [shop.checkout({ tier: 'pro' }), shop.checkout({ tier: 'enterprise', paymentsVersion: '2.5.0', chargeFails: true, durationMs: 10 })];
      await shop.flush(['notifier', 'frontend', 'payments']);
      const decided = await waitForAttempts(during, 'attempts after the broken edit');
      expect(decided.get(during[0]!.traceId)).toMatchObject({ outcome: 'failure', reasons: ['slow'] });
      expect(decided.get(during[1]!.traceId)).toMatchObject({
        outcome: 'failure',
        reasons: ['error:charge', WHERE_5XX],
        failingStep: { step: 'charge', service: 'payments', version: '2.5.0' },
      });
      await waitFor(() => during.flatMap((r) => r.spans).every((s) => findSpan(sink.batches, s.spanId)), 15_000, 'spans at the next hop');
      const start = findSpan(sink.batches, during[0]!.startSpanId)!;
      expect(getAttribute(start.attributes, 'journey.name')).toBe('checkout');
      // Logged once for the broken state, not at every poll.
      await new Promise((r) => setTimeout(r, 600));
      expect(failures()).toHaveLength(1);
    });
  });
}
