/**
 * The `loadbalancing` exporter: the hash ring (the Collector's construction), its config, and the exporter against
 * in-process OTLP/gRPC backends: whole traces per backend, nothing lost or duplicated, a batch for one backend
 * forwarded as it came, no backends → a retryable refusal.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Span, TraceBatch } from '../../../src/core/model.js';
import { configSchema } from '../../../src/exporters/loadbalancing/config.js';
import { loadBalancingExporterFactory } from '../../../src/exporters/loadbalancing/factory.js';
import { LoadBalancingExporter } from '../../../src/exporters/loadbalancing/exporter.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, crc32OfBinary } from '../../../src/core/crc32.js';
import { HashRing } from '../../../src/exporters/loadbalancing/ring.js';
import { decodeTraceRequest, encodeTraceRequest } from '../../../src/otlp/index.js';
import { seededRandom } from '../../../scripts/random.mjs';
import { startFakeGrpcOtlp, type FakeGrpcOtlp } from '../../support/fake-otlp-servers.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { Handover } from '../../../src/core/handover.js';
import { host, makeSettings, metric, tempDir, until, type TestSettings } from './settings.js';

function traceIds(n: number, seed = 7): string[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, () => String.fromCharCode(...Array.from({ length: 16 }, () => Math.floor(rnd() * 256))));
}

const spansOf = (batches: readonly TraceBatch[]): Span[] => batches.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));

describe('hash ring', () => {
  it('uses crc32 (IEEE)', () => {
    expect(crc32OfBinary('123456789')).toBe(0xcbf43926);
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32OfBinary('\u00ff\u0080\u0001')).toBe(crc32(Uint8Array.of(0xff, 0x80, 1)));
    expect(crc32OfBinary('')).toBe(0);
  });

  it('does not depend on the order the endpoints are given in, and spreads trace ids over all of them', () => {
    const a = new HashRing(['gw-1:4317', 'gw-0:4317', 'gw-2:4317']);
    const b = new HashRing(['gw-2:4317', 'gw-1:4317', 'gw-0:4317', 'gw-1:4317']);
    expect(a.endpoints).toEqual(['gw-0:4317', 'gw-1:4317', 'gw-2:4317']);
    const ids = traceIds(3000);
    const counts = [0, 0, 0];
    for (const id of ids) {
      expect(b.endpoints[b.indexFor(id)]).toBe(a.endpoints[a.indexFor(id)]);
      counts[a.indexFor(id)]!++;
    }
    for (const c of counts) expect(c / ids.length).toBeGreaterThan(0.2);
  });

  it('moves only the trace ids the new backend takes over when one is added', () => {
    const before = new HashRing(['gw-0:4317', 'gw-1:4317', 'gw-2:4317']);
    const after = new HashRing(['gw-0:4317', 'gw-1:4317', 'gw-2:4317', 'gw-3:4317']);
    const ids = traceIds(4000, 11);
    let moved = 0;
    for (const id of ids) {
      const from = before.endpoints[before.indexFor(id)];
      const to = after.endpoints[after.indexFor(id)];
      if (from === to) continue;
      moved++;
      expect(to).toBe('gw-3:4317');
    }
    expect(moved / ids.length).toBeGreaterThan(0.1);
    expect(moved / ids.length).toBeLessThan(0.4);
  });

  it('has no backend when empty', () => {
    expect(new HashRing([]).indexFor('x'.repeat(16))).toBe(-1);
  });
});

describe('loadbalancing config', () => {
  const base = { resolver: { static: { hostnames: ['a:4317'] } } };

  it('has the documented defaults', () => {
    const cfg = configSchema.parse(base);
    expect(cfg.routing_key).toBe('traceID');
    expect(cfg.protocol.otlp.compression).toBe('gzip');
    expect(configSchema.parse({ resolver: { dns: { hostname: 'gw' } } }).resolver.dns).toEqual({ hostname: 'gw', port: 4317, interval: 5000, timeout: 1000 });
  });

  it('refuses what it cannot do, saying why', () => {
    const issue = (cfg: unknown) => configSchema.safeParse(cfg).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issue({ resolver: {} })).toEqual(['resolver: set exactly one resolver: static (hostnames) or dns (hostname)']);
    expect(issue({ resolver: { static: { hostnames: ['a:4317'] }, dns: { hostname: 'gw' } } })![0]).toMatch(/exactly one resolver/);
    expect(issue({ resolver: { static: { hostnames: ['no-port'] } } })).toEqual(['resolver.static.hostnames.0: "no-port" is not host:port (optionally prefixed with http:// or https://)']);
    expect(issue({ ...base, protocol: { otlp: { endpoint: 'x:1' } } })![0]).toMatch(/protocol\.otlp: .*endpoint/);
    expect(issue({ ...base, protocol: { otlp: { sending_queue: { persistent: true } } } })).toBeUndefined();
    expect(issue({ ...base, routing_key: 'service' })![0]).toMatch(/^routing_key/);
  });
});

describe('loadbalancing exporter', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(backends: number, resolver?: Record<string, unknown>) {
    const dir = await tempDir();
    cleanup.push(() => dir.remove());
    const sinks: FakeGrpcOtlp[] = [];
    for (let i = 0; i < backends; i++) {
      const s = await startFakeGrpcOtlp();
      sinks.push(s);
      cleanup.push(() => s.close());
    }
    const settings: TestSettings = makeSettings(dir.path, 'loadbalancing');
    const config = configSchema.parse({
      protocol: { otlp: { tls: { insecure: true }, retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' } } },
      resolver: resolver ?? { static: { hostnames: sinks.map((s) => `127.0.0.1:${s.port}`) } },
    });
    const exporter = loadBalancingExporterFactory.create.traces!(settings, config);
    await exporter.start(host);
    cleanup.push(() => exporter.shutdown());
    const ring = new HashRing(sinks.map((s) => `127.0.0.1:${s.port}`));
    /** The sink the ring gives a trace id. */
    const sinkFor = (traceId: string) => sinks.find((s) => `127.0.0.1:${s.port}` === ring.endpoints[ring.indexFor(traceId)])!;
    return { exporter, sinks, settings, sinkFor };
  }

  it('sends every span of a trace to the backend the ring gives it, each span once, resources and scopes kept', async () => {
    const { exporter, sinks, settings, sinkFor } = await setup(3);
    const batch = makeRealisticBatch({ services: 4, spansPerService: 60, seed: 5 });
    await exporter.consume(batch);
    await until(() => spansOf(sinks.flatMap((s) => s.delivered())).length === batch.spanCount);
    const sent = spansOf([batch]);
    for (const s of sinks) {
      const got = spansOf(s.delivered());
      expect(got.length).toBeGreaterThan(0);
      for (const span of got) expect(sinkFor(span.traceId)).toBe(s);
      // every resource a backend got is one of the input's, with its spans in their input order
      for (const rs of s.delivered().flatMap((b) => b.resourceSpans)) {
        const from = batch.resourceSpans.find((x) => x.resource.attributes[3]!.value === rs.resource.attributes[3]!.value)!;
        expect(rs.resource).toEqual(from.resource);
        const order = from.scopeSpans.flatMap((ss) => ss.spans.map((sp) => sp.spanId));
        const ids = rs.scopeSpans.flatMap((ss) => ss.spans.map((sp) => sp.spanId));
        expect(ids).toEqual(order.filter((id) => ids.includes(id)));
      }
    }
    const key = (s: Span) => s.spanId;
    expect(spansOf(sinks.flatMap((s) => s.delivered())).map(key).sort()).toEqual(sent.map(key).sort());
    expect(metric(settings, 'pulse_exporter_loadbalancing_backends', { exporter: 'loadbalancing' })).toBe(3);
    // each backend's own exporter metrics (counted once its answer is read)
    const first = `loadbalancing/127.0.0.1:${sinks[0]!.port}`;
    await until(() => metric(settings, 'pulse_exporter_sent_items_total', { exporter: first }) === spansOf(sinks[0]!.delivered()).length);
  });

  it('forwards a request whose traces all go to one backend as it came', async () => {
    const { exporter, sinks, sinkFor } = await setup(2);
    const batch = makeRealisticBatch({ services: 2, spansPerService: 10, seed: 9 });
    // one trace id for every span: one backend
    const traceId = batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId;
    for (const span of spansOf([batch])) span.traceId = traceId;
    const protobuf = encodeTraceRequest(batch);
    const gzip = gzipSync(protobuf, { level: 6 });
    const received = decodeTraceRequest(protobuf).batch;
    received.received = { protobuf, gzip };
    await exporter.consume(received);
    const target = sinkFor(traceId);
    await until(() => target.requests.length === 1);
    expect(target.requests[0]!.sent.equals(gzip)).toBe(true);
    expect(sinks.filter((s) => s !== target).every((s) => s.requests.length === 0)).toBe(true);
  });

  it('keeps the share of a backend that is down queued and retried, while the other backend gets its share at once', async () => {
    const { exporter, sinks, sinkFor } = await setup(2);
    const down = sinks[1]!;
    const port = down.port;
    await down.close();
    const batch = makeRealisticBatch({ services: 3, spansPerService: 40, seed: 21 });
    const shareOf = (s: FakeGrpcOtlp) => spansOf([batch]).filter((span) => sinkFor(span.traceId) === s).length;
    const upShare = shareOf(sinks[0]!);
    const downShare = shareOf(down);
    expect(upShare).toBeGreaterThan(0);
    expect(downShare).toBeGreaterThan(0);
    // accepted: the down backend's part waits in its exporter's queue
    await exporter.consume(batch);
    await until(() => spansOf(sinks[0]!.delivered()).length === upShare);
    // the backend comes back on its address: its part arrives, nothing lost, nothing twice
    const back = await startFakeGrpcOtlp(port);
    cleanup.push(() => back.close());
    await until(() => spansOf(back.delivered()).length === downShare, 10_000);
    expect(spansOf(sinks[0]!.delivered())).toHaveLength(upShare);
  });

  it("hands the service's shutdown deadline to every backend's exporter, which drains until then, not for shutdown_drain", async () => {
    const { exporter, sinks, settings } = await setup(1);
    const sink = sinks[0]!;
    sink.replies = Array.from({ length: 5 }, () => 'hang' as const);
    const batch = makeRealisticBatch({ services: 2, spansPerService: 10, seed: 3 });
    await exporter.consume(batch);
    await until(() => sink.requests.length === 1);
    // shutdown_drain is 10 s; the deadline 300 ms. Ten times that is plenty, and far from 10 s.
    const outcome = await Promise.race([
      exporter.shutdown(Date.now() + 300).then(() => 'stopped'),
      new Promise((resolve) => setTimeout(resolve, 3000, 'still draining')),
    ]);
    expect(outcome).toBe('stopped');
    const backend = `loadbalancing/127.0.0.1:${sink.port}`;
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: backend, reason: 'shutdown' })).toBe(batch.spanCount);
  });

  it('on a reload, hands its backends\' queues to the new instance, which routes them through its own ring', async () => {
    const dir = await tempDir();
    cleanup.push(() => dir.remove());
    const up = await startFakeGrpcOtlp();
    const down = await startFakeGrpcOtlp();
    const replacement = await startFakeGrpcOtlp();
    for (const s of [up, down, replacement]) cleanup.push(() => s.close());
    await down.close();
    const handover = new Handover();
    const key = 'exporter/loadbalancing@traces:loadbalancing';
    const settings: TestSettings = { ...makeSettings(dir.path, 'loadbalancing'), handover: handover.slot(key) };
    const config = (backends: FakeGrpcOtlp[]) =>
      configSchema.parse({
        protocol: { otlp: { tls: { insecure: true }, timeout: '30s', retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' } } },
        resolver: { static: { hostnames: backends.map((b) => `127.0.0.1:${b.port}`) } },
      });
    const first = loadBalancingExporterFactory.create.traces!(settings, config([up, down]));
    await first.start(host);
    const batch = makeRealisticBatch({ services: 3, spansPerService: 40, seed: 23 });
    await first.consume(batch);
    const ring = new HashRing([`127.0.0.1:${up.port}`, `127.0.0.1:${down.port}`]);
    const upShare = spansOf([batch]).filter((sp) => ring.endpoints[ring.indexFor(sp.traceId)] === `127.0.0.1:${up.port}`).length;
    expect(upShare).toBeGreaterThan(0);
    expect(upShare).toBeLessThan(batch.spanCount);
    await until(() => spansOf(up.delivered()).length === upShare);

    handover.expect(new Set([key]));
    const t0 = Date.now();
    await first.shutdown(Date.now() + 30_000);
    expect(Date.now() - t0).toBeLessThan(5000); // not the 30 s deadline
    const second = loadBalancingExporterFactory.create.traces!(settings, config([up, replacement]));
    await second.start(host);
    cleanup.push(() => second.shutdown());
    handover.settle(settings.logger);
    // The down backend's share now goes where the new ring sends each trace: every span once in all.
    await until(() => spansOf([...up.delivered(), ...replacement.delivered()]).length === batch.spanCount, 10_000);
    const next = new HashRing([`127.0.0.1:${up.port}`, `127.0.0.1:${replacement.port}`]);
    for (const sp of spansOf(replacement.delivered())) expect(next.endpoints[next.indexFor(sp.traceId)]).toBe(`127.0.0.1:${replacement.port}`);
    const ids = spansOf([...up.delivered(), ...replacement.delivered()]).map((sp) => sp.spanId);
    expect(new Set(ids).size).toBe(batch.spanCount);
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: `loadbalancing/127.0.0.1:${down.port}`, reason: 'shutdown' })).toBe(0);
  });

  it('refuses with a retryable error while it has no backend, and resolves a DNS name', async () => {
    const missing = await setup(0, { dns: { hostname: 'pulse-test-no-such-host.invalid', port: 4317, timeout: '300ms', interval: '1h' } });
    await expect(missing.exporter.consume(makeRealisticBatch({ services: 1, spansPerService: 2 }))).rejects.toMatchObject({ code: 'PULSE_ERR_LOADBALANCING_NO_BACKENDS' });
    expect(metric(missing.settings, 'pulse_exporter_loadbalancing_resolutions_total', { exporter: 'loadbalancing', outcome: 'failure' })).toBe(1);
    expect(missing.settings.logs.some((l) => l.msg.startsWith('could not resolve pulse-test-no-such-host.invalid'))).toBe(true);

    const sink = await startFakeGrpcOtlp();
    cleanup.push(() => sink.close());
    const local = await setup(0, { dns: { hostname: '127.0.0.1', port: sink.port, interval: '1h' } });
    expect(metric(local.settings, 'pulse_exporter_loadbalancing_backends', { exporter: 'loadbalancing' })).toBeGreaterThanOrEqual(1);
    const batch = makeRealisticBatch({ services: 1, spansPerService: 5 });
    await local.exporter.consume(batch);
    await until(() => spansOf(sink.delivered()).length === 5);
  });
});

