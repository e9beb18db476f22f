/**
 * Through `bin/pulse start`: a request Pulse did not change reaches the next hop byte for byte as the sender sent
 * it (its gzip included, and a field this Pulse does not know), one it changed is encoded again. Two journeys
 * connectors on the shipped checkout journey, one tagging (the default) and one with `tag_spans: false`, each
 * with its own receiver and next hop (the tagless one through the `batch` processor, as connectors/journeys/README.md
 * configures it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ClientHttp2Session } from 'node:http2';
import { getAttribute, type TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { startFakeHttpOtlp, type FakeHttpOtlp } from '../support/fake-otlp-servers.js';
import { checkoutJourneysDir, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt as checkout, makeRealisticBatch } from '../support/traces.js';
import { connectH2, grpcCall, grpcFrame } from '../unit/receivers/otlp-harness.js';

/** Field 15 (varint 1) of the request: unknown to Pulse's decoder, so only bytes forwarded as they came keep it. */
const UNKNOWN_FIELD = Buffer.from([(15 << 3) | 0, 1]);

let journeysDir: string;
let pulse: PulseProcess;
const sinks: Record<'tagging' | 'plain', FakeHttpOtlp> = {} as never;
const http: Record<'tagging' | 'plain', number> = {} as never;
let grpcPlain: number;
let h2: ClientHttp2Session;

beforeAll(async () => {
  journeysDir = checkoutJourneysDir('pulse-forward-journeys-');
  sinks.tagging = await startFakeHttpOtlp();
  sinks.plain = await startFakeHttpOtlp();
  http.tagging = await freePort();
  http.plain = await freePort();
  grpcPlain = await freePort();
  pulse = await startPulse(`
receivers:
  otlp/tagging:
    protocols:
      http: { endpoint: 127.0.0.1:${http.tagging} }
  otlp/plain:
    protocols:
      http: { endpoint: 127.0.0.1:${http.plain} }
      grpc: { endpoint: 127.0.0.1:${grpcPlain} }
connectors:
  journeys/tagging: { directory: ${journeysDir}, trace_wait: 2s, settle_delay: 100ms }
  journeys/plain: { directory: ${journeysDir}, trace_wait: 2s, settle_delay: 100ms, tag_spans: false }
processors:
  batch: { timeout: 300ms }
exporters:
  otlphttp/tagging: { endpoint: ${sinks.tagging.url} }
  otlphttp/plain: { endpoint: ${sinks.plain.url} }
service:
  pipelines:
    traces/tagging:
      receivers: [otlp/tagging]
      exporters: [journeys/tagging]
    traces/tagging-out:
      receivers: [journeys/tagging]
      exporters: [otlphttp/tagging]
    traces/plain:
      receivers: [otlp/plain]
      exporters: [journeys/plain]
    traces/plain-out:
      receivers: [journeys/plain]
      processors: [batch]
      exporters: [otlphttp/plain]
`);
  h2 = connectH2({ host: '127.0.0.1', port: grpcPlain });
}, 60_000);

afterAll(async () => {
  h2?.close();
  await pulse?.stop();
  await Promise.all(Object.values(sinks).map((s) => s.close()));
  rmSync(journeysDir, { recursive: true, force: true });
});

async function postGzip(port: number, protobuf: Uint8Array): Promise<{ status: number; body: Buffer }> {
  const body = gzipSync(protobuf, { level: 6 });
  const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    body,
  });
  expect(res.status).toBe(200);
  return { status: res.status, body };
}

const journeyNames = (batch: TraceBatch) => batch.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => getAttribute(s.attributes, 'journey.name'))));

