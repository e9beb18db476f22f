/**
 * The service's shutdown deadline reaches the exporters: a real `otlp` exporter (in-memory queue) behind a fake
 * receiver drains until `service.shutdown_timeout` — not for `shutdown_drain` — and what it could not send by then
 * is counted and logged before the service stops waiting for it.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExporterFactory, Host } from '../../../src/core/component.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { configSchema as otlpConfigSchema } from '../../../src/exporters/otlp/config.js';
import { otlpExporterFactory } from '../../../src/exporters/otlp/factory.js';
import { PipelineGraph } from '../../../src/service/graph.js';
import { startFakeGrpcOtlp, type FakeGrpcOtlp } from '../../support/fake-otlp-servers.js';
import { fakeRegistry, makeBatch, makeConfig } from './fakes.js';

const host: Host = { reportFatalError: () => undefined };
const FAILED = 'pulse_exporter_send_failed_items_total';
const SENT = 'pulse_exporter_sent_items_total';
const ex = { exporter: 'otlp' };

let servers: FakeGrpcOtlp[] = [];
let graphs: PipelineGraph[] = [];
afterEach(async () => {
  await Promise.all(graphs.map((g) => g.shutdown(200)));
  await Promise.all(servers.map((s) => s.close()));
  graphs = [];
  servers = [];
});

/** receiver `fake` → exporter `otlp` (real, to `server`), with `exporter` merged into the otlp config. */
function build(server: FakeGrpcOtlp, shutdownTimeoutMs: number, exporter: Record<string, unknown>) {
  const fakes = fakeRegistry();
  (fakes.registry.exporters as Map<string, ExporterFactory>).set('otlp', otlpExporterFactory as unknown as ExporterFactory);
  const config = makeConfig({
    receivers: { fake: {} },
    exporters: { otlp: {} },
    pipelines: { traces: { receivers: ['fake'], exporters: ['otlp'] } },
    shutdownTimeoutMs,
  });
  const otlp = otlpConfigSchema.parse({
    endpoint: `127.0.0.1:${server.port}`,
    tls: { insecure: true },
    compression: 'none',
    sending_queue: { num_consumers: 1 },
    ...exporter,
  });
  (config.exporters as Map<string, unknown>).set('otlp', { ...config.exporters.get('otlp')!, config: otlp });
  const logs: Array<Record<string, unknown> & { msg: string; level: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
  const metrics = new MetricsRegistry();
  const graph = PipelineGraph.build(config, fakes.registry, { logger, metrics });
  graphs.push(graph);
  const count = (name: string, labels: Record<string, string>) => metrics.find(name)?.get(labels) ?? 0;
  return { graph, receiver: () => fakes.receivers.get('fake')!, logs, count };
}

async function server(): Promise<FakeGrpcOtlp> {
  const s = await startFakeGrpcOtlp();
  servers.push(s);
  return s;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('shutdown deadline and exporters', () => {
  it('a shutdown_timeout below shutdown_drain: what the exporter could not send is counted and logged by the deadline', async () => {
    const s = await server();
    s.replies = Array.from({ length: 10 }, () => 'hang' as const); // the destination takes requests and never answers
    const { graph, receiver, logs, count } = build(s, 1000, { timeout: '5s', shutdown_drain: '10s' });
    await graph.start(host);
    for (let i = 0; i < 5; i++) await receiver().push(makeBatch(10, `b${i}`));
    await until(() => s.requests.length === 1, 'the first batch to reach the destination');

    await graph.shutdown(); // service.shutdown_timeout: 1 s, a tenth of shutdown_drain

    // By the time the service stops waiting, every span is accounted for: 10 aborted in flight, 40 never sent.
    expect(count(FAILED, { ...ex, reason: 'shutdown' })).toBe(50);
    expect(count(SENT, ex)).toBe(0);
    const dropped = logs.find((l) => l.msg.startsWith('exporter stopped before its in-memory queue drained'));
    expect(dropped).toMatchObject({ droppedBatches: 5, droppedItems: 50 });
  });

  it('a shutdown_timeout above shutdown_drain: the exporter keeps draining past shutdown_drain', async () => {
    const s = await server();
    // Four refusals 100 ms apart: delivering the batch takes ~400 ms, twice shutdown_drain.
    s.replies = Array.from({ length: 4 }, () => ({ grpcStatus: 14, message: 'busy' }));
    const { graph, receiver, count } = build(s, 5000, {
      shutdown_drain: '200ms',
      retry_on_failure: { initial_interval: '100ms', max_interval: '100ms', randomization_factor: 0 },
    });
    await graph.start(host);
    await receiver().push(makeBatch(10));

    const report = await graph.shutdown();

    expect(report).toEqual({ unfinished: [], failed: [] });
    expect(s.requests.map((r) => r.answered)).toEqual([14, 14, 14, 14, 0]);
    expect(count(SENT, ex)).toBe(10);
    expect(count(FAILED, { ...ex, reason: 'shutdown' })).toBe(0);
  });
});
