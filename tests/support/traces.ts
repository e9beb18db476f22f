/**
 * Trace fixtures for tests and benchmarks.
 *
 * - `makeRealisticBatch()` builds what real OTel SDKs send: per service a resource with the usual semantic-convention
 *   attributes, an HTTP instrumentation scope and an application scope, traces of a SERVER root with CLIENT, database,
 *   INTERNAL and PRODUCER children, ~8 attributes per span, exception events on errors, some links, W3C flags, and
 *   nanosecond timestamps above 2^53. Deterministic for a given seed.
 * - `makeSpan()` / `makeBatch()` / `toAttributes()` build small hand-crafted batches.
 */
import { cloneSpan, KvList, SpanKind, StatusCode, type AnyValue, type KeyValue, type ResourceSpans, type ScopeSpans, type Span, type SpanEvent, type SpanLink, type TraceBatch } from '../../src/core/model.js';
import { seededRandom } from '../../scripts/random.mjs';

/** `{ key: value }` → the model's attribute list, in insertion order. */
export function toAttributes(record: Record<string, AnyValue>): KeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

/** A binary id string (one char per byte) from hex, for readable fixtures: `id('0af7651916cd43dd8448eb211c80319c')`. */
export function id(hex: string): string {
  let out = '';
  for (let i = 0; i < hex.length; i += 2) out += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

export const DEFAULT_TRACE_ID = id('5b8efff798038103d269b633813fc60c');
/** 2025-11-22T10:00:00Z in nanoseconds: above 2^53, so any lossy number conversion shows. */
export const BASE_TIME_NS = 1_763_805_600_000_000_000n;

let nextSpan = 1;

/**
 * A valid span with every field at a plain default, overridden by `partial`. Without `spanId` it takes the next id
 * of a process-wide counter, so spans made in one test are distinct.
 */
export function makeSpan(partial: Partial<Span> = {}): Span {
  const n = nextSpan++;
  const spanId = id((0x1000_0000_0000_0000n + BigInt(n)).toString(16).padStart(16, '0'));
  return {
    traceId: DEFAULT_TRACE_ID,
    spanId,
    traceState: '',
    parentSpanId: '',
    flags: 1,
    name: 'test-span',
    kind: SpanKind.INTERNAL,
    startTimeUnixNano: BASE_TIME_NS,
    endTimeUnixNano: BASE_TIME_NS + 1_500_000n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: StatusCode.UNSET,
    statusMessage: '',
    ...partial,
  };
}

/** One resource (default `service.name=test-service`) with one scope holding `spans`. */
export function makeBatch(
  spans: Span[],
  resourceAttrs: Record<string, AnyValue> = { 'service.name': 'test-service' },
  scope: { name?: string; version?: string } = { name: 'test-scope', version: '1.0.0' },
): TraceBatch {
  return {
    resourceSpans: [
      {
        resource: { attributes: toAttributes(resourceAttrs), droppedAttributesCount: 0 },
        scopeSpans: [
          {
            scope: { name: scope.name ?? '', version: scope.version ?? '', attributes: [], droppedAttributesCount: 0 },
            spans,
            schemaUrl: '',
          },
        ],
        schemaUrl: '',
      },
    ],
    spanCount: spans.length,
  };
}

// ---- realistic batches ---------------------------------------------------------------------------------------

const SERVICES = [
  { name: 'checkout-api', lang: 'nodejs', sdk: '2.2.0', ver: '3.14.2' },
  { name: 'payment-service', lang: 'java', sdk: '1.44.1', ver: '2.8.0' },
  { name: 'cart-service', lang: 'go', sdk: '1.32.0', ver: '1.22.7' },
  { name: 'frontend', lang: 'nodejs', sdk: '2.2.0', ver: '5.0.1' },
  { name: 'user-service', lang: 'python', sdk: '1.29.0', ver: '0.9.12' },
  { name: 'inventory-service', lang: 'dotnet', sdk: '1.10.0', ver: '4.2.0' },
  { name: 'shipping-service', lang: 'go', sdk: '1.32.0', ver: '1.3.3' },
  { name: 'notification-worker', lang: 'java', sdk: '1.44.1', ver: '7.1.0' },
];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-southeast-2'];
const ROUTES = [
  { method: 'POST', route: '/api/checkout', path: '/api/checkout', name: 'POST /api/checkout' },
  { method: 'GET', route: '/api/cart/:cartId', path: '/api/cart/8f14e45f', name: 'GET /api/cart/:cartId' },
  { method: 'POST', route: '/api/payments', path: '/api/payments', name: 'POST /api/payments' },
  { method: 'GET', route: '/api/products/:sku', path: '/api/products/SKU-29381', name: 'GET /api/products/:sku' },
  { method: 'PUT', route: '/api/users/:id/address', path: '/api/users/4411/address', name: 'PUT /api/users/:id/address' },
  { method: 'POST', route: '/api/signup', path: '/api/signup', name: 'POST /api/signup' },
];
const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'okhttp/4.12.0',
];
const TIERS = ['free', 'pro', 'enterprise'];
const DB_OPS = [
  { op: 'SELECT', table: 'orders', text: 'SELECT id, status, total FROM orders WHERE customer_id = $1 LIMIT 20' },
  { op: 'INSERT', table: 'payments', text: 'INSERT INTO payments (order_id, amount, currency) VALUES ($1, $2, $3)' },
  { op: 'UPDATE', table: 'carts', text: 'UPDATE carts SET items = $1, updated_at = now() WHERE id = $2' },
];

