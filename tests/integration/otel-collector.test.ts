/**
 * Pulse next to a real OpenTelemetry Collector (v0.165.0, core components, built once by
 * scripts/infra/otelcol-lib.mjs):
 *
 *   test ─▶ Pulse (journeys, tagging) ──── otlp, gRPC ─────▶ Collector ─▶ sink
 *   test ─▶ Pulse (journeys, tag_spans: false) ─▶ batch ─▶ otlphttp, the senders' gzip ─▶ Collector ─▶ sink
 *                                                          └▶ otlphttp ─▶ copy (to see the bytes)
 *   test ─▶ Collector ─▶ otlp_http (Go's gzip) ─▶ Pulse ─▶ sink
 *
 * The sink is an in-process OTLP/HTTP server; what it decodes is compared with what the test sent, so a field
 * Pulse encodes wrongly, or a body the Collector cannot read (the senders' gzip members concatenated, protobuf
 * requests concatenated), shows up as missing or different spans.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { getAttribute, type Span, type TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { startFakeHttpOtlp, type FakeHttpOtlp } from '../support/fake-otlp-servers.js';
import { startCollector, type Collector } from '../support/otel-collector.js';
import { checkoutJourneysDir, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt, makeRealisticBatch } from '../support/traces.js';

let journeysDir: string;
let collector: Collector;
let pulse: PulseProcess;
/** What the Collector forwards (it got it from Pulse), and what Pulse forwards (it got it from the Collector). */
let fromCollector: FakeHttpOtlp;
let fromPulse: FakeHttpOtlp;
/** A copy of what Pulse sends the Collector over OTLP/HTTP (the same batches, fanned out), to see the bytes. */
let copy: FakeHttpOtlp;
const port = { collectorGrpc: 0, collectorHttp: 0, collectorToPulse: 0, pulseTagging: 0, pulsePlain: 0, pulseFromCollector: 0 };

beforeAll(async () => {
  journeysDir = checkoutJourneysDir('pulse-otelcol-journeys-');
  fromCollector = await startFakeHttpOtlp();
  fromPulse = await startFakeHttpOtlp();
  copy = await startFakeHttpOtlp();
  for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
  collector = await startCollector(
    `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${port.collectorGrpc} }
      http: { endpoint: 127.0.0.1:${port.collectorHttp} }
  otlp/to-pulse:
    protocols:
      http: { endpoint: 127.0.0.1:${port.collectorToPulse} }
exporters:
  otlp_http: { endpoint: ${fromCollector.url} }
  otlp_http/pulse: { endpoint: http://127.0.0.1:${port.pulseFromCollector} }
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http]
    traces/to-pulse:
      receivers: [otlp/to-pulse]
      exporters: [otlp_http/pulse]
  telemetry:
    logs: { level: warn }
    metrics: { level: none }
`,
    [port.collectorGrpc, port.collectorHttp, port.collectorToPulse],
  );
  pulse = await startPulse(`
receivers:
  otlp/tagging:
    protocols:
      http: { endpoint: 127.0.0.1:${port.pulseTagging} }
  otlp/plain:
    protocols:
      http: { endpoint: 127.0.0.1:${port.pulsePlain} }
  otlp/from-collector:
    protocols:
      http: { endpoint: 127.0.0.1:${port.pulseFromCollector} }
connectors:
  journeys/tagging: { directory: ${journeysDir}, trace_wait: 2s, settle_delay: 100ms }
  journeys/plain: { directory: ${journeysDir}, trace_wait: 2s, settle_delay: 100ms, tag_spans: false }
processors:
  batch: { timeout: 300ms }
exporters:
  otlp/collector: { endpoint: 127.0.0.1:${port.collectorGrpc}, tls: { insecure: true } }
  otlphttp/collector: { endpoint: http://127.0.0.1:${port.collectorHttp} }
  otlphttp/sink: { endpoint: ${fromPulse.url} }
  otlphttp/copy: { endpoint: ${copy.url} }
service:
  pipelines:
    traces/tagging:
      receivers: [otlp/tagging]
      exporters: [journeys/tagging]
    traces/tagging-out:
      receivers: [journeys/tagging]
      exporters: [otlp/collector]
    traces/plain:
      receivers: [otlp/plain]
      exporters: [journeys/plain]
    traces/plain-out:
      receivers: [journeys/plain]
      processors: [batch]
      exporters: [otlphttp/collector, otlphttp/copy]
    traces/from-collector:
      receivers: [otlp/from-collector]
      exporters: [otlphttp/sink]
`);
}, 300_000);

