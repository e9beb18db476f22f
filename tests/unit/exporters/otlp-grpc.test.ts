import { describe, expect, it } from 'vitest';
import type { TraceBatch } from '../../../src/core/model.js';
import type { QueuedExporter } from '../../../src/exporters/exporterhelper/index.js';
import { configSchema, grpcTarget } from '../../../src/exporters/otlp/config.js';
import { OtlpGrpcTraceClient } from '../../../src/exporters/otlp/exporter.js';
import { otlpExporterFactory } from '../../../src/exporters/otlp/factory.js';
import { freePort, startTcpProxy } from '../../support/net.js';
import { encodeStatus, encodeTraceResponse } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { bytes, startFakeGrpcOtlp, type FakeGrpcOtlp } from '../../support/fake-otlp-servers.js';
import { useOtlpTestBed } from './otlp-test-bed.js';
import { host, metric, until } from './settings.js';
import { hasOpenssl, makeSelfSignedCert } from '../../support/tls-certs.js';

const bed = useOtlpTestBed<FakeGrpcOtlp>('otlp/test', (port) => startFakeGrpcOtlp(port));
const ex = { exporter: 'otlp/test' };
const FAILED = 'pulse_exporter_send_failed_items_total';

function parse(over: Record<string, unknown>) {
  return configSchema.parse({
    tls: { insecure: true },
    retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' },
    sending_queue: { num_consumers: 1 },
    ...over,
  });
}

async function exporter(over: Record<string, unknown>): Promise<QueuedExporter<TraceBatch>> {
  const e = otlpExporterFactory.create.traces!(bed.settings, parse(over)) as QueuedExporter<TraceBatch>;
  bed.exporters.push(e);
  await e.start(host);
  return e;
}

const batch = (seed: number): TraceBatch => makeRealisticBatch({ services: 2, spansPerService: 15, seed });

describe('config', () => {
  it('needs an endpoint and reads host:port with an optional scheme', () => {
    expect(configSchema.safeParse({}).error?.issues[0]?.path).toEqual(['endpoint']);
    expect(configSchema.safeParse({ endpoint: 'no-port' }).success).toBe(false);
    expect(configSchema.safeParse({ endpoint: 'c:4317', headers: { 'grpc-timeout': '1S' } }).success).toBe(false);
    const c = configSchema.parse({ endpoint: 'collector:4317' });
    expect(c.tls.insecure).toBe(false);
    expect(c.compression).toBe('gzip');
    expect(grpcTarget(c)).toEqual({ origin: 'https://collector:4317', secure: true });
    expect(grpcTarget(configSchema.parse({ endpoint: 'collector:4317', tls: { insecure: true } }))?.origin).toBe('http://collector:4317');
    expect(grpcTarget(configSchema.parse({ endpoint: 'http://[::1]:4317' }))).toEqual({ origin: 'http://[::1]:4317', secure: false });
  });
});