describe('loadbalancing exporter with persistent queues', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const persistent = (resolver: Record<string, unknown>) =>
    configSchema.parse({
      protocol: {
        otlp: {
          tls: { insecure: true },
          retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' },
          sending_queue: { persistent: true },
          shutdown_drain: '200ms',
        },
      },
      resolver,
    });
  const backendOf = (ring: HashRing, traceId: string) => ring.endpoints[ring.indexFor(traceId)]!;
  const sink = async (port = 0, address = '127.0.0.1') => {
    const s = await startFakeGrpcOtlp(port, undefined, address);
    cleanup.push(() => s.close());
    return s;
  };
  const dataDir = async () => {
    const dir = await tempDir();
    cleanup.push(() => dir.remove());
    return dir.path;
  };
  const start = async (exporter: LoadBalancingExporter) => {
    await exporter.start(host);
    cleanup.push(() => exporter.shutdown());
    return exporter;
  };

  /**
   * Backends A (up) and B (down), an exporter over both that takes `batch` and is stopped: B's share is left in
   * B's queue directory under `dir`.
   */
  const queuedWhileBDown = async (seed: number) => {
    const dir = await dataDir();
    const a = await sink();
    const b = await sink();
    const bPort = b.port;
    await b.close();
    const endpoints = [`127.0.0.1:${a.port}`, `127.0.0.1:${bPort}`];
    const batch = makeRealisticBatch({ services: 3, spansPerService: 40, seed });
    const first = new LoadBalancingExporter(makeSettings(dir, 'loadbalancing'), persistent({ static: { hostnames: endpoints } }));
    await first.start(host);
    await first.consume(batch);
    await until(() => spansOf(a.delivered()).length > 0);
    await first.shutdown();
    const bSpans = spansOf([batch]).filter((sp) => backendOf(new HashRing(endpoints), sp.traceId) === endpoints[1]);
    expect(bSpans.length).toBeGreaterThan(0);
    return { dir, a, bPort, endpoints, bSpans };
  };

  it('keeps a down backend\'s share on disk across a restart, and sends it when the backend is back', async () => {
    const { dir, bPort, endpoints, bSpans } = await queuedWhileBDown(31);
    // B's share is in B's queue directory, and nothing of it was lost
    expect(readdirSync(join(dir, `127.0.0.1_${bPort}`)).filter((f) => f.endsWith('.batch')).length).toBeGreaterThan(0);
    const back = await sink(bPort);
    await start(new LoadBalancingExporter(makeSettings(dir, 'loadbalancing'), persistent({ static: { hostnames: endpoints } })));
    await until(() => spansOf(back.delivered()).length === bSpans.length, 10_000, 'B\'s share after the restart');
  });

  it('sends the queue of a backend no longer in the ring at a restart to the backends that own its traces now', async () => {
    const { dir, a, bPort, bSpans: stranded } = await queuedWhileBDown(33);
    // B is gone for good; C joined. B's queued spans go where the new ring puts each trace: A or C. A directory
    // that is not named as a backend's queue is left alone.
    mkdirSync(join(dir, 'notes'));
    writeFileSync(join(dir, 'notes', '0000000000000001-1.batch'), 'not ours');
    const c = await sink();
    const after = [`127.0.0.1:${a.port}`, `127.0.0.1:${c.port}`];
    const afterRing = new HashRing(after);
    const aBefore = spansOf(a.delivered()).length;
    const settings = makeSettings(dir, 'loadbalancing');
    await start(new LoadBalancingExporter(settings, persistent({ static: { hostnames: after } })));
    await until(() => spansOf(a.delivered()).length + spansOf(c.delivered()).length - aBefore === stranded.length, 10_000, 'the stranded spans');
    const toC = new Set(spansOf(c.delivered()).map((sp) => sp.spanId));
    for (const sp of stranded) expect(toC.has(sp.spanId)).toBe(backendOf(afterRing, sp.traceId) === after[1]);
    expect(metric(settings, 'pulse_exporter_loadbalancing_moved_items_total', { exporter: 'loadbalancing' })).toBe(stranded.length);
    await until(() => !existsSync(join(dir, `127.0.0.1_${bPort}`)), 5000, 'the stranded directory removed');
    expect(readFileSync(join(dir, 'notes', '0000000000000001-1.batch'), 'utf8')).toBe('not ours');
  });

  it('hands the queue of a backend that leaves the ring (DNS) to the backends that own its traces now', async () => {
    const dir = await dataDir();
    // Two backends on one port, as the addresses of one DNS name are.
    const a = await sink(0, '127.0.0.2');
    const port = a.port;
    const b = await sink(port, '127.0.0.3');
    let answer = ['127.0.0.2', '127.0.0.3'];
    const settings = makeSettings(dir, 'loadbalancing');
    const exporter = await start(
      new LoadBalancingExporter(settings, persistent({ dns: { hostname: 'gateways', port, interval: '50ms' } }), {
        lookup: () => Promise.resolve(answer.map((address) => ({ address, family: 4 }))),
      }),
    );
    // B stops answering, so its share waits in its queue; then DNS drops it.
    await b.close();
    const batch = makeRealisticBatch({ services: 3, spansPerService: 40, seed: 35 });
    const ring = new HashRing([`127.0.0.2:${port}`, `127.0.0.3:${port}`]);
    const bShare = spansOf([batch]).filter((sp) => backendOf(ring, sp.traceId) === `127.0.0.3:${port}`).length;
    await exporter.consume(batch);
    answer = ['127.0.0.2'];
    // After B's drain gives up (shutdown_drain), its spans go to A, the only backend left: every span arrives.
    await until(() => spansOf(a.delivered()).length === batch.spanCount, 10_000, 'every span at A');
    expect(metric(settings, 'pulse_exporter_loadbalancing_moved_items_total', { exporter: 'loadbalancing' })).toBe(bShare);
  });

  it('keeps trying a stranded queue while the ring has no backend, and sends it once one appears', async () => {
    const dir = await dataDir();
    const a = await sink();
    const gone = await sink();
    const gonePort = gone.port;
    await gone.close();
    const first = new LoadBalancingExporter(makeSettings(dir, 'loadbalancing'), persistent({ static: { hostnames: [`127.0.0.1:${gonePort}`] } }));
    await first.start(host);
    const batch = makeRealisticBatch({ services: 2, spansPerService: 30, seed: 37 });
    await first.consume(batch);
    await first.shutdown();
    // Restarted with a DNS name that answers nothing at first: no backend takes the stranded queue.
    let answer: string[] = [];
    const settings = makeSettings(dir, 'loadbalancing');
    await start(
      new LoadBalancingExporter(settings, persistent({ dns: { hostname: 'gateways', port: a.port, interval: '50ms' } }), {
        lookup: () => Promise.resolve(answer.map((address) => ({ address, family: 4 }))),
        strandedRetryMs: 50,
      }),
    );
    await until(() => settings.logs.some((l) => l.msg.startsWith('the ring refused a batch of a backend no longer in it')), 5000, 'a refused move');
    expect(metric(settings, 'pulse_exporter_loadbalancing_stranded_queues', { exporter: 'loadbalancing' })).toBe(1);
    answer = ['127.0.0.1'];
    await until(() => spansOf(a.delivered()).length === batch.spanCount, 10_000, 'every span at the new backend');
    await until(() => metric(settings, 'pulse_exporter_loadbalancing_stranded_queues', { exporter: 'loadbalancing' }) === 0);
  });
});