export interface RealisticBatchOptions {
  services?: number;
  spansPerService?: number;
  seed?: number;
}

/**
 * A batch like one an SDK's batch span processor exports: `services` resources × `spansPerService` spans
 * (defaults 5 × 100 = 500 spans, ~420 bytes per span as protobuf), deterministic for a given `seed`.
 */
export function makeRealisticBatch(options: RealisticBatchOptions = {}): TraceBatch {
  const { services = 5, spansPerService = 100, seed = 1 } = options;
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const hex = (bytes: number): string => {
    let s = '';
    for (let i = 0; i < bytes; i++) s += String.fromCharCode(1 + Math.floor(rnd() * 255));
    return s;
  };
  const uuid = (): string => {
    const h = '0123456789abcdef';
    let s = '';
    for (let i = 0; i < 32; i++) s += h[Math.floor(rnd() * 16)]!;
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  };

  const resourceSpans: ResourceSpans[] = [];
  let clock = BASE_TIME_NS + BigInt(Math.floor(rnd() * 1e9));

  for (let si = 0; si < services; si++) {
    const svc = SERVICES[si % SERVICES.length]!;
    const serviceName = si < SERVICES.length ? svc.name : `${svc.name}-${Math.floor(si / SERVICES.length)}`;
    const region = pick(REGIONS);
    const resource = {
      attributes: toAttributes({
        'service.name': serviceName,
        'service.namespace': 'shop',
        'service.version': svc.ver,
        'service.instance.id': uuid(),
        'deployment.environment.name': 'production',
        'telemetry.sdk.name': 'opentelemetry',
        'telemetry.sdk.language': svc.lang,
        'telemetry.sdk.version': svc.sdk,
        'host.name': `ip-10-0-${1 + Math.floor(rnd() * 250)}-${1 + Math.floor(rnd() * 250)}.${region}.compute.internal`,
        'host.arch': 'amd64',
        'os.type': 'linux',
        'cloud.provider': 'aws',
        'cloud.region': region,
        'process.pid': BigInt(1 + Math.floor(rnd() * 60000)),
      }),
      droppedAttributesCount: 0,
    };
    const httpScope: ScopeSpans = {
      scope: { name: '@opentelemetry/instrumentation-http', version: '0.208.0', attributes: [], droppedAttributesCount: 0 },
      spans: [],
      schemaUrl: 'https://opentelemetry.io/schemas/1.28.0',
    };
    const appScope: ScopeSpans = {
      scope: { name: serviceName, version: svc.ver, attributes: [], droppedAttributesCount: 0 },
      spans: [],
      schemaUrl: '',
    };

    let made = 0;
    while (made < spansPerService) {
      // One trace: a SERVER root, then children until the trace has 3-7 spans (or the service's quota is met).
      const traceId = hex(16);
      const rootId = hex(8);
      const route = pick(ROUTES);
      const tier = pick(TIERS);
      const failed = rnd() < 0.06;
      const rootStart = clock;
      const rootDur = BigInt(2_000_000 + Math.floor(rnd() * 180_000_000));
      clock += BigInt(1_000_000 + Math.floor(rnd() * 20_000_000));
      const status = failed ? 500n : route.method === 'POST' ? 201n : 200n;
      const root: Span = {
        traceId,
        spanId: rootId,
        traceState: rnd() < 0.1 ? 'vendor=t61rcWkgMzE,rojo=00f067aa0ba902b7' : '',
        parentSpanId: rnd() < 0.5 ? hex(8) : '',
        flags: 0x301,
        name: route.name,
        kind: SpanKind.SERVER,
        startTimeUnixNano: rootStart,
        endTimeUnixNano: rootStart + rootDur,
        attributes: toAttributes({
          'http.request.method': route.method,
          'url.path': route.path,
          'url.scheme': 'https',
          'http.route': route.route,
          'http.response.status_code': status,
          'server.address': 'shop.example.com',
          'user_agent.original': pick(USER_AGENTS),
          'customer.tier': tier,
        }),
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        statusCode: failed ? StatusCode.ERROR : StatusCode.UNSET,
        statusMessage: '',
      };
      if (failed) root.events.push(exceptionEvent(rootStart + rootDur - 1_000_000n, rnd));
      httpScope.spans.push(root);
      made++;

      const children = 2 + Math.floor(rnd() * 5);
      for (let c = 0; c < children && made < spansPerService; c++) {
        const start = rootStart + BigInt(Math.floor(Number(rootDur) * rnd() * 0.6));
        const dur = BigInt(200_000 + Math.floor(rnd() * Number(rootDur) * 0.3));
        const kindRoll = rnd();
        const span: Span = {
          traceId,
          spanId: hex(8),
          traceState: '',
          parentSpanId: rootId,
          flags: 0x101,
          name: '',
          kind: SpanKind.INTERNAL,
          startTimeUnixNano: start,
          endTimeUnixNano: start + dur,
          attributes: [],
          droppedAttributesCount: 0,
          events: [],
          droppedEventsCount: 0,
          links: [],
          droppedLinksCount: 0,
          statusCode: StatusCode.UNSET,
          statusMessage: '',
        };
        if (kindRoll < 0.35) {
          const db = pick(DB_OPS);
          span.kind = SpanKind.CLIENT;
          span.name = `${db.op} shop.${db.table}`;
          span.attributes = toAttributes({
            'db.system.name': 'postgresql',
            'db.namespace': 'shop',
            'db.operation.name': db.op,
            'db.collection.name': db.table,
            'db.query.text': db.text,
            'server.address': 'orders-db.internal',
            'server.port': 5432n,
            'db.response.returned_rows': BigInt(Math.floor(rnd() * 40)),
          });
          httpScope.spans.push(span);
        } else if (kindRoll < 0.6) {
          const target = pick(SERVICES);
          span.kind = SpanKind.CLIENT;
          span.name = 'POST';
          span.attributes = toAttributes({
            'http.request.method': 'POST',
            'url.full': `http://${target.name}.shop.svc.cluster.local:8080/internal/v1/${target.name.split('-')[0]}`,
            'server.address': `${target.name}.shop.svc.cluster.local`,
            'server.port': 8080n,
            'http.response.status_code': failed && c === 0 ? 503n : 200n,
            'network.protocol.version': '1.1',
            'customer.tier': tier,
            'http.request.body.size': BigInt(Math.floor(rnd() * 4000)),
          });
          if (failed && c === 0) {
            span.statusCode = StatusCode.ERROR;
            span.statusMessage = 'upstream unavailable: 503 Service Unavailable';
          }
          httpScope.spans.push(span);
        } else if (kindRoll < 0.9) {
          span.name = pick(['checkout.validate_cart', 'checkout.apply_discounts', 'payment.authorize', 'cart.price']);
          span.attributes = toAttributes({
            'customer.tier': tier,
            'enduser.id': `user-${Math.floor(rnd() * 100000)}`,
            'cart.items': BigInt(1 + Math.floor(rnd() * 12)),
            'order.total': Math.round(rnd() * 50000) / 100,
            currency: pick(['EUR', 'USD', 'GBP']),
            'payment.method': pick(['card', 'paypal', 'klarna']),
            'feature_flag.checkout_v2': rnd() < 0.5,
            'app.tags': ['web', pick(['promo', 'returning', 'first-order'])],
          });
          if (rnd() < 0.15) {
            span.events.push({
              timeUnixNano: start + dur / 2n,
              name: 'cache.miss',
              attributes: toAttributes({ 'cache.key': `price:${Math.floor(rnd() * 1e6)}` }),
              droppedAttributesCount: 0,
            });
          }
          if (rnd() < 0.3) span.statusCode = StatusCode.OK;
          appScope.spans.push(span);
        } else {
          span.kind = SpanKind.PRODUCER;
          span.name = 'orders publish';
          span.attributes = toAttributes({
            'messaging.system': 'kafka',
            'messaging.operation.type': 'publish',
            'messaging.destination.name': 'orders',
            'messaging.kafka.message.key': `order-${Math.floor(rnd() * 1e6)}`,
            'messaging.destination.partition.id': String(Math.floor(rnd() * 12)),
            'server.address': 'kafka-1.internal',
            'server.port': 9092n,
            'customer.tier': tier,
          });
          const link: SpanLink = {
            traceId: hex(16),
            spanId: hex(8),
            traceState: '',
            attributes: toAttributes({ 'messaging.batch.index': BigInt(Math.floor(rnd() * 8)) }),
            droppedAttributesCount: 0,
            flags: 0x101,
          };
          span.links.push(link);
          appScope.spans.push(span);
        }
        made++;
      }
    }
    resourceSpans.push({ resource, scopeSpans: [httpScope, appScope], schemaUrl: 'https://opentelemetry.io/schemas/1.28.0' });
  }
  let spanCount = 0;
  for (const rs of resourceSpans) for (const ss of rs.scopeSpans) spanCount += ss.spans.length;
  return { resourceSpans, spanCount };
}

