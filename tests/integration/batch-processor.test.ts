/**
 * The `batch` processor through `bin/pulse start`, as a sender sees it: by default a request is answered once its
 * spans are buffered (a serial sender is not held to one request per `timeout`), a merged batch the next stage
 * refuses is sent again, and shutdown flushes what is held; with `wait_for_result: true` a request is answered
 * only once the stage after the processor accepted its spans (here an exporter without a queue: the next hop).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { startFakeHttpOtlp, type FakeHttpOtlp } from '../support/fake-otlp-servers.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { makeRealisticBatch } from '../support/traces.js';

type Path = 'buffered' | 'waiting' | 'retrying';
const PATHS: Path[] = ['buffered', 'waiting', 'retrying'];

let pulse: PulseProcess;
const sinks = {} as Record<Path, FakeHttpOtlp>;
const ports = {} as Record<Path, number>;

beforeAll(async () => {
  for (const p of PATHS) {
    sinks[p] = await startFakeHttpOtlp();
    ports[p] = await freePort();
  }
  pulse = await startPulse(`
receivers:
${PATHS.map((p) => `  otlp/${p}:\n    protocols:\n      http: { endpoint: 127.0.0.1:${ports[p]} }`).join('\n')}
processors:
  batch/buffered: { send_batch_size: 100000, timeout: 60s }
  batch/waiting: { timeout: 300ms, wait_for_result: true }
  batch/retrying: { timeout: 50ms }
exporters:
  otlphttp/buffered: { endpoint: ${sinks.buffered.url} }
  # No queue and no retries of their own: the next hop's answer is the exporter's, and goes back to the batch processor.
  otlphttp/waiting: { endpoint: ${sinks.waiting.url}, sending_queue: { enabled: false }, retry_on_failure: { enabled: false } }
  otlphttp/retrying: { endpoint: ${sinks.retrying.url}, sending_queue: { enabled: false }, retry_on_failure: { enabled: false } }
service:
  pipelines:
${PATHS.map((p) => `    traces/${p}:\n      receivers: [otlp/${p}]\n      processors: [batch/${p}]\n      exporters: [otlphttp/${p}]`).join('\n')}
`);
}, 60_000);

afterAll(async () => {
  await pulse?.stop();
  await Promise.all(PATHS.map((p) => sinks[p]?.close()));
});

/** One SDK-like export: a gzipped protobuf request of `spans` spans. */
async function exportSpans(path: Path, seed: number): Promise<number> {
  const batch = makeRealisticBatch({ services: 2, spansPerService: 20, seed });
  const res = await fetch(`http://127.0.0.1:${ports[path]}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    body: gzipSync(encodeTraceRequest(batch)),
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return batch.spanCount;
}

const metric = (text: string, name: string, processor: string) =>
  Number(new RegExp(`^${name}\\{[^}]*processor="${processor}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
const spansAt = (sink: FakeHttpOtlp) => sink.delivered().reduce((n, b) => n + b.spanCount, 0);

describe('batch processor through bin/pulse', () => {
  it('wait_for_result: true answers a request only once its spans reached the next hop', async () => {
    const spans = await exportSpans('waiting', 1);
    // answered ⇒ already delivered (the 300 ms timeout passed before the answer)
    expect(spansAt(sinks.waiting)).toBe(spans);
  });

  it('sends a merged batch that the next hop refused again, while the sender was answered at once', async () => {
    sinks.retrying.replies = [{ status: 503 }, { status: 503 }];
    const spans = await exportSpans('retrying', 2);
    await waitFor(() => spansAt(sinks.retrying) === spans, 15_000);
    expect(sinks.retrying.requests.map((r) => r.answered)).toEqual([503, 503, 200]);
    // Pulse reads the 200 a moment after the sink recorded it: then nothing is held any more
    await waitFor(async () => metric(await pulse.metrics(), 'pulse_processor_batch_pending_spans', 'batch/retrying') === 0, 10_000);
    expect(metric(await pulse.metrics(), 'pulse_processor_batch_retries_total', 'batch/retrying')).toBe(2);
    expect(pulse.output()).toMatch(/keeping them and retrying with backoff/);
  });

  it('answers a serial sender while its spans are buffered, and flushes them all on shutdown', async () => {
    let spans = 0;
    // Each request awaited before the next, as an SDK's batch span processor exports; all well within 60 s.
    for (let i = 0; i < 5; i++) spans += await exportSpans('buffered', 10 + i);
    expect(sinks.buffered.requests).toHaveLength(0);
    expect(metric(await pulse.metrics(), 'pulse_processor_batch_pending_spans', 'batch/buffered')).toBe(spans);
    expect(await pulse.stop()).toBe(0);
    expect(sinks.buffered.requests).toHaveLength(1);
    expect(spansAt(sinks.buffered)).toBe(spans);
  });
});
