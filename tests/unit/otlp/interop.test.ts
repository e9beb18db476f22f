/**
 * Cross-checks against independent implementations: spans made by the OpenTelemetry JS SDK and serialized by
 * @opentelemetry/otlp-transformer (protobuf and JSON) must decode to exactly what the SDK recorded, and the bytes
 * our encoder writes must read back through protobufjs's generated OTLP classes (the ones otlp-transformer ships).
 */
import { createRequire } from 'node:module';
import { ROOT_CONTEXT, SpanKind as ApiSpanKind, SpanStatusCode, createTraceState, trace, type AttributeValue, type Attributes, type HrTime } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { hexToId, type AnyValue, type KeyValue, type ScopeSpans, type TraceBatch } from '../../../src/core/model.js';
import { decodeTraceRequest, decodeTraceRequestJson, encodeTraceRequest, encodeTraceResponse } from '../../../src/otlp/index.js';
import { makeBatch, makeEveryTypeSpan, makeRealisticBatch, withoutRaw } from '../../support/traces.js';

const T0 = 1_763_805_600; // seconds; HrTime keeps nanoseconds exact

function hr(offsetNs: number): HrTime {
  return [T0 + Math.floor(offsetNs / 1e9), offsetNs % 1e9];
}

/** Records a small but varied set of spans with the SDK: parents, a remote parent, events, links, statuses. */
async function recordSdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout-api', 'service.version': '3.1.4', 'host.cpu.count': 8, 'deployment.environment.name': 'prod' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const http = provider.getTracer('@opentelemetry/instrumentation-http', '0.208.0');
  const app = provider.getTracer('checkout');

  const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
    isRemote: true,
    traceState: createTraceState('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'),
  });
  const root = http.startSpan(
    'POST /api/checkout',
    {
      kind: ApiSpanKind.SERVER,
      startTime: hr(123_456_789),
      attributes: {
        'http.request.method': 'POST',
        'http.response.status_code': 201,
        'url.path': '/api/checkout',
        'app.ratio': 0.25,
        'app.flag': true,
        'app.tags': ['a', 'b'],
        'app.ids': [1, 2, 3],
        'user.name': 'Zoë — 日本',
      },
    },
    remoteParent,
  );
  const child = app.startSpan(
    'payment.authorize',
    {
      kind: ApiSpanKind.CLIENT,
      startTime: hr(200_000_001),
      links: [
        {
          context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 0, isRemote: true },
          attributes: { 'link.reason': 'batch', 'link.index': 2 },
        },
      ],
    },
    trace.setSpan(ROOT_CONTEXT, root),
  );
  child.addEvent('retry', { attempt: 2, 'backoff.ms': 12.5 }, hr(250_000_000));
  child.recordException(new TypeError('card declined'), hr(260_000_000));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'declined' });
  child.end(hr(300_000_999));
  const internal = app.startSpan('cart.price', { startTime: hr(310_000_000) }, trace.setSpan(ROOT_CONTEXT, root));
  internal.setStatus({ code: SpanStatusCode.OK });
  internal.end(hr(311_000_000));
  root.end(hr(999_999_999));
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  expect(spans).toHaveLength(3);
  return [...spans];
}

