/**
 * Conformance: spans made by the real OpenTelemetry JS SDK, sent by its three OTLP exporters (HTTP/JSON,
 * HTTP/protobuf, gRPC) to a running `bin/pulse start`, arrive intact at two next hops — one fed by Pulse's
 * `otlphttp` exporter, one by its `otlp` (gRPC) exporter: ids, timestamps to the nanosecond, kinds, status,
 * every attribute type, events, links, resource and scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace, SpanKind, SpanStatusCode, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { KvList, idToHex, type AnyValue, type KeyValue, type Span, type TraceBatch } from '../../src/core/model.js';
import { freePort, waitFor } from '../support/net.js';
import { startGrpcSink, startHttpSink, type OtlpSink } from '../support/otlp-sink.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';

let pulse: PulseProcess;
let httpSink: OtlpSink;
let grpcSink: OtlpSink;
let grpcPort: number;
let httpPort: number;

beforeAll(async () => {
  httpSink = await startHttpSink();
  grpcSink = await startGrpcSink();
  grpcPort = await freePort();
  httpPort = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${grpcPort} }
      http: { endpoint: 127.0.0.1:${httpPort} }
processors:
  batch: { timeout: 50ms }
exporters:
  otlphttp/next:
    endpoint: http://127.0.0.1:${httpSink.port}
    retry_on_failure: { initial_interval: 50ms }
  otlp/next:
    endpoint: 127.0.0.1:${grpcSink.port}
    tls: { insecure: true }
    retry_on_failure: { initial_interval: 50ms }
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlphttp/next, otlp/next]
`);
}, 60_000);

afterAll(async () => {
  const code = await pulse?.stop();
  await httpSink?.close();
  await grpcSink?.close();
  expect(code).toBe(0);
});

/** Makes a small trace with every attribute type, events, links, kinds and statuses, and returns the SDK's spans. */
function makeSdkSpans(label: string): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': `conformance-${label}`, 'service.version': '1.2.3', 'host.arch': 'amd64', 'process.pid': 4242 }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('conformance-scope', '9.9.9');
  const root = tracer.startSpan(`POST /api/checkout ${label}`, {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'POST',
      'http.response.status_code': 503,
      'http.ok': false,
      'ratio': 0.25,
      'big.int': Number.MAX_SAFE_INTEGER,
      'negative': -17,
      'unicode': 'caf\u00e9 \u2603 \u{1F600}',
      'empty': '',
      'tags': ['a', 'b', 'c'],
      'flags': [true, false],
      'counts': [1, 2, 3],
      'weights': [0.5, 1.5],
    },
  });
  const child = tracer.startSpan('charge card', { kind: SpanKind.CLIENT, attributes: { 'customer.tier': 'enterprise' } }, trace.setSpan(context.active(), root));
  child.addEvent('retrying', { attempt: 2, reason: 'timeout' });
  child.addEvent('gave up');
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined: insufficient funds' });
  child.end();
  const linked = tracer.startSpan('send email', {
    kind: SpanKind.PRODUCER,
    links: [{ context: child.spanContext(), attributes: { 'link.reason': 'follows' } }],
  });
  linked.setStatus({ code: SpanStatusCode.OK });
  linked.end();
  tracer.startSpan('consume order', { kind: SpanKind.CONSUMER }).end();
  tracer.startSpan('internal work', { kind: SpanKind.INTERNAL }).end();
  root.end();
  return memory.getFinishedSpans();
}

async function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
  await exporter.shutdown();
  if (result.code !== 0) throw result.error ?? new Error('export failed');
}

function hrToNanos(hr: [number, number]): bigint {
  return BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1]);
}

/** What an SDK attribute value must look like in Pulse's model (SDK integers are OTLP intValue, others double). */
function expectedValue(v: AttributeValue | undefined): AnyValue {
  if (Array.isArray(v)) return v.map((x) => expectedValue(x as AttributeValue));
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (v === undefined || v === null) return null;
  return v as AnyValue;
}

