// A small simulated shop, instrumented with the real OpenTelemetry JS SDK, that sends traces to an OTLP endpoint
// (Pulse). Plain JavaScript so `scripts/demo.mjs` runs it without a build; TypeScript tests import it too (types in
// shop.d.mts). Its spans match the journeys in config/journeys/:
//
//   checkout: frontend "POST /api/checkout" (SERVER) → payments "charge card" → notifier "send email"/"send sms"
//             (+ payments "fraud check", which no journey names)
//   signup:   frontend "POST /api/signup" (SERVER)   → accounts "create account" → notifier "send email" (welcome)
//   search:   frontend "GET /api/search" (SERVER)    → search "query products" (1..n) → search "suggest terms"
//   browse:   frontend "GET /api/products" (SERVER)  → search "list products"        (no journey: never tagged)
//
// Every (service, service.version, cloud.region) is its own BasicTracerProvider with its own Resource and its own
// exporter, as separate processes would be: the spans of one trace reach Pulse in different requests, in the order
// the services are flushed (`flush(['payments', 'notifier', 'frontend'])` sends the steps before the start).
// Span times are explicit (a span ends at `at + durationMs`), so durations are exact and tests are deterministic.
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';

/** `service.version` of each service unless a call asks for another (e.g. a payments canary). */
export const DEFAULT_VERSIONS = Object.freeze({
  frontend: '1.8.0',
  payments: '2.4.1',
  notifier: '3.1.0',
  accounts: '1.2.0',
  search: '4.0.2',
});

export const DEFAULT_REGION = 'eu-west-1';