afterAll(async () => {
  await pulse?.stop();
  await collector?.stop();
  await fromCollector?.close();
  await fromPulse?.close();
  await copy?.close();
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
});

/** Posts a batch as an SDK would (protobuf, gzip); returns the body sent. */
async function post(port: number, batch: TraceBatch): Promise<Buffer> {
  const body = gzipSync(encodeTraceRequest(batch));
  const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    body,
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return body;
}

const spansOf = (batches: readonly TraceBatch[]): Span[] => batches.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
const byTrace = (batches: readonly TraceBatch[], traceId: string) => spansOf(batches).filter((s) => s.traceId === traceId);
const traceOf = (b: TraceBatch) => b.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId;
/** A span without the attributes the journeys connector adds, to compare with what was sent. */
const untagged = (s: Span): Span => ({ ...s, attributes: s.attributes.filter((a) => !a.key.startsWith('journey.')) });

describe('with a real OpenTelemetry Collector', () => {
  it('Pulse forwards a request it tagged over gRPC: the Collector passes on every span and attribute, with the journey tags', async () => {
    const request = makeRealisticBatch({ services: 3, spansPerService: 30, seed: 41 });
    const attempt = makeCheckoutAttempt(41);
    request.resourceSpans.push(...attempt.resourceSpans);
    request.spanCount += attempt.spanCount;
    await post(port.pulseTagging, request);
    await waitFor(() => spansOf(fromCollector.delivered()).length >= request.spanCount, 20_000);
    const got = spansOf(fromCollector.delivered());
    expect(got.map(untagged)).toEqual(spansOf([request]));
    const tags = got.filter((s) => s.traceId === traceOf(attempt)).map((s) => [getAttribute(s.attributes, 'journey.name'), getAttribute(s.attributes, 'journey.step')]);
    expect(tags).toEqual([
      ['checkout', 'start'],
      ['checkout', 'charge'],
      ['checkout', 'confirm'],
    ]);
    // the resources (and their attributes) came through as sent
    expect(fromCollector.delivered().flatMap((b) => b.resourceSpans.map((rs) => rs.resource))).toEqual(request.resourceSpans.map((rs) => rs.resource));
  });

  it('the Collector reads two senders’ requests that Pulse forwarded as they came, concatenated in one OTLP/HTTP body', async () => {
    const before = spansOf(fromCollector.delivered()).length;
    const a = makeCheckoutAttempt(42);
    const b = makeCheckoutAttempt(43);
    // both within the batch processor's 300 ms: one send, made of the two gzip bodies one after the other
    const bodies = await Promise.all([post(port.pulsePlain, a), post(port.pulsePlain, b)]);
    // the two exporters of the fan-out send independently: wait for both
    await waitFor(() => spansOf(fromCollector.delivered()).length >= before + 6 && copy.requests.length >= 1, 20_000);
    expect(copy.requests).toHaveLength(1);
    expect([Buffer.concat(bodies), Buffer.concat([bodies[1]!, bodies[0]!])]).toContainEqual(copy.requests[0]!.sent);
    expect(byTrace(fromCollector.delivered(), traceOf(a))).toEqual(spansOf([a]));
    expect(byTrace(fromCollector.delivered(), traceOf(b))).toEqual(spansOf([b]));
    const metrics = await pulse.metrics();
    expect(metrics).toMatch(/pulse_processor_batch_sends_total\{[^}]*trigger="timeout"[^}]*\} 1\b/);
    expect(metrics).not.toMatch(/pulse_exporter_send_failed_items_total\{[^}]*exporter="otlphttp\/collector"[^}]*\} [1-9]/);
    // and the attempts were still decided, though their spans were not tagged
    await waitFor(async () => /pulse_journey_attempts_total\{[^}]*connector="journeys\/plain"[^}]*outcome="success"[^}]*\} 2/.test(await pulse.metrics()), 15_000);
  });

  it('Pulse reads what the Collector sends it (Go’s gzip) and forwards every span and attribute', async () => {
    const request = makeRealisticBatch({ services: 2, spansPerService: 40, seed: 44 });
    await post(port.collectorToPulse, request);
    await waitFor(() => spansOf(fromPulse.delivered()).length >= request.spanCount, 20_000);
    expect(spansOf(fromPulse.delivered())).toEqual(spansOf([request]));
    expect(fromPulse.requests.every((r) => r.answered === 200)).toBe(true);
  });
});
