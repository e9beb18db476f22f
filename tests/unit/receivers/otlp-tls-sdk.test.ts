import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { encodeTraceRequest } from '../../../src/otlp/index.js';
import { serviceNameOf } from '../../../src/core/model.js';
import { makeSelfSignedCert } from '../../support/tls-certs.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { connectH2, grpcCall, grpcFrame, post, startReceiver, type Harness } from './otlp-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.receiver.shutdown();
  h = undefined;
});

const batch = makeRealisticBatch({ services: 1, spansPerService: 20, seed: 3 });
const body = encodeTraceRequest(batch);

/** A self-signed certificate for localhost / 127.0.0.1, made for this test run. */
let dir: string;
let cert: Buffer;
let tlsConfig: { cert_file: string; key_file: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-otlp-tls-'));
  const made = makeSelfSignedCert(dir);
  cert = made.cert;
  tlsConfig = { cert_file: made.certFile, key_file: made.keyFile };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('otlp receiver with TLS', () => {
  it('serves OTLP/HTTP over HTTPS', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', tls: tlsConfig } } });
    const res = await post(h.http, { headers: { 'content-type': 'application/x-protobuf' }, body, tls: { ca: cert } });
    expect(res.status).toBe(200);
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it('serves OTLP/gRPC over TLS (ALPN h2)', async () => {
    h = await startReceiver({ protocols: { grpc: { endpoint: '127.0.0.1:0', tls: tlsConfig } } });
    const s = connectH2(h.grpc, { ca: cert });
    try {
      const res = await grpcCall(s, grpcFrame(body));
      expect(res.grpcStatus).toBe(0);
      expect(h.next.spans()).toBe(batch.spanCount);
      expect(s.alpnProtocol).toBe('h2');
    } finally {
      s.destroy();
    }
  });

  it('with client_ca_file, refuses clients without a certificate and serves those with one', async () => {
    h = await startReceiver({
      protocols: { http: { endpoint: '127.0.0.1:0', tls: { ...tlsConfig, client_ca_file: tlsConfig.cert_file } } },
    });
    await expect(post(h.http, { headers: { 'content-type': 'application/x-protobuf' }, body, tls: { ca: cert } })).rejects.toThrow();
    const key = readFileSync(tlsConfig.key_file);
    const res = await post(h.http, { headers: { 'content-type': 'application/x-protobuf' }, body, tls: { ca: cert, cert, key } });
    expect(res.status).toBe(200);
  });

  it('fails to start with PULSE_ERR_TLS naming the file when it cannot be read', async () => {
    const err = await startReceiver({
      protocols: { grpc: { endpoint: '127.0.0.1:0', tls: { cert_file: join(dir, 'missing.pem'), key_file: tlsConfig.key_file } } },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PULSE_ERR_TLS' });
    expect((err as Error).message).toContain('missing.pem');
  });
});

/** The exporters' CompressionAlgorithm.GZIP, without importing their transitive base package. */
const GZIP = 'gzip' as NonNullable<NonNullable<ConstructorParameters<typeof GrpcExporter>[0]>['compression']>;

/** Sends `n` spans through a real OTel SDK pipeline with `exporter` and shuts it down. */
async function exportSpans(exporter: SpanExporter, n: number): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-compat' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('compat-test');
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan(`op-${i}`, { attributes: { 'test.index': i } });
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}

describe('otlp receiver and the OpenTelemetry JS exporters (wire compatibility)', () => {
  it('@opentelemetry/exporter-trace-otlp-grpc (grpc-js) exports to the gRPC server', async () => {
    h = await startReceiver();
    await exportSpans(new GrpcExporter({ url: `http://127.0.0.1:${h.grpc.port}` }), 5);
    expect(h.next.spans()).toBe(5);
    const rs = h.next.batches[0]!.resourceSpans[0]!;
    expect(serviceNameOf(rs.resource)).toBe('sdk-compat');
    expect(rs.scopeSpans[0]!.spans[0]!.name).toBe('op-0');
  });

  it('@opentelemetry/exporter-trace-otlp-grpc with gzip compression', async () => {
    h = await startReceiver();
    await exportSpans(new GrpcExporter({ url: `http://127.0.0.1:${h.grpc.port}`, compression: GZIP }), 3);
    expect(h.next.spans()).toBe(3);
    expect(h.metrics.find('pulse_receiver_requests_total')?.get({ receiver: 'otlp', transport: 'grpc', outcome: 'ok' })).toBe(3);
  });

  it('@opentelemetry/exporter-trace-otlp-proto and -http (JSON) export to the HTTP server', async () => {
    h = await startReceiver();
    await exportSpans(new ProtoExporter({ url: `http://127.0.0.1:${h.http.port}/v1/traces` }), 4);
    await exportSpans(new JsonExporter({ url: `http://127.0.0.1:${h.http.port}/v1/traces` }), 2);
    expect(h.next.spans()).toBe(6);
  });
});
