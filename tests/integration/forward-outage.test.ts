/**
 * The trace backend is down: `bin/pulse start` with the journeys connector in front of an `otlphttp` exporter whose
 * destination refuses connections. Once the exporter's queue is full, senders are refused, and resend, as SDKs do;
 * the journeys must still see every span, so every checkout attempt is decided, once, from the first copy of its
 * spans. (A refusal that made the receivers shed load, refusing requests unread, left them blind: 7 of 600 attempts
 * were decided in the run that found it.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { attemptsByOutcome, checkoutJourneysDir, postLikeAnSdk, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt } from '../support/traces.js';

const ATTEMPTS = 100;
let journeysDir: string;
let pulse: PulseProcess;
let port: number;

beforeAll(async () => {
  journeysDir = checkoutJourneysDir('pulse-outage-journeys-');
  port = await freePort();
  const nobodyListens = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys: { directory: ${journeysDir}, trace_wait: 10s, settle_delay: 200ms }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${nobodyListens}
    sending_queue: { queue_size: 2 }
    retry_on_failure: { initial_interval: 100ms, max_interval: 1s }
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [journeys]
    traces/out:
      receivers: [journeys]
      exporters: [otlphttp]
`);
}, 60_000);

afterAll(async () => {
  await pulse?.stop();
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
});

/** Sends one request, and resends it twice 100 ms apart while it is refused as retryable; the statuses seen. */
async function sendLikeAnSdk(body: Buffer, statuses: number[]): Promise<void> {
  await postLikeAnSdk(port, body, statuses, { tries: 3, retryDelayMs: () => 100 });
}

describe('the forward destination is down', () => {
  it('senders get 503, and the journeys still decide every attempt from every span, once', async () => {
    const statuses: number[] = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const attempt = makeCheckoutAttempt(7000 + i);
      // each service's span in a request of its own, as three SDKs would send them
      for (const rs of attempt.resourceSpans) {
        const request: TraceBatch = { resourceSpans: [rs], spanCount: 1 };
        sends.push(sendLikeAnSdk(gzipSync(encodeTraceRequest(request)), statuses));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(sends);

    await waitFor(async () => (await attemptsByOutcome(pulse)).success === ATTEMPTS, 15_000);
    await new Promise((r) => setTimeout(r, 500)); // past settle_delay: nothing more is decided
    expect(await attemptsByOutcome(pulse)).toEqual({ success: ATTEMPTS });

    // the queue filled at once and stayed full: requests were refused as retryable (503)
    const refused = statuses.filter((s) => s === 503).length;
    expect(refused).toBeGreaterThan(ATTEMPTS * 3);
    expect(statuses.filter((s) => s !== 503 && s !== 200 && s !== 429)).toEqual([]);
    // Until the first send fails, a full queue is only "slow" (429), and the receivers shed for a few ms; after it,
    // nothing is shed
    const shed = Number(/^pulse_receiver_shed_requests_total\{[^}]*\} (\d+)$/m.exec(await pulse.metrics())![1]);
    expect(shed).toBeLessThan(refused / 10);

    // and the resent copies were recognised as such: as requests received before, not as new spans
    const resent = Number(/^pulse_journey_resent_spans_total\{[^}]*\} (\d+)$/m.exec(await pulse.metrics())![1]);
    expect(resent).toBeGreaterThan(ATTEMPTS);
  }, 60_000);
});