describe('forwarding requests as they came', () => {
  it('tag_spans: false forwards a checkout request over OTLP/HTTP byte for byte, and still decides the attempt', async () => {
    const sent = await postGzip(http.plain, Buffer.concat([encodeTraceRequest(checkout(1)), UNKNOWN_FIELD]));
    await waitFor(() => sinks.plain.requests.length === 1, 10_000);
    const got = sinks.plain.requests[0]!;
    expect(got.gzip).toBe(true);
    expect(got.sent.equals(sent.body)).toBe(true);
    expect(journeyNames(got.batch)).toEqual([undefined, undefined, undefined]);
    await waitFor(async () => /pulse_journey_attempts_total\{[^}]*connector="journeys\/plain"[^}]*outcome="success"[^}]*\} 1/.test(await pulse.metrics()), 15_000);
    expect(await pulse.metrics()).toMatch(/pulse_journey_spans_matched_total\{[^}]*connector="journeys\/plain"[^}]*\} 3/);
  });

  it('tagging (the default) encodes the checkout request with its tags, and forwards a request without journey spans as it came', async () => {
    const tagged = await postGzip(http.tagging, Buffer.concat([encodeTraceRequest(checkout(2)), UNKNOWN_FIELD]));
    await waitFor(() => sinks.tagging.requests.length === 1, 10_000);
    const first = sinks.tagging.requests[0]!;
    expect(first.sent.equals(tagged.body)).toBe(false);
    expect(journeyNames(first.batch)).toEqual(['checkout', 'checkout', 'checkout']);
    expect(gunzipSync(first.sent).includes(UNKNOWN_FIELD)).toBe(false); // re-encoded: what Pulse does not know is gone

    const background = await postGzip(http.tagging, Buffer.concat([encodeTraceRequest(makeRealisticBatch({ services: 3, spansPerService: 40, seed: 3 })), UNKNOWN_FIELD]));
    await waitFor(() => sinks.tagging.requests.length === 2, 10_000);
    expect(sinks.tagging.requests[1]!.sent.equals(background.body)).toBe(true);
  });

  it('the batch processor merges whole requests into one body of their gzip members, as the senders made them', async () => {
    const before = sinks.plain.requests.length;
    const bodies = [checkout(10), checkout(11)].map((b) => gzipSync(Buffer.concat([encodeTraceRequest(b), UNKNOWN_FIELD]), { level: 6 }));
    const post = (body: Buffer) =>
      fetch(`http://127.0.0.1:${http.plain}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, body });
    // Both arrive within the batch processor's 300 ms: one send of both requests, in arrival order.
    const answers = await Promise.all(bodies.map(post));
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await waitFor(() => sinks.plain.requests.length > before, 10_000);
    const got = sinks.plain.requests[before]!;
    expect(got.batch.spanCount).toBe(6);
    const either = [Buffer.concat(bodies), Buffer.concat([bodies[1]!, bodies[0]!])];
    expect(either.some((b) => b.equals(got.sent))).toBe(true);
  });

  it('forwards a gzipped gRPC message as the sender compressed it', async () => {
    const before = sinks.plain.requests.length;
    const message = gzipSync(Buffer.concat([encodeTraceRequest(checkout(3)), UNKNOWN_FIELD]), { level: 9 });
    const res = await grpcCall(h2, grpcFrame(message, true), { 'grpc-encoding': 'gzip' });
    expect(res.grpcStatus).toBe(0);
    await waitFor(() => sinks.plain.requests.length === before + 1, 10_000);
    expect(sinks.plain.requests[before]!.sent.equals(message)).toBe(true);
  });

  it('a request the decoder took only part of is encoded again, without the refused span', async () => {
    const before = sinks.plain.requests.length;
    const batch = checkout(4);
    batch.resourceSpans[1]!.scopeSpans[0]!.spans[0]!.traceId = ''; // the charge span: no trace id, refused
    const sent = await postGzip(http.plain, encodeTraceRequest(batch));
    await waitFor(() => sinks.plain.requests.length === before + 1, 10_000);
    const got = sinks.plain.requests[before]!;
    expect(got.sent.equals(sent.body)).toBe(false);
    expect(got.batch.spanCount).toBe(2);
  });
});