/** @param {import('./shop.d.mts').ShopOptions} options */
export function createShop(options) {
  const httpBase = (options.endpoints.http ?? '').replace(/\/+$/, '');
  const grpcUrl = options.endpoints.grpc ?? '';
  const versions = { ...DEFAULT_VERSIONS, ...options.versions };
  const region = options.region ?? DEFAULT_REGION;
  /** key `service|version|region` → { service, provider, tracer } */
  const services = new Map();
  let spansCreated = 0;

  function makeExporter(service) {
    const transport = options.transports?.[service] ?? options.transport ?? 'http/protobuf';
    switch (transport) {
      case 'http/protobuf':
        return new HttpProtoExporter({ url: `${httpBase}/v1/traces` });
      case 'http/json':
        return new HttpJsonExporter({ url: `${httpBase}/v1/traces` });
      case 'grpc':
        return new GrpcExporter({ url: grpcUrl });
      default:
        throw new Error(`shop: unknown transport "${transport}" for ${service}: use http/protobuf, http/json or grpc`);
    }
  }

  /** The emitting service: one provider (and exporter) per service, version and region, made on first use. */
  function serviceOf(service, version = versions[service], where = region) {
    const key = `${service}|${version}|${where}`;
    let s = services.get(key);
    if (s === undefined) {
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.version': version, 'cloud.region': where }),
        spanProcessors: [
          new BatchSpanProcessor(makeExporter(service), {
            // Tests flush by hand (a long delay means: only when told); the demo exports every 200 ms.
            scheduledDelayMillis: options.scheduledDelayMillis ?? 200,
            maxQueueSize: options.maxQueueSize ?? 65_536,
            maxExportBatchSize: 512,
          }),
        ],
      });
      s = { service, provider, tracer: provider.getTracer(`shop-${service}`, version) };
      services.set(key, s);
    }
    return s;
  }

  /**
   * Starts and ends one span of `svc`, records it in `out` and returns it. No `parent` = a root span.
   * @param {{ service: string, tracer: import('@opentelemetry/api').Tracer }} svc
   * @param {string} name
   * @param {{ kind?: import('@opentelemetry/api').SpanKind, parent?: import('@opentelemetry/api').Span, at: number, durationMs: number,
   *           attributes?: import('@opentelemetry/api').Attributes, error?: string }} o
   * @param {Array<{ service: string, name: string, spanId: string }>} out
   */
  function span(svc, name, o, out) {
    const { kind = SpanKind.INTERNAL, parent, at, durationMs, attributes, error } = o;
    const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
    const s = svc.tracer.startSpan(name, { kind, attributes, startTime: at }, ctx);
    if (error !== undefined) s.setStatus({ code: SpanStatusCode.ERROR, message: error });
    s.end(at + durationMs);
    spansCreated++;
    out.push({ service: svc.service, name, spanId: s.spanContext().spanId });
    return s;
  }

  /** The start time of a request lasting `durationMs`: ends now unless `at` is given. */
  function startOf(o, durationMs) {
    return o.at ?? Date.now() - durationMs;
  }

  function result(start, spans) {
    return { traceId: start.spanContext().traceId, startSpanId: start.spanContext().spanId, spans };
  }

  return {
    get spansCreated() {
      return spansCreated;
    },

    checkout(o = {}) {
      const durationMs = o.durationMs ?? 40;
      const at = startOf(o, durationMs);
      const where = o.region ?? region;
      const charges = o.charges ?? 1;
      const chargeFails = o.chargeFails ?? false;
      const spans = [];
      const attributes = { 'http.request.method': 'POST', 'http.route': '/api/checkout', 'http.response.status_code': o.status ?? (chargeFails ? 502 : 200) };
      if (o.tier !== undefined && o.tier !== null) attributes['customer.tier'] = o.tier;
      Object.assign(attributes, o.attributes);
      const frontend = serviceOf('frontend', o.frontendVersion, where);
      const start = span(frontend, 'POST /api/checkout', { kind: SpanKind.SERVER, at, durationMs, attributes }, spans);
      const payments = serviceOf('payments', o.paymentsVersion, where);
      // Charges share the request's time: a retried call comes right after the first.
      const chargeMs = Math.max(1, Math.floor((durationMs * 0.6) / Math.max(1, charges)));
      for (let i = 0; i < charges; i++) {
        const chargeAt = at + 2 + i * chargeMs;
        const charge = span(
          payments,
          'charge card',
          {
            kind: SpanKind.SERVER,
            parent: start,
            at: chargeAt,
            durationMs: Math.max(1, chargeMs - 1),
            attributes: { 'payment.method': 'card' },
            error: chargeFails ? 'card processor refused the charge: upstream 503' : undefined,
          },
          spans,
        );
        span(payments, 'fraud check', { parent: charge, at: chargeAt, durationMs: 1, attributes: {} }, spans);
      }
      const confirm = o.confirm === undefined ? (chargeFails ? null : 'email') : o.confirm;
      if (confirm !== null) {
        span(
          serviceOf('notifier', o.notifierVersion, where),
          `send ${confirm}`,
          {
            kind: SpanKind.CONSUMER,
            parent: start,
            at: at + durationMs - 3,
            durationMs: 2,
            attributes: { 'notification.template': 'order_confirmation' },
            error: o.confirmFails ? 'mail relay timed out' : undefined,
          },
          spans,
        );
      }
      return result(start, spans);
    },

    signup(o = {}) {
      const durationMs = o.durationMs ?? 60;
      const at = startOf(o, durationMs);
      const where = o.region ?? region;
      const creates = o.creates ?? 1;
      const createFails = o.createFails ?? false;
      const spans = [];
      const attributes = { 'http.request.method': 'POST', 'http.route': '/api/signup', 'http.response.status_code': o.status ?? (createFails ? 500 : 201) };
      if (o.source !== undefined) attributes['signup.source'] = o.source;
      Object.assign(attributes, o.attributes);
      const start = span(serviceOf('frontend', o.frontendVersion, where), 'POST /api/signup', { kind: SpanKind.SERVER, at, durationMs, attributes }, spans);
      const accounts = serviceOf('accounts', o.accountsVersion, where);
      for (let i = 0; i < creates; i++) {
        span(
          accounts,
          'create account',
          { kind: SpanKind.SERVER, parent: start, at: at + 2 + i * 10, durationMs: 8, attributes: {}, error: createFails ? 'unique constraint violated' : undefined },
          spans,
        );
      }
      if (o.welcome ?? !createFails) {
        span(
          serviceOf('notifier', o.notifierVersion, where),
          'send email',
          { kind: SpanKind.CONSUMER, parent: start, at: at + durationMs - 3, durationMs: 2, attributes: { 'notification.template': 'welcome' } },
          spans,
        );
      }
      return result(start, spans);
    },

    search(o = {}) {
      const durationMs = o.durationMs ?? 25;
      const at = startOf(o, durationMs);
      const where = o.region ?? region;
      const queries = o.queries ?? 1;
      const spans = [];
      const attributes = { 'http.request.method': 'GET', 'http.route': '/api/search', 'http.response.status_code': o.status ?? 200 };
      if (o.tier !== undefined && o.tier !== null) attributes['customer.tier'] = o.tier;
      Object.assign(attributes, o.attributes);
      const start = span(serviceOf('frontend', o.frontendVersion, where), 'GET /api/search', { kind: SpanKind.SERVER, at, durationMs, attributes }, spans);
      const search = serviceOf('search', o.searchVersion, where);
      for (let i = 0; i < queries; i++) span(search, 'query products', { kind: SpanKind.SERVER, parent: start, at: at + 1 + i * 3, durationMs: 2, attributes: {} }, spans);
      if (o.suggest ?? true) {
        span(
          search,
          'suggest terms',
          { parent: start, at: at + durationMs - 4, durationMs: 3, attributes: {}, error: o.suggestFails ? 'suggestion index unavailable' : undefined },
          spans,
        );
      }
      return result(start, spans);
    },

    browse(o = {}) {
      const durationMs = o.durationMs ?? 15;
      const at = startOf(o, durationMs);
      const where = o.region ?? region;
      const spans = [];
      const start = span(
        serviceOf('frontend', o.frontendVersion, where),
        'GET /api/products',
        { kind: SpanKind.SERVER, at, durationMs, attributes: { 'http.request.method': 'GET', 'http.route': '/api/products', 'http.response.status_code': 200, ...o.attributes } },
        spans,
      );
      span(serviceOf('search', o.searchVersion, where), 'list products', { kind: SpanKind.SERVER, parent: start, at: at + 1, durationMs: durationMs - 2, attributes: {} }, spans);
      return result(start, spans);
    },

    async flush(order = []) {
      const all = [...services.values()];
      const rank = (s) => {
        const i = order.indexOf(s.service);
        return i < 0 ? order.length : i;
      };
      // One service after the other, so that the order of arrival at Pulse is the order asked for.
      for (const s of all.sort((a, b) => rank(a) - rank(b))) await s.provider.forceFlush();
    },

    async shutdown() {
      await Promise.all([...services.values()].map((s) => s.provider.shutdown()));
      services.clear();
    },
  };
}
