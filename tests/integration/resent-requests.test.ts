/**
 * Requests resent for longer than the journeys remember decided attempts: the trace backend is down, so Pulse
 * refuses every request with 503 after its journeys connector has seen it, and the senders resend each one every
 * second, as an upstream Collector's `retry_on_failure` does for minutes. Each attempt must be decided once, from the
 * first copy of its spans, however long the resends go on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { TraceBatch } from '../../src/core/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort } from '../support/net.js';
import { attemptsByOutcome, checkoutJourneysDir, postLikeAnSdk, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt } from '../support/traces.js';

/** More attempts than the decided keys kept (1000 at `max_pending_attempts: 1000`), so early keys are forgotten. */
const ATTEMPTS = 1500;
const TRIES = 6;
let journeysDir: string | undefined;
let pulse: PulseProcess | undefined;

afterEach(async () => {
  await pulse?.stop();
  pulse = undefined;
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
  journeysDir = undefined;
});

describe.each([
  ['on the main thread', '{ thread: main }'],
  ['in the derived-signals worker', '{ thread: worker }'],
])('requests resent for many seconds while the forward destination is down, journeys assembled %s', (_mode, derived) => {
  it('decides every attempt once', async () => {
    journeysDir = checkoutJourneysDir('pulse-resent-journeys-');
    const port = await freePort();
    const nobodyListens = await freePort();
    pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys: { directory: ${journeysDir}, trace_wait: 2s, settle_delay: 100ms, max_pending_attempts: 1000 }
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
    const statuses: number[] = [];
    const sends: Promise<number>[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const attempt = makeCheckoutAttempt(20_000 + i);
      for (const rs of attempt.resourceSpans) {
        const request: TraceBatch = { resourceSpans: [rs], spanCount: 1 };
        // resent every 0.75–1.25 s, as retries with jitter: the three services' copies drift apart
        sends.push(postLikeAnSdk(port, gzipSync(encodeTraceRequest(request)), statuses, { tries: TRIES, retryDelayMs: () => 750 + Math.random() * 500 }));
      }
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(sends);
    // every copy was refused but the few the exporter's queue took before its first send failed
    const accepted = statuses.filter((s) => s === 200).length;
    expect(accepted).toBeLessThan(10);
    expect(statuses.filter((s) => s !== 503 && s !== 429 && s !== 200)).toEqual([]);
    expect(statuses.length).toBeGreaterThan(ATTEMPTS * 3 * (TRIES - 1));
    await new Promise((r) => setTimeout(r, 2500)); // past trace_wait: everything pending is decided
    // once each, all complete (without remembering requests: 4,498 attempts in the run that found it)
    expect(await attemptsByOutcome(pulse!)).toEqual({ success: ATTEMPTS });
    // the copies were recognised as requests received before: every send but the first of each request (and but
    // those refused unread while the receivers shed load, before the first failed send made the queue's refusals 503s)
    const metrics = await pulse!.metrics();
    const resent = Number(/^pulse_journey_resent_spans_total\{[^}]*\} (\d+)$/m.exec(metrics)![1]);
    const shed = Number(/^pulse_receiver_shed_requests_total\{[^}]*\} (\d+)$/m.exec(metrics)![1]);
    expect(resent).toBe(statuses.length - ATTEMPTS * 3 - shed);
    expect(Number(/^pulse_journey_remembered_requests\{[^}]*\} (\d+)$/m.exec(metrics)![1])).toBe(ATTEMPTS * 3);
  }, 90_000);
});
