/**
 * A Pulse sidecar with the `loadbalancing` exporter in front of two Pulse gateways, all three `bin/pulse start`:
 * each service's spans reach the sidecar in their own requests (as three SDKs would send them), and every checkout
 * attempt is still assembled whole on one gateway, because the sidecar sends all spans of a trace to the same one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { ResourceSpans, TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { startFakeHttpOtlp, type FakeHttpOtlp } from '../support/fake-otlp-servers.js';
import { attemptsByOutcome, checkoutJourneysDir, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt } from '../support/traces.js';

const ATTEMPTS = 40;
let journeysDir: string;
let sink: FakeHttpOtlp;
const gateways: PulseProcess[] = [];
let sidecar: PulseProcess;
let sidecarPort: number;

beforeAll(async () => {
  journeysDir = checkoutJourneysDir('pulse-lb-journeys-');
  sink = await startFakeHttpOtlp();
  const grpcPorts = [await freePort(), await freePort()];
  for (const port of grpcPorts) {
    gateways.push(
      await startPulse(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys: { directory: ${journeysDir}, trace_wait: 5s, settle_delay: 200ms }
exporters:
  otlphttp: { endpoint: ${sink.url} }
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [journeys]
    traces/out:
      receivers: [journeys]
      exporters: [otlphttp]
`),
    );
  }
  sidecarPort = await freePort();
  sidecar = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${sidecarPort} }
exporters:
  loadbalancing:
    protocol:
      otlp: { tls: { insecure: true } }
    resolver:
      static: { hostnames: [${grpcPorts.map((p) => `127.0.0.1:${p}`).join(', ')}] }
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
`);
}, 90_000);

afterAll(async () => {
  await sidecar?.stop();
  for (const g of gateways) await g.stop();
  await sink?.close();
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
});

describe('loadbalancing exporter in front of two gateways', () => {
  it('every attempt is assembled whole on one gateway, though each service sent its spans separately', async () => {
    const all = Array.from({ length: ATTEMPTS }, (_, i) => makeCheckoutAttempt(1000 + i));
    // One request per service (frontend, payments, notifier), each holding that service's span of every attempt.
    for (let service = 0; service < 3; service++) {
      const resourceSpans: ResourceSpans[] = all.map((a) => a.resourceSpans[service]!);
      const request: TraceBatch = { resourceSpans, spanCount: resourceSpans.length };
      const res = await fetch(`http://127.0.0.1:${sidecarPort}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
        body: gzipSync(encodeTraceRequest(request)),
      });
      expect(res.status).toBe(200);
    }
    const decided = async () => {
      const [a, b] = await Promise.all(gateways.map(attemptsByOutcome));
      return { a: a!, b: b! };
    };
    await waitFor(async () => {
      const { a, b } = await decided();
      return (a.success ?? 0) + (b.success ?? 0) === ATTEMPTS;
    }, 20_000);
    const { a, b } = await decided();
    // both gateways got a share, and neither decided an attempt as failed (a step on the other gateway would be
    // missing_step there, and an orphan here)
    expect(a.success).toBeGreaterThan(0);
    expect(b.success).toBeGreaterThan(0);
    expect(a.failure ?? 0).toBe(0);
    expect(b.failure ?? 0).toBe(0);
    for (const g of gateways) expect(await g.metrics()).not.toMatch(/^pulse_journey_orphan_steps_total\{[^}]*\} [1-9]/m);
    // and every span was forwarded once
    await waitFor(() => sink.delivered().reduce((n, x) => n + x.spanCount, 0) === ATTEMPTS * 3, 10_000);
    expect(await sidecar.metrics()).toMatch(/^pulse_exporter_loadbalancing_backends\{[^}]*\} 2$/m);
  });
});
