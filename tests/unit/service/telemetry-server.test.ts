import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { TelemetryServer, type Readiness } from '../../../src/service/telemetry-server.js';
import { silentLogger } from './fakes.js';

const local = { host: '127.0.0.1', port: 0 };
const servers: TelemetryServer[] = [];
const blockers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
  await Promise.all(blockers.splice(0).map((b) => new Promise((r) => b.close(r))));
});

async function startServer(opts: { health?: typeof local | undefined; metrics?: typeof local | undefined; readiness?: () => Readiness; registry?: MetricsRegistry }) {
  const server = new TelemetryServer({
    health: 'health' in opts ? opts.health : local,
    metrics: 'metrics' in opts ? opts.metrics : local,
    registry: opts.registry ?? new MetricsRegistry(),
    readiness: opts.readiness ?? (() => ({ ready: true })),
    version: '1.2.3',
    logger: silentLogger(),
  });
  servers.push(server);
  await server.start();
  return server;
}

/** A port that was free a moment ago (for a second, distinct listening address). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

function url(addr: { host: string; port: number } | undefined, path: string): string {
  if (!addr) throw new Error('not listening');
  return `http://${addr.host}:${addr.port}${path}`;
}

/** Checks every line of a Prometheus text exposition (0.0.4) and returns the samples by series text. */
function parseExposition(text: string): Map<string, number> {
  expect(text.endsWith('\n')).toBe(true);
  const typed = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line);
    if (help) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      expect(typed.has(type[1]!), `duplicate TYPE for ${type[1]}`).toBe(false);
      typed.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    expect(sample, `not a valid exposition line: ${line}`).not.toBeNull();
    expect(typed.has(sample![1]!), `sample before its TYPE: ${line}`).toBe(true);
    const series = sample![1]! + (sample![2] ?? '');
    expect(samples.has(series), `duplicate series ${series}`).toBe(false);
    samples.set(series, Number(sample![3]));
  }
  return samples;
}

describe('TelemetryServer', () => {
  it('answers /healthz 200 while running', async () => {
    const s = await startServer({});
    const res = await fetch(url(s.healthAddress, '/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 503 with the reason until ready, then 200', async () => {
    let readiness: Readiness = { ready: false, reason: 'starting' };
    const s = await startServer({ readiness: () => readiness });
    const before = await fetch(url(s.healthAddress, '/readyz'));
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'not ready', reason: 'starting' });
    readiness = { ready: true };
    expect((await fetch(url(s.healthAddress, '/readyz'))).status).toBe(200);
  });

  it('serves /metrics in the Prometheus text format with the registry and process metrics', async () => {
    const registry = new MetricsRegistry();
    registry.counter('pulse_receiver_accepted_spans_total', 'Spans accepted.').inc({ transport: 'http' }, 42);
    const s = await startServer({ registry });
    const res = await fetch(url(s.metricsAddress, '/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parseExposition(text);
    expect(samples.get('pulse_receiver_accepted_spans_total{transport="http"}')).toBe(42);
    expect(samples.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(samples.get('nodejs_heap_used_bytes')).toBeGreaterThan(0);
    expect(samples.get('pulse_build_info{version="1.2.3"}')).toBe(1);
    for (const q of ['0.5', '0.99', '1']) expect(samples.get(`nodejs_eventloop_lag_seconds{quantile="${q}"}`)).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
  });

  it('serves everything on one server when both addresses are the same', async () => {
    const s = await startServer({ health: local, metrics: local });
    expect(s.healthAddress!.port).toBe(s.metricsAddress!.port);
    expect((await fetch(url(s.healthAddress, '/metrics'))).status).toBe(200);
    expect((await fetch(url(s.metricsAddress, '/healthz'))).status).toBe(200);
  });

  it('keeps health and metrics apart on different addresses, and answers 404 and 405 plainly', async () => {
    const apart = await startServer({ health: local, metrics: { host: '127.0.0.1', port: await freePort() } });
    expect(apart.healthAddress!.port).not.toBe(apart.metricsAddress!.port);
    expect((await fetch(url(apart.healthAddress, '/metrics'))).status).toBe(404);
    expect((await fetch(url(apart.metricsAddress, '/readyz'))).status).toBe(404);
    expect((await fetch(url(apart.metricsAddress, '/metrics'))).status).toBe(200);
    const post = await fetch(url(apart.healthAddress, '/healthz'), { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('serves only what is enabled', async () => {
    const s = await startServer({ metrics: undefined });
    expect(s.metricsAddress).toBeUndefined();
    expect((await fetch(url(s.healthAddress, '/metrics'))).status).toBe(404);
  });

  it('fails to start with PULSE_ERR_START naming the address when the port is taken', async () => {
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const s = new TelemetryServer({
      health: { host: '127.0.0.1', port },
      metrics: undefined,
      registry: new MetricsRegistry(),
      readiness: () => ({ ready: true }),
      version: 'x',
      logger: silentLogger(),
    });
    servers.push(s);
    await expect(s.start()).rejects.toMatchObject({ code: 'PULSE_ERR_START', message: expect.stringContaining(`127.0.0.1:${port}`) });
  });

  it('removes its process metrics on shutdown, so a registry can outlive it', async () => {
    const registry = new MetricsRegistry();
    const s = await startServer({ registry });
    await s.shutdown();
    expect(registry.render()).not.toMatch(/^process_resident_memory_bytes \d/m);
  });
});