describe('delivery', () => {
  for (const compression of ['gzip', 'none'] as const) {
    it(`delivers batches intact over h2c (${compression})`, async () => {
      const s = await bed.server();
      const e = await exporter({ endpoint: `127.0.0.1:${s.port}`, compression, headers: { 'X-Api-Key': 'k1' }, timeout: '2s' });
      await e.consume(batch(1));
      await e.consume(batch(2));
      await until(() => s.delivered().length === 2);
      expect(s.delivered()).toEqual([batch(1), batch(2)]);
      const r = s.requests[0]!;
      expect(r.compressed).toBe(compression === 'gzip');
      expect(r.headers[':path']).toBe('/opentelemetry.proto.collector.trace.v1.TraceService/Export');
      expect(r.headers['content-type']).toBe('application/grpc');
      expect(r.headers.te).toBe('trailers');
      expect(r.headers['grpc-timeout']).toBe('2000m');
      expect(r.headers['x-api-key']).toBe('k1');
      expect(s.sessions()).toBe(1);
      await until(() => metric(bed.settings, 'pulse_exporter_sent_items_total', ex) === 60);
    });
  }

  it('retries UNAVAILABLE and delivers exactly once', async () => {
    const s = await bed.server();
    s.replies = [{ grpcStatus: 14, message: 'overloaded' }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}` });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    await e.shutdown(Date.now() + 1000);
    expect(s.requests.map((r) => r.answered)).toEqual([14, 0]);
    expect(metric(bed.settings, 'pulse_exporter_retries_total', ex)).toBe(1);
  });

  it('retries RESOURCE_EXHAUSTED with RetryInfo after the delay it gives', async () => {
    const s = await bed.server();
    s.replies = [{ grpcStatus: 8, message: 'slow down', details: bytes(encodeStatus(8, 'slow down', 300)) }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}` });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    expect(s.requests[1]!.at - s.requests[0]!.at).toBeGreaterThanOrEqual(290);
  });

  it('drops RESOURCE_EXHAUSTED without RetryInfo, and permanent codes, without retrying', async () => {
    const s = await bed.server();
    s.replies = [{ grpcStatus: 8, message: 'quota' }, { grpcStatus: 3, message: 'bad span: 100% wrong' }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}` });
    await e.consume(batch(1));
    await e.consume(batch(2));
    await e.consume(batch(3));
    await until(() => s.delivered().length === 1);
    expect(s.requests.map((r) => r.answered)).toEqual([8, 3, 0]);
    expect(metric(bed.settings, FAILED, { ...ex, reason: 'permanent' })).toBe(60);
    const messages = bed.settings.logs.filter((l) => l.code === 'PULSE_ERR_EXPORT_REJECTED').map((l) => String(l.err));
    expect(messages[0]).toContain('RESOURCE_EXHAUSTED');
  });

  it('percent-decodes grpc-message in the error it reports', async () => {
    const s = await bed.server();
    s.replies = [{ grpcStatus: 3, message: 'bad span: 100% wrong' }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}`, sending_queue: { enabled: false } });
    await expect(e.consume(batch(1))).rejects.toThrow('INVALID_ARGUMENT (3): bad span: 100% wrong');
  });

  it('retries an HTTP error without grpc-status (a proxy answering 503)', async () => {
    const s = await bed.server();
    s.replies = [{ httpStatus: 503 }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}` });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
  });

  it('times out a hung call, and retries', async () => {
    const s = await bed.server();
    s.replies = ['hang'];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}`, timeout: '100ms' });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    expect(s.requests.map((r) => r.answered)).toEqual(['hang', 0]);
  });

  it('opens a new connection after a call times out on one that went silent without FIN/RST', async () => {
    const s = await bed.server();
    const proxy = await startTcpProxy(s.port);
    try {
      const e = await exporter({
        endpoint: `127.0.0.1:${proxy.port}`,
        timeout: '200ms',
        retry_on_failure: { initial_interval: '10ms', max_interval: '50ms', max_elapsed_time: '3s' },
      });
      await e.consume(batch(1));
      // Until the exporter has the answer, not only the server the batch: a partition while the answer is still in
      // the proxy loses it, and batch 1 is rightly sent again (at least once) instead of batch 2 arriving second.
      await until(() => metric(bed.settings, 'pulse_exporter_sent_items_total', ex) === 30);
      expect(proxy.connections()).toBe(1);
      // The connection stays open for the client but nothing gets through any more: a partition, not a restart.
      proxy.partition();
      await e.consume(batch(2));
      await until(() => s.delivered().length === 2, 4000, 'the batch to arrive over a new connection');
      expect(s.delivered()).toEqual([batch(1), batch(2)]);
      expect(proxy.connections()).toBeGreaterThanOrEqual(2);
      expect(bed.settings.logs.some((l) => l.code === 'PULSE_ERR_EXPORT_TIMEOUT')).toBe(true);
      expect(metric(bed.settings, FAILED, { ...ex, reason: 'retries_exhausted' })).toBe(0);
      await e.shutdown(Date.now() + 200);
    } finally {
      await proxy.close();
    }
  });

  it('a call timing out on an old connection leaves the newer one alone', async () => {
    const s = await bed.server();
    const proxy = await startTcpProxy(s.port);
    // Without gzip a call is on the connection once pending microtasks ran (see `onTheWire`).
    const client = new OtlpGrpcTraceClient(bed.settings, parse({ endpoint: `127.0.0.1:${proxy.port}`, compression: 'none' }));
    const onTheWire = () => new Promise((resolve) => setImmediate(resolve));
    await client.start();
    // Calls that must be answered get 2 s: without a new connection they hang on the silent one.
    const answered = () => AbortSignal.timeout(2000);
    try {
      await client.send(batch(1), answered());
      proxy.partition();
      const a = new AbortController();
      const b = new AbortController();
      const aFailed = expect(client.send(batch(2), a.signal)).rejects.toThrow('aborted');
      const bFailed = expect(client.send(batch(3), b.signal)).rejects.toThrow('aborted');
      await onTheWire();
      a.abort(); // A's timeout: its connection is replaced
      await aFailed;
      await client.send(batch(4), answered());
      expect(proxy.connections()).toBe(2);
      b.abort(); // B started on the old connection: the new one stays
      await bFailed;
      await client.send(batch(5), answered());
      expect(proxy.connections()).toBe(2);
      expect(s.delivered()).toEqual([batch(1), batch(4), batch(5)]);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('counts spans rejected in a partial success', async () => {
    const s = await bed.server();
    s.replies = [{ grpcStatus: 0, response: bytes(encodeTraceResponse(5, 'too old')) }];
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}` });
    await e.consume(batch(1));
    await until(() => metric(bed.settings, FAILED, { ...ex, reason: 'rejected_by_destination' }) === 5);
    expect(metric(bed.settings, 'pulse_exporter_sent_items_total', ex)).toBe(25);
  });

  it('reconnects after the server restarts', async () => {
    const s1 = await bed.server();
    const port = s1.port;
    const e = await exporter({ endpoint: `127.0.0.1:${port}` });
    await e.consume(batch(1));
    await until(() => s1.delivered().length === 1);
    await s1.close();
    bed.servers = [];
    await e.consume(batch(2)); // fails against the closed server and is retried
    await until(() => metric(bed.settings, 'pulse_exporter_retries_total', ex) >= 1);
    const s2 = await bed.server(port);
    await until(() => s2.delivered().length === 1);
    expect(s2.delivered()).toEqual([batch(2)]);
    expect(bed.settings.logs.some((l) => l.code === 'PULSE_ERR_EXPORT_CONNECT')).toBe(true);
  });

  it('retries while nothing listens, and delivers once the server comes up', async () => {
    const port = await freePort();
    const e = await exporter({ endpoint: `127.0.0.1:${port}` });
    await e.consume(batch(1));
    await until(() => metric(bed.settings, 'pulse_exporter_retries_total', ex) >= 2);
    const s = await bed.server(port);
    await until(() => s.delivered().length === 1);
  });

  it.skipIf(!hasOpenssl())('a certificate the exporter does not trust: retried, and the log names the TLS settings', async () => {
    const tls = makeSelfSignedCert(bed.dir.path);
    const s = await startFakeGrpcOtlp(0, tls);
    bed.servers.push(s);
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}`, tls: {} }); // TLS, system CAs only
    await e.consume(batch(1));
    await until(() => metric(bed.settings, 'pulse_exporter_retries_total', ex) >= 2);
    expect(s.delivered()).toEqual([]);
    const tlsLog = bed.settings.logs.find((l) => l.code === 'PULSE_ERR_EXPORT_TLS');
    expect(JSON.stringify(tlsLog)).toMatch(/TLS handshake failed: .*self[- ]signed certificate.*check tls\.ca_file/);
  });

  it.skipIf(!hasOpenssl())('sends over TLS, trusting the CA from tls.ca_file', async () => {
    const tls = makeSelfSignedCert(bed.dir.path);
    const s = await startFakeGrpcOtlp(0, tls);
    bed.servers.push(s);
    const e = await exporter({ endpoint: `127.0.0.1:${s.port}`, tls: { ca_file: tls.certFile } });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
  });
});