function attributesToObject(kvs: KeyValue[]): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const kv of kvs) out[kv.key] = kv.value instanceof KvList ? attributesToObject(kv.value.values) as unknown as AnyValue : kv.value;
  return out;
}

function expectedAttributes(attrs: Attributes): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = expectedValue(v);
  return out;
}

interface Found {
  span: Span;
  resource: Record<string, AnyValue>;
  scope: { name: string; version: string };
}

function findSpan(batches: TraceBatch[], spanIdHex: string): Found | undefined {
  for (const b of batches)
    for (const rs of b.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const span of ss.spans)
          if (idToHex(span.spanId) === spanIdHex)
            return { span, resource: attributesToObject(rs.resource.attributes), scope: { name: ss.scope.name, version: ss.scope.version } };
  return undefined;
}

function assertIntact(found: Found | undefined, sdk: ReadableSpan): void {
  expect(found, `span ${sdk.name} arrived`).toBeDefined();
  const { span, resource, scope } = found!;
  expect(idToHex(span.traceId)).toBe(sdk.spanContext().traceId);
  expect(idToHex(span.parentSpanId)).toBe(sdk.parentSpanContext?.spanId ?? '');
  expect(span.name).toBe(sdk.name);
  expect(span.kind).toBe(sdk.kind + 1); // API SpanKind INTERNAL=0..; OTLP INTERNAL=1..
  expect(span.startTimeUnixNano).toBe(hrToNanos(sdk.startTime));
  expect(span.endTimeUnixNano).toBe(hrToNanos(sdk.endTime));
  expect(span.flags & 0xff).toBe(sdk.spanContext().traceFlags);
  expect(span.statusCode).toBe(sdk.status.code);
  expect(span.statusMessage).toBe(sdk.status.message ?? '');
  expect(attributesToObject(span.attributes)).toEqual(expectedAttributes(sdk.attributes));
  expect(span.events.map((e) => ({ name: e.name, time: e.timeUnixNano, attributes: attributesToObject(e.attributes) }))).toEqual(
    sdk.events.map((e) => ({ name: e.name, time: hrToNanos(e.time), attributes: expectedAttributes(e.attributes ?? {}) })),
  );
  expect(span.links.map((l) => ({ traceId: idToHex(l.traceId), spanId: idToHex(l.spanId), attributes: attributesToObject(l.attributes) }))).toEqual(
    sdk.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: expectedAttributes(l.attributes ?? {}) })),
  );
  expect(resource).toEqual(expectedAttributes(sdk.resource.attributes));
  expect(scope).toEqual({ name: sdk.instrumentationScope.name, version: sdk.instrumentationScope.version ?? '' });
}

describe('spans from the OpenTelemetry JS SDK reach the next hops intact', () => {
  const cases: Array<[string, () => SpanExporter, string]> = [
    ['HTTP/JSON', () => new HttpJsonExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` }), 'http'],
    ['HTTP/protobuf', () => new HttpProtoExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` }), 'http'],
    ['gRPC', () => new GrpcExporter({ url: `http://127.0.0.1:${grpcPort}` }), 'grpc'],
  ];

  for (const [label, makeExporter] of cases) {
    it(`${label}: every field survives the trip through both the otlphttp and the otlp exporter`, async () => {
      const spans = makeSdkSpans(label.replace('/', '-'));
      await exportWith(makeExporter(), spans);
      for (const sink of [httpSink, grpcSink]) {
        await waitFor(() => spans.every((s) => findSpan(sink.batches, s.spanContext().spanId)), 15_000, `${label} spans at the sink`);
        for (const s of spans) assertIntact(findSpan(sink.batches, s.spanContext().spanId), s);
      }
    });
  }

  it('counts accepted spans per transport in /metrics', async () => {
    const text = await pulse.metrics();
    const accepted = (transport: string): number => {
      const m = new RegExp(`^pulse_receiver_accepted_spans_total\\{[^}]*transport="${transport}"[^}]*\\} (\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : -1;
    };
    // Two exports of 5 spans over HTTP (JSON, protobuf), one over gRPC.
    expect(accepted('http')).toBe(10);
    expect(accepted('grpc')).toBe(5);
  });
});
