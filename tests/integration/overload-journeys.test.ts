/**
 * Pulse itself is overloaded: `bin/pulse start` forwards to a next hop that takes one request at a time, slowly,
 * so its exporter queue stays full, requests are refused with 429 and the receivers shed load. Senders resend
 * every refused request, as SDKs do, until it is taken. Spans of an attempt then arrive seconds apart, later than
 * `trace_wait`; that must not make the journey fail with `missing_step`: the failure would be Pulse's, not the
 * checkout's. Every attempt ends up a success, or, where the overload outlasted the extra waits, abandoned and
 * counted. Run with assembly on the main thread and in the derived-signals worker. (Measured when written: the
 * overload lasted ~12 s; 36–40 of 50 attempts succeeded and the rest were abandoned; without the extra waits, 20
 * of the 50 failed with missing_step.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { TraceBatch } from '../../src/core/model.js';
import type { SliWindow } from '../../src/journeys/model.js';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { attemptsByOutcome, checkoutJourneysDir, postLikeAnSdk, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeCheckoutAttempt } from '../support/traces.js';

const ATTEMPTS = 50;
/** The journeys' trace_wait; senders resend faster than that (RESEND_MS apart, ±50%), as SDK backoffs are. */
const TRACE_WAIT_MS = 1000;
const RESEND_MS = 300;
/** The next hop answers each request after this long: 20 requests/s with one sender. */
const SINK_DELAY_MS = 50;

let pulse: PulseProcess | undefined;
let sink: Server | undefined;
let journeysDir: string | undefined;

afterEach(async () => {
  await pulse?.stop();
  pulse = undefined;
  await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
  sink = undefined;
  if (journeysDir) rmSync(journeysDir, { recursive: true, force: true });
});

/** An OTLP/HTTP next hop that is healthy but slow: reads the request, answers 200 after SINK_DELAY_MS. */
async function startSlowSink(): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(), SINK_DELAY_MS));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sink = server;
  return (server.address() as AddressInfo).port;
}

/** Sends one request until it is taken, resending RESEND_MS ± 50% after each 429 / 503; the statuses seen. */
async function sendUntilTaken(port: number, body: Buffer, statuses: number[]): Promise<void> {
  const status = await postLikeAnSdk(port, body, statuses, { tries: 200, retryDelayMs: () => RESEND_MS * (0.5 + Math.random()) });
  if (status === 429 || status === 503) throw new Error('a request was refused 200 times');
}

function counter(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)$`, 'gm'))) if (m[1]!.includes(labels)) sum += Number(m[2]);
  return sum;
}

describe.each([
  ['on the main thread', '{ thread: main }'],
  ['in the derived-signals worker', '{ thread: worker }'],
])('Pulse overloaded, journeys assembled %s', (_mode, derived) => {
  it('spans it refused and took later than trace_wait complete their attempts instead of failing them', async () => {
    journeysDir = checkoutJourneysDir('pulse-overload-journeys-');
    const port = await freePort();
    const sinkPort = await startSlowSink();
    pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys: { directory: ${journeysDir}, trace_wait: ${TRACE_WAIT_MS}ms, settle_delay: 100ms }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${sinkPort}
    sending_queue: { queue_size: 1, num_consumers: 1 }
  debug/attempts: { path: ${join(journeysDir, 'attempts.jsonl')} }
  debug/sli: { path: ${join(journeysDir, 'sli.jsonl')} }
service:
  derived_signals: ${derived}
  pipelines:
    traces/in:
      receivers: [otlp]
      exporters: [journeys]
    traces/out:
      receivers: [journeys]
      exporters: [otlphttp]
    attempts:
      receivers: [journeys]
      exporters: [debug/attempts]
    journey_metrics:
      receivers: [journeys]
      exporters: [debug/sli]
`);
    const statuses: number[] = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      // each service's span in a request of its own, as three SDKs would send them, all at once
      for (const rs of makeCheckoutAttempt(9000 + i).resourceSpans) {
        const request: TraceBatch = { resourceSpans: [rs], spanCount: 1 };
        sends.push(sendUntilTaken(port, gzipSync(encodeTraceRequest(request)), statuses));
      }
    }
    const began = Date.now();
    await Promise.all(sends);
    const overloadMs = Date.now() - began;

    const settled = async () => {
      const text = await pulse!.metrics();
      const outcomes = await attemptsByOutcome(pulse!);
      return (outcomes.success ?? 0) + (outcomes.failure ?? 0) + counter(text, 'pulse_journey_abandoned_attempts_total', 'reason="overload"') === ATTEMPTS;
    };
    // (if some never are, the expectations below say how many of each there were)
    await waitFor(settled, 20_000, 'every attempt decided or abandoned').catch(() => undefined);
    const text = await pulse.metrics();
    const outcomes = await attemptsByOutcome(pulse);
    const abandoned = counter(text, 'pulse_journey_abandoned_attempts_total', 'reason="overload"');

    // It was overloaded, for longer than trace_wait: requests refused for being full, then shed unread
    expect(overloadMs).toBeGreaterThan(TRACE_WAIT_MS);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(ATTEMPTS * 3);
    expect(statuses.filter((s) => s !== 429 && s !== 200)).toEqual([]);
    expect(counter(text, 'pulse_receiver_shed_requests_total')).toBeGreaterThan(0);
    // and attempts waited past trace_wait for spans that came back
    expect(counter(text, 'pulse_journey_extended_waits_total')).toBeGreaterThan(0);
    // No attempt failed: every one succeeded, or was abandoned, counted, while the refusals went on
    expect(outcomes.failure ?? 0).toBe(0);
    expect((outcomes.success ?? 0) + abandoned).toBe(ATTEMPTS);
    expect(outcomes.success).toBeGreaterThan(0);

    // The SLI rows say so too: the abandoned attempts are in `abandoned`, next to the decided ones in `attempts`
    await pulse.stop(); // emits the windows still open
    pulse = undefined;
    const all = readFileSync(join(journeysDir, 'sli.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SliWindow)
      .filter((r) => r.segmentKey === '');
    expect(all.reduce((n, r) => n + r.attempts, 0)).toBe(outcomes.success);
    expect(all.reduce((n, r) => n + r.abandoned, 0)).toBe(abandoned);
  }, 90_000);
});