function exceptionEvent(time: bigint, rnd: () => number): SpanEvent {
  const types = ['PaymentDeclinedError', 'TimeoutError', 'ECONNRESET'];
  const type = types[Math.floor(rnd() * types.length)]!;
  return {
    timeUnixNano: time,
    name: 'exception',
    attributes: toAttributes({
      'exception.type': type,
      'exception.message': `${type}: request to payment gateway failed after 3 attempts`,
      'exception.stacktrace': `${type}: request failed\n    at authorize (/app/src/payments/gateway.ts:88:11)\n    at async checkout (/app/src/checkout/handler.ts:142:5)`,
      'exception.escaped': false,
    }),
    droppedAttributesCount: 0,
  };
}

/** A span exercising every attribute value type, including nesting, extremes and non-ASCII text. */
export function makeEveryTypeSpan(): Span {
  return makeSpan({
    traceState: 'congo=t61rcWkgMzE',
    parentSpanId: id('00f067aa0ba902b7'),
    flags: 0x301,
    name: 'every-type ✓ Grüße 🚀',
    kind: SpanKind.CONSUMER,
    startTimeUnixNano: 18_446_744_073_709_551_615n, // 2^64 - 1
    endTimeUnixNano: BASE_TIME_NS + 123_456_789n,
    attributes: toAttributes({
      str: 'hello',
      empty: '',
      unicode: 'こんにちは — ünïcödé 🎉',
      bomFirst: '\ufeffleading BOM',
      yes: true,
      no: false,
      zero: 0n,
      int: 42n,
      negative: -7n,
      max: 9_223_372_036_854_775_807n,
      min: -9_223_372_036_854_775_808n,
      big: 9_007_199_254_740_993n, // 2^53 + 1
      double: 3.141592653589793,
      negZero: -0,
      doubleWhole: 2,
      nan: NaN,
      inf: Infinity,
      ninf: -Infinity,
      bytes: new Uint8Array([0, 1, 2, 253, 254, 255]),
      noBytes: new Uint8Array(0),
      nothing: null,
      list: ['a', 1n, 2.5, true, null, new Uint8Array([9])],
      emptyList: [],
      nested: [['deep', [1n, [new KvList([{ key: 'k', value: 'v' }])]]]],
      map: new KvList(toAttributes({ a: 'x', b: 2n, c: new KvList(toAttributes({ inner: [1n, 2n] })) })),
      emptyMap: new KvList([]),
    }),
    droppedAttributesCount: 3,
    events: [
      { timeUnixNano: BASE_TIME_NS + 1n, name: 'event-1', attributes: toAttributes({ 'e.k': 'v' }), droppedAttributesCount: 1 },
      { timeUnixNano: 0n, name: '', attributes: [], droppedAttributesCount: 0 },
    ],
    droppedEventsCount: 2,
    links: [
      {
        traceId: id('4bf92f3577b34da6a3ce929d0e0e4736'),
        spanId: id('00f067aa0ba902b8'),
        traceState: 'rojo=00f067aa0ba902b7',
        attributes: toAttributes({ 'link.k': 5n }),
        droppedAttributesCount: 4,
        flags: 0x101,
      },
    ],
    droppedLinksCount: 5,
    statusCode: StatusCode.ERROR,
    statusMessage: 'it broke — überhaupt',
  });
}

