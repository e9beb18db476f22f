/**
 * The trace backend is down: `bin/pulse start` with the journeys connector in front of an `otlphttp` exporter whose
 * destination refuses connections. Once the exporter's queue is full, senders are refused, and resend, as SDKs do;
 * the journeys must still see every span, so every checkout attempt is decided, once, from the first copy of its
 * spans. (A refusal that made the receivers shed load, refusing requests unread, left them blind: 7 of 600 attempts
 * were decided in the run that found it.) And once however long the resends go on: an upstream Collector's
 * `retry_on_failure` resends for minutes, far longer than the assembler remembers decided attempts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { attemptsByOutcome, checkoutJourneysDir, postLikeAnSdk, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt } from '../support/traces.js';

let journeysDir: string | undefined;
let pulse: PulseProcess | undefined;

afterEach(async () => {
  await pulse?.stop();
  pulse = undefined;
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
  journeysDir = undefined;
});

/** Starts Pulse forwarding to a port nobody listens on; `journeys` is the connector's config; its receiver port. */
async function startWithDestinationDown(journeys: string, derived = '{ thread: main }'): Promise<number> {
  journeysDir = checkoutJourneysDir('pulse-outage-journeys-');
  const port = await freePort();
  const nobodyListens = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys: { directory: ${journeysDir}, ${journeys} }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${nobodyListens}
    sending_queue: { queue_size: 2 }
    retry_on_failure: { initial_interval: 100ms, max_interval: 1s }
service:
  derived_signals: ${derived}
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [journeys]
    traces/out:
      receivers: [journeys]
      exporters: [otlphttp]
`);
  return port;
}

/**
 * Sends `attempts` checkout attempts from `firstSeed`, each service's span in a request of its own as three SDKs
 * would, pausing after every `pauseEvery` attempts (5 ms after each one, or 20 ms after a group), each request
 * resent while refused as retryable (`retry`); the statuses seen.
 */
async function sendAttempts(port: number, attempts: number, firstSeed: number, retry: { tries: number; retryDelayMs: () => number }, pauseEvery: number): Promise<number[]> {
  const statuses: number[] = [];
  const sends: Promise<number>[] = [];
  for (let i = 0; i < attempts; i++) {
    for (const rs of makeCheckoutAttempt(firstSeed + i).resourceSpans) {
      const request: TraceBatch = { resourceSpans: [rs], spanCount: 1 };
      sends.push(postLikeAnSdk(port, gzipSync(encodeTraceRequest(request)), statuses, retry));
    }
    if (i % pauseEvery === pauseEvery - 1) await new Promise((r) => setTimeout(r, pauseEvery === 1 ? 5 : 20));
  }
  await Promise.all(sends);
  return statuses;
}

function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)![1]);
}

describe('the forward destination is down', () => {
  it('senders get 503, and the journeys still decide every attempt from every span, once', async () => {
    const ATTEMPTS = 100;
    const port = await startWithDestinationDown('trace_wait: 10s, settle_delay: 200ms');
    // resent twice, 100 ms apart
    const statuses = await sendAttempts(port, ATTEMPTS, 7000, { tries: 3, retryDelayMs: () => 100 }, 1);

    await waitFor(async () => (await attemptsByOutcome(pulse!)).success === ATTEMPTS, 15_000);
    await new Promise((r) => setTimeout(r, 500)); // past settle_delay: nothing more is decided
    expect(await attemptsByOutcome(pulse!)).toEqual({ success: ATTEMPTS });

    // the queue filled at once and stayed full: requests were refused as retryable (503)
    const refused = statuses.filter((s) => s === 503).length;
    expect(refused).toBeGreaterThan(ATTEMPTS * 3);
    expect(statuses.filter((s) => s !== 503 && s !== 200 && s !== 429)).toEqual([]);
    // Until the first send fails, a full queue is only "slow" (429), and the receivers shed for a few ms; after it,
    // nothing is shed
    const metrics = await pulse!.metrics();
    expect(metric(metrics, 'pulse_receiver_shed_requests_total')).toBeLessThan(refused / 10);
    // and the resent copies were recognised as such: as requests received before, not as new spans
    expect(metric(metrics, 'pulse_journey_resent_spans_total')).toBeGreaterThan(ATTEMPTS);
  }, 60_000);

  describe.each([
    ['on the main thread', '{ thread: main }'],
    ['in the derived-signals worker', '{ thread: worker }'],
  ])('for longer than decided attempts are remembered, journeys assembled %s', (_mode, derived) => {
    it('decides every attempt once', async () => {
      // More attempts than the decided keys kept (1000 at max_pending_attempts: 1000), so early keys are forgotten.
      const ATTEMPTS = 1500;
      const TRIES = 6;
      const port = await startWithDestinationDown('trace_wait: 2s, settle_delay: 100ms, max_pending_attempts: 1000', derived);
      // resent every 0.75–1.25 s, as retries with jitter: the three services' copies drift apart
      const statuses = await sendAttempts(port, ATTEMPTS, 20_000, { tries: TRIES, retryDelayMs: () => 750 + Math.random() * 500 }, 10);
      // every copy was refused but the few the exporter's queue took before its first send failed
      expect(statuses.filter((s) => s === 200).length).toBeLessThan(10);
      expect(statuses.filter((s) => s !== 503 && s !== 429 && s !== 200)).toEqual([]);
      expect(statuses.length).toBeGreaterThan(ATTEMPTS * 3 * (TRIES - 1));
      await new Promise((r) => setTimeout(r, 2500)); // past trace_wait: everything pending is decided
      // once each, all complete (with max_remembered_requests: 0, 3,420 successes and 165 missing_step failures on
      // the main thread, 3,509 and 189 in the worker, in the runs that measured it)
      expect(await attemptsByOutcome(pulse!)).toEqual({ success: ATTEMPTS });
      // the copies were recognised as requests received before: every send but the first of each request, and but
      // those refused unread while the receivers shed load (before the first failed send made the refusals 503s)
      const metrics = await pulse!.metrics();
      const shed = metric(metrics, 'pulse_receiver_shed_requests_total');
      expect(metric(metrics, 'pulse_journey_resent_spans_total')).toBe(statuses.length - ATTEMPTS * 3 - shed);
      expect(metric(metrics, 'pulse_journey_remembered_requests')).toBe(ATTEMPTS * 3);
    }, 90_000);
  });
});