function nanos(t: HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

/** The SDK's attribute value as OTLP carries it: integral numbers become intValue, others doubleValue. */
function expectedValue(v: AttributeValue | undefined): AnyValue {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return (v as unknown[]).map((x) => expectedValue(x as AttributeValue));
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  return v as AnyValue;
}

function expectedAttributes(attrs: Attributes | undefined): KeyValue[] {
  return Object.entries(attrs ?? {}).map(([key, value]) => ({ key, value: expectedValue(value) }));
}

function flags(traceFlags: number, isRemote: boolean | undefined): number {
  // OTLP span flags: W3C trace flags, plus bit 8 "has is_remote" and bit 9 "is_remote".
  return (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
}

/** What the decoded batch must be, built straight from the SDK's spans. */
function expectedBatch(spans: ReadableSpan[]): TraceBatch {
  const scopes: ScopeSpans[] = [];
  for (const s of spans) {
    const { name, version = '' } = s.instrumentationScope;
    let scope = scopes.find((x) => x.scope.name === name && x.scope.version === version);
    if (!scope) {
      scope = { scope: { name, version, attributes: [], droppedAttributesCount: 0 }, spans: [], schemaUrl: '' };
      scopes.push(scope);
    }
    const ctx = s.spanContext();
    scope.spans.push({
      traceId: hexToId(ctx.traceId)!,
      spanId: hexToId(ctx.spanId)!,
      traceState: ctx.traceState?.serialize() ?? '',
      parentSpanId: s.parentSpanContext ? hexToId(s.parentSpanContext.spanId)! : '',
      flags: flags(ctx.traceFlags, s.parentSpanContext?.isRemote),
      name: s.name,
      kind: s.kind + 1,
      startTimeUnixNano: nanos(s.startTime),
      endTimeUnixNano: nanos(s.endTime),
      attributes: expectedAttributes(s.attributes),
      droppedAttributesCount: s.droppedAttributesCount,
      events: s.events.map((e) => ({ timeUnixNano: nanos(e.time), name: e.name, attributes: expectedAttributes(e.attributes), droppedAttributesCount: e.droppedAttributesCount ?? 0 })),
      droppedEventsCount: s.droppedEventsCount,
      links: s.links.map((l) => ({
        traceId: hexToId(l.context.traceId)!,
        spanId: hexToId(l.context.spanId)!,
        traceState: l.context.traceState?.serialize() ?? '',
        attributes: expectedAttributes(l.attributes),
        droppedAttributesCount: l.droppedAttributesCount ?? 0,
        flags: flags(l.context.traceFlags, l.context.isRemote),
      })),
      droppedLinksCount: s.droppedLinksCount,
      statusCode: s.status.code,
      statusMessage: s.status.message ?? '',
    });
  }
  return {
    resourceSpans: [{ resource: { attributes: expectedAttributes(spans[0]!.resource.attributes), droppedAttributesCount: 0 }, scopeSpans: scopes, schemaUrl: '' }],
    spanCount: spans.length,
  };
}

describe('decoding what the OpenTelemetry JS SDK sends', () => {
  it('protobuf (ProtobufTraceSerializer): ids, times, attributes, events, links and status match the SDK exactly', async () => {
    const spans = await recordSdkSpans();
    const body = ProtobufTraceSerializer.serializeRequest(spans)!;
    const result = decodeTraceRequest(body);
    expect(result.rejectedSpans).toBe(0);
    expect(withoutRaw(result.batch)).toEqual(expectedBatch(spans));
    // sanity: the fixture really has what the assertion claims to cover
    // spans arrive in the order they ended: the app scope's (child, internal) first, then the HTTP root
    const child = result.batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(child.events.map((e) => e.name)).toEqual(['retry', 'exception']);
    expect(child.links).toHaveLength(1);
    expect(child.statusCode).toBe(2);
    const root = result.batch.resourceSpans[0]!.scopeSpans[1]!.spans[0]!;
    expect(root.traceState).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    expect(root.flags).toBe(0x301);
    expect(root.attributes.find((a) => a.key === 'http.response.status_code')!.value).toBe(201n);
  });

  it('OTLP/JSON (JsonTraceSerializer): the same spans decode to the same model', async () => {
    const spans = await recordSdkSpans();
    const body = JsonTraceSerializer.serializeRequest(spans)!;
    const result = decodeTraceRequestJson(body);
    expect(result.rejectedSpans).toBe(0);
    expect(result.batch).toEqual(expectedBatch(spans));
    expect(result.batch).toEqual(withoutRaw(decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans)!).batch));
  });
});

interface ProtobufjsMessageType {
  decode(buf: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
  toObject(message: object, options: object): Record<string, unknown>;
}

/** protobufjs static classes generated from opentelemetry-proto, shipped inside @opentelemetry/otlp-transformer. */
function generatedTypes(): { request: ProtobufjsMessageType } {
  const require = createRequire(import.meta.url);
  const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
    opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtobufjsMessageType } } } } };
  };
  return { request: root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest };
}

describe('what our encoder writes, read by protobufjs', () => {
  it('parses, and survives a protobufjs decode → encode → our decode unchanged', () => {
    const { request } = generatedTypes();
    for (const batch of [makeRealisticBatch({ services: 3, spansPerService: 40 }), makeBatch([makeEveryTypeSpan()])]) {
      const ours = encodeTraceRequest(batch);
      const theirs = request.encode(request.decode(ours)).finish();
      expect(withoutRaw(decodeTraceRequest(theirs).batch)).toEqual(batch);
    }
  });

  it('carries field values protobufjs reads the same way', () => {
    const { request } = generatedTypes();
    const batch = makeBatch([makeEveryTypeSpan()]);
    const obj = request.toObject(request.decode(encodeTraceRequest(batch)), { longs: String, bytes: String, enums: Number, defaults: false }) as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
    };
    const span = obj.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    const model = batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(span.name).toBe(model.name);
    expect(span.kind).toBe(model.kind);
    expect(span.startTimeUnixNano).toBe('18446744073709551615');
    expect(span.endTimeUnixNano).toBe(String(model.endTimeUnixNano));
    expect(span.flags).toBe(model.flags);
    expect(span.droppedLinksCount).toBe(5);
    expect(Buffer.from(span.traceId as string, 'base64').toString('latin1')).toBe(model.traceId);
    const attrs = span.attributes as Array<{ key: string; value: Record<string, unknown> }>;
    const get = (k: string) => attrs.find((a) => a.key === k)!.value;
    expect(get('max')).toEqual({ intValue: '9223372036854775807' });
    expect(get('min')).toEqual({ intValue: '-9223372036854775808' });
    expect(get('unicode')).toEqual({ stringValue: 'こんにちは — ünïcödé 🎉' });
    expect(get('bytes')).toEqual({ bytesValue: Buffer.from([0, 1, 2, 253, 254, 255]).toString('base64') });
    expect(span.status).toEqual({ message: 'it broke — überhaupt', code: 2 });
  });

  it('our ExportTraceServiceResponse reads back through the SDK exporter’s response deserializer', () => {
    const response = ProtobufTraceSerializer.deserializeResponse(encodeTraceResponse(3, 'bad ids')) as {
      partialSuccess?: { rejectedSpans?: unknown; errorMessage?: string };
    };
    expect(Number(response.partialSuccess?.rejectedSpans)).toBe(3);
    expect(response.partialSuccess?.errorMessage).toBe('bad ids');
  });
});