/**
 * The batch as a plain model: spans as plain objects with their attributes decoded (the protobuf decoder's spans
 * decode them on first read) and without the decoded-bytes bookkeeping (`Span.rawBuf` …, `TraceBatch.received`), so that a decoded batch
 * compares equal to the batch that was encoded.
 */
export function withoutRaw(batch: TraceBatch): TraceBatch {
  const { received: _r, ...rest } = batch;
  return {
    ...rest,
    resourceSpans: batch.resourceSpans.map((rs) => ({
      ...rs,
      scopeSpans: rs.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.map(plainSpan) })),
    })),
  };
}

function plainSpan(s: Span): Span {
  const { rawBuf: _b, rawStart: _s, rawEnd: _e, rawAttributes: _a, ...plain } = cloneSpan(s);
  return plain;
}

/**
 * One attempt of the shipped checkout journey (config/journeys/checkout.yaml: start, charge, confirm) in trace `n`,
 * as three services' SDKs would report it, starting now.
 */
export function makeCheckoutAttempt(n: number): TraceBatch {
  const traceId = id(n.toString(16).padStart(32, 'c'));
  const now = BigInt(Date.now()) * 1_000_000n;
  const at = (ms: number) => now + BigInt(ms) * 1_000_000n;
  const span = (name: string, kind: number, from: number, to: number, attrs: Record<string, string | number> = {}) =>
    makeSpan({ traceId, name, kind, startTimeUnixNano: at(from), endTimeUnixNano: at(to), attributes: toAttributes(attrs) });
  const batch: TraceBatch = { resourceSpans: [], spanCount: 3 };
  const parts: Array<[string, ReturnType<typeof span>]> = [
    ['frontend', span('POST /api/checkout', SpanKind.SERVER, 0, 300, { 'http.request.method': 'POST', 'http.response.status_code': 200 })],
    ['payments', span('charge card', SpanKind.SERVER, 50, 150)],
    ['notifier', span('send email', SpanKind.INTERNAL, 200, 250, { 'notification.template': 'order_confirmation' })],
  ];
  for (const [service, s] of parts) batch.resourceSpans.push(...makeBatch([s], { 'service.name': service }).resourceSpans);
  return batch;
}
