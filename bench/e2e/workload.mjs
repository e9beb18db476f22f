/**
 * The benchmark's traffic: pre-encoded OTLP export requests like the ones SDKs of a small shop send, built once so
 * that the load generator spends its CPU on sending, not on encoding.
 *
 * One request = 500 spans from several services, gzip'd, made of two gzip members (RFC 1952 allows a body of
 * several; every OTLP server inflates them as one stream):
 * - **background** (400 spans, 80%): HTTP servers and clients, database calls and internal work, with the resource
 *   and span attributes OTel SDKs emit. No journey matches them, so they cost Pulse decoding, matching, tagging
 *   and forwarding, but no state; a pool of them is reused as is.
 * - **journeys** (100 spans, 20%): complete attempts of the five journeys in `bench/e2e/journeys/` (start span and
 *   steps; healthy traffic: see `FAILED_AT` for the two per journey that fail). Every send needs fresh trace ids
 *   (else Pulse rightly counts the spans as late re-sends of decided attempts) and current timestamps (else SLI
 *   windows would be long closed). Re-compressing per send would cost the load generator more CPU than Pulse, so
 *   this member is *stored* (deflate block type 0: valid gzip, not compressed) and patched in place: trace ids and
 *   timestamps are written at offsets found once, then the CRC-32 is recomputed. Pulse inflates this fifth of the
 *   spans faster than it would a compressed one; BENCHMARKS.md says so.
 *
 * The same holds for OTLP/JSON: the background member ends in `,` inside `"resourceSpans":[`, and the journey
 * member closes the array, so the two inflate to one JSON document.
 */
import { crc32, gzipSync } from 'node:zlib';
import { idToHex } from '../../dist/core/model.js';
import { encodeTraceRequest, encodeTraceRequestJson } from '../../dist/otlp/index.js';
import { seededRandom } from '../../scripts/random.mjs';

export const SPANS_PER_REQUEST = 500;
export const JOURNEY_SPANS_PER_REQUEST = 100;

const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
const STATUS = { UNSET: 0, OK: 1, ERROR: 2 };
/** 2026-01-01T00:00:00Z in ns: the span times the templates are built with (shifted to "now" at each send). */
const BUILD_TIME_NS = 1_767_225_600_000_000_000n;

const SERVICES = {
  frontend: { lang: 'nodejs', sdk: '2.2.0', version: '5.4.0', scope: '@opentelemetry/instrumentation-http', scopeVersion: '0.208.0' },
  payments: { lang: 'java', sdk: '1.44.1', version: '2.8.3', scope: 'io.opentelemetry.spring-webmvc-6.0', scopeVersion: '2.10.0-alpha' },
  accounts: { lang: 'go', sdk: '1.32.0', version: '1.22.7', scope: 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', scopeVersion: '0.57.0' },
  search: { lang: 'python', sdk: '1.29.0', version: '0.9.12', scope: 'opentelemetry.instrumentation.flask', scopeVersion: '0.50b0' },
  ledger: { lang: 'dotnet', sdk: '1.10.0', version: '4.2.0', scope: 'OpenTelemetry.Instrumentation.AspNetCore', scopeVersion: '1.10.1' },
  notifier: { lang: 'go', sdk: '1.32.0', version: '7.1.0', scope: 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', scopeVersion: '0.57.0' },
  catalog: { lang: 'java', sdk: '1.44.1', version: '3.3.1', scope: 'io.opentelemetry.spring-webmvc-6.0', scopeVersion: '2.10.0-alpha' },
};

/** The five journeys of bench/e2e/journeys/: start span on the frontend, then [service, span name] steps. */
const JOURNEYS = [
  { route: 'POST /api/checkout', steps: [['payments', 'charge card'], ['notifier', 'send receipt']] },
  { route: 'POST /api/signup', steps: [['accounts', 'create account'], ['notifier', 'send welcome email']] },
  { route: 'POST /api/login', steps: [['accounts', 'verify password']] },
  { route: 'GET /api/search', steps: [['search', 'query index']] },
  { route: 'POST /api/transfer', steps: [['ledger', 'post transfer'], ['payments', 'settle transfer']] },
];

/** Routes and work of background traffic: none of them matches a journey. */
const BACKGROUND = {
  frontend: ['GET /api/products/:sku', 'GET /api/cart', 'PUT /api/cart/items', 'GET /api/recommendations'],
  catalog: ['GET /products/:sku', 'GET /categories/:id'],
  accounts: ['GET /users/:id', 'GET /sessions/:id'],
  search: ['GET /suggest'],
  payments: ['GET /payment-methods'],
};
const DB = [
  ['SELECT', 'products', 'SELECT id, name, price_cents, stock FROM products WHERE sku = $1'],
  ['SELECT', 'carts', 'SELECT items, updated_at FROM carts WHERE id = $1'],
  ['UPDATE', 'carts', 'UPDATE carts SET items = $1, updated_at = now() WHERE id = $2'],
  ['SELECT', 'users', 'SELECT id, email, tier FROM users WHERE id = $1'],
];
const TIERS = ['free', 'pro', 'enterprise'];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-southeast-2'];
const DEVICES = ['desktop', 'mobile', 'tablet'];
const AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
];

/** `{k: v}` → attribute list; integers become OTLP intValue (bigint), as SDKs send them. */
function attrs(record) {
  return Object.entries(record).map(([key, value]) => ({ key, value: Number.isInteger(value) ? BigInt(value) : value }));
}

class Generator {
  constructor(seed) {
    this.rnd = seededRandom(seed);
    this.clock = BUILD_TIME_NS;
    this.nextSpan = 1;
    this.instances = new Map();
  }
  pick(xs) {
    return xs[Math.floor(this.rnd() * xs.length)];
  }
  bytes(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(this.rnd() * 256));
    return s;
  }
  spanId() {
    // Unique within a template; the first byte is never 0 so no id is all zeros.
    const n = this.nextSpan++;
    return String.fromCharCode(1 + (n % 255)) + this.bytes(3) + String.fromCharCode((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  resource(service, region) {
    const s = SERVICES[service];
    const key = `${service}/${region}`;
    let id = this.instances.get(key);
    if (!id) this.instances.set(key, (id = [...this.bytes(16)].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')));
    return {
      attributes: attrs({
        'service.name': service,
        'service.namespace': 'shop',
        'service.version': s.version,
        'service.instance.id': id,
        'deployment.environment.name': 'production',
        'telemetry.sdk.name': 'opentelemetry',
        'telemetry.sdk.language': s.lang,
        'telemetry.sdk.version': s.sdk,
        'host.name': `ip-10-0-${service.length}-${region.length * 7}.${region}.compute.internal`,
        'host.arch': 'amd64',
        'os.type': 'linux',
        'cloud.provider': 'aws',
        'cloud.region': region,
        'process.pid': 1000 + service.length * 37,
      }),
      droppedAttributesCount: 0,
    };
  }
  span(traceId, parent, name, kind, start, durNs, attributes, error = false) {
    return {
      traceId,
      spanId: this.spanId(),
      traceState: '',
      parentSpanId: parent,
      flags: 0x301,
      name,
      kind,
      startTimeUnixNano: start,
      endTimeUnixNano: start + durNs,
      attributes,
      droppedAttributesCount: 0,
      events: error
        ? [{ timeUnixNano: start + durNs, name: 'exception', attributes: attrs({ 'exception.type': 'Error', 'exception.message': 'upstream returned 503' }), droppedAttributesCount: 0 }]
        : [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      statusCode: error ? STATUS.ERROR : STATUS.UNSET,
      statusMessage: error ? 'upstream returned 503' : '',
    };
  }
  tick() {
    this.clock += BigInt(200_000 + Math.floor(this.rnd() * 2_000_000));
    return this.clock;
  }
  serverAttrs(route, status, tier, device) {
    const [method, path] = route.split(' ');
    return attrs({
      'http.request.method': method,
      'http.route': path,
      'url.path': path.replace(':sku', 'SKU-29381').replace(':id', '4411'),
      'url.scheme': 'https',
      'http.response.status_code': status,
      'server.address': 'shop.example.com',
      'client.address': `203.0.113.${1 + Math.floor(this.rnd() * 250)}`,
      'user_agent.original': this.pick(AGENTS),
      'network.protocol.version': '1.1',
      'customer.tier': tier,
      'device.type': device,
    });
  }
}

/** Groups spans by (service, region) into ResourceSpans with one scope each, as SDK batches do. */
function toBatch(gen, spansByService) {
  const resourceSpans = [];
  let spanCount = 0;
  for (const [key, spans] of spansByService) {
    const [service, region] = key.split('/');
    const s = SERVICES[service];
    resourceSpans.push({
      resource: gen.resource(service, region),
      scopeSpans: [{ scope: { name: s.scope, version: s.scopeVersion, attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: 'https://opentelemetry.io/schemas/1.28.0' }],
      schemaUrl: '',
    });
    spanCount += spans.length;
  }
  return { resourceSpans, spanCount };
}

function push(map, key, span) {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(span);
}

/** 400 background spans: traces of a server span with a client call, database calls and internal work. */
function backgroundBatch(gen, count) {
  const byService = new Map();
  let made = 0;
  while (made < count) {
    const region = gen.pick(REGIONS);
    const service = gen.pick(Object.keys(BACKGROUND));
    const traceId = gen.bytes(16);
    const start = gen.tick();
    const failed = gen.rnd() < 0.03;
    const root = gen.span(traceId, '', gen.pick(BACKGROUND[service]), KIND.SERVER, start, BigInt(3_000_000 + Math.floor(gen.rnd() * 60_000_000)),
      gen.serverAttrs(`GET ${gen.pick(BACKGROUND[service]).split(' ')[1]}`, failed ? 503 : 200, gen.pick(TIERS), gen.pick(DEVICES)), failed);
    push(byService, `${service}/${region}`, root);
    made++;
    const children = 2 + Math.floor(gen.rnd() * 4);
    for (let c = 0; c < children && made < count; c++, made++) {
      const cs = start + BigInt(100_000 + c * 400_000);
      if (c % 2 === 0) {
        const [op, table, text] = gen.pick(DB);
        push(byService, `${service}/${region}`, gen.span(traceId, root.spanId, `${op} ${table}`, KIND.CLIENT, cs, BigInt(200_000 + Math.floor(gen.rnd() * 3_000_000)),
          attrs({ 'db.system.name': 'postgresql', 'db.namespace': 'shop', 'db.operation.name': op, 'db.collection.name': table, 'db.query.text': text, 'server.address': 'pg-primary.internal', 'server.port': 5432 })));
      } else {
        push(byService, `${service}/${region}`, gen.span(traceId, root.spanId, 'render response', KIND.INTERNAL, cs, BigInt(50_000 + Math.floor(gen.rnd() * 500_000)),
          attrs({ 'code.function.name': 'renderResponse', 'code.file.path': `/srv/${service}/handlers.js`, 'thread.name': 'main' })));
      }
    }
  }
  return toBatch(gen, byService);
}

/**
 * Healthy traffic, as most of the time, yet with the failure paths exercised: per journey, attempt number
 * `MISSING_AT` (counted over all templates) misses its required step, so it waits `trace_wait`, and attempt number
 * `FAILED_AT` fails on an error. With `TEMPLATES` templates a journey has 896–1024 attempts per cycle (journeys
 * with fewer spans fit more attempts in a template), so that is ~0.2% of attempts.
 *
 * The templates are sent over and over, so whatever fails in them fails at the same rate all run long, with the
 * same segment values. Random failures (0.5% before) left some journey, or some tier, region or device of one,
 * with one failing attempt in ~120 (0.8%) or ~40 (2.5%): over the journeys' 99.5% objective, so the `slo`
 * connector rightly raised ~20 burn-rate and segment alerts per 30 s. Here the two failing attempts of a journey
 * take different values of every segment dimension (`FAILING_VALUES`), so no segment value has more than one
 * failure in its ~270–400 attempts per cycle (0.4% at most); and neither is in the first templates, which a run
 * starts with (a failure in the first request made the first, small SLI window of a run fail at ~2%). No
 * alert should fire; one that does is a false positive worth a look.
 */
const MISSING_AT = 250;
const FAILED_AT = 750;
/** Index into TIERS, REGIONS and DEVICES of the missing-step attempt (0) and of the failed one (1). */
const FAILING_VALUES = { missing: 0, failed: 1 };

/**
 * ~100 journey spans: whole attempts, one trace each; `slots[i]` = the placeholder trace id of attempt i.
 * `seen[j]` counts the attempts of journey j built so far, across templates (it places the failures).
 */
function journeyBatch(gen, count, seen) {
  const byService = new Map();
  const slots = [];
  let made = 0;
  while (made < count) {
    const j = slots.length % JOURNEYS.length;
    const journey = JOURNEYS[j];
    if (made + 1 + journey.steps.length > count) break;
    // Placeholder trace ids: a fixed 6-byte tag, the slot number, then filler. Each occurs only in its attempt's spans.
    const slot = slots.length;
    const traceId = '\xb3\x7c\x5a\xe1\x09\x42' + String.fromCharCode(slot >> 8, slot & 255) + '\x11\x22\x33\x44\x55\x66\x77\x88';
    slots.push(traceId);
    const position = seen[j]++;
    const missingStep = position === MISSING_AT;
    const failedStep = position === FAILED_AT ? j % journey.steps.length : -1;
    const forced = missingStep ? FAILING_VALUES.missing : failedStep >= 0 ? FAILING_VALUES.failed : -1;
    const value = (xs) => (forced >= 0 ? xs[forced] : gen.pick(xs));
    const region = value(REGIONS);
    const tier = value(TIERS);
    const device = value(DEVICES);
    const start = gen.tick();
    const dur = BigInt(40_000_000 + Math.floor(gen.rnd() * 400_000_000));
    const root = gen.span(traceId, '', journey.route, KIND.SERVER, start, dur,
      gen.serverAttrs(journey.route, failedStep >= 0 ? 502 : 200, tier, device), failedStep >= 0);
    push(byService, `frontend/${region}`, root);
    made++;
    journey.steps.forEach(([service, name], i) => {
      if (missingStep && i === 0) return;
      const s = start + BigInt(1_000_000 + i * 10_000_000);
      push(byService, `${service}/${region}`, gen.span(traceId, root.spanId, name, KIND.INTERNAL, s, BigInt(2_000_000 + Math.floor(gen.rnd() * 20_000_000)),
        attrs({ 'code.function.name': name.replace(/ /g, '_'), 'rpc.system': 'grpc', 'peer.service': service }), i === failedStep));
      made++;
    });
  }
  return { batch: toBatch(gen, byService), slots };
}

// ---- encoding --------------------------------------------------------------------------------------------------

function allOffsets(haystack, needle) {
  const out = [];
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) out.push(i);
  return out;
}

/** Every span and event time in `batch`, for finding them in the encoded bytes. */
function timesOf(batch) {
  const out = new Set();
  for (const rs of batch.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        out.add(s.startTimeUnixNano);
        out.add(s.endTimeUnixNano);
        for (const e of s.events) out.add(e.timeUnixNano);
      }
  return [...out];
}

/**
 * A journey member template: the raw body, where each trace id slot and each timestamp sits in it, and a writer
 * for fresh values. Protobuf ids are 16 raw bytes and times fixed64 LE; JSON ids are 32 hex chars and times
 * 19-digit decimal strings. Both are found by searching for the placeholder values, which occur nowhere else.
 */
class JourneyTemplate {
  constructor(raw, format, slots, times) {
    this.raw = raw;
    this.format = format;
    this.slotOffsets = slots.map((id) => {
      const offs = allOffsets(raw, format === 'proto' ? Buffer.from(id, 'latin1') : Buffer.from(idToHex(id)));
      if (offs.length === 0) throw new Error('bench workload: a trace id placeholder is missing from the encoded body');
      return offs;
    });
    this.times = [];
    for (const t of times) {
      const needle = format === 'proto' ? leBytes(t) : Buffer.from(`"${t}"`);
      for (const off of allOffsets(raw, needle)) this.times.push({ off: format === 'proto' ? off : off + 1, value: t });
    }
    if (this.times.length === 0) throw new Error('bench workload: no timestamps found in the encoded body');
    this.spans = JOURNEY_SPANS_PER_REQUEST;
    this.attempts = slots.length;
  }

  /**
   * A gzip member holding the template with attempt i's trace id = `prefix` (12 bytes) + i (4 bytes BE) and every
   * time shifted by `shiftNs`. Writes into a fresh buffer: requests in flight never share one.
   */
  member(prefix, shiftNs) {
    const body = Buffer.from(this.raw);
    const id = Buffer.alloc(16);
    prefix.copy(id, 0, 0, 12);
    for (let i = 0; i < this.slotOffsets.length; i++) {
      id.writeUInt32BE(i, 12);
      const text = this.format === 'proto' ? id : Buffer.from(id.toString('hex'));
      for (const off of this.slotOffsets[i]) text.copy(body, off);
    }
    for (const { off, value } of this.times) {
      if (this.format === 'proto') body.writeBigUInt64LE(value + shiftNs, off);
      else body.write(String(value + shiftNs), off, 'latin1');
    }
    return storedGzip(body);
  }
}

function leBytes(v) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** A gzip member (RFC 1952) of stored deflate blocks (RFC 1951 §3.2.4): valid gzip, no compression. */
export function storedGzip(data) {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = Buffer.allocUnsafe(10 + blocks * 5 + data.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  let o = 10;
  for (let b = 0; b < blocks; b++) {
    const from = b * 65535;
    const len = Math.min(65535, data.length - from);
    out[o] = b === blocks - 1 ? 1 : 0;
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    data.copy(out, o + 5, from, from + len);
    o += 5 + len;
  }
  out.writeUInt32LE(crc32(data) >>> 0, o);
  out.writeUInt32LE(data.length >>> 0, o + 4);
  return out;
}

/** Journey templates (of ~38 attempts each) the load generator cycles through; see `FAILED_AT`. */
export const TEMPLATES = 128;

/**
 * Builds `backgrounds` background members and `templates` journey templates for `format` ('proto' | 'json').
 * Deterministic for a seed.
 */
export function buildWorkload({ format, backgrounds = 32, templates = TEMPLATES, seed = 7 }) {
  const gen = new Generator(seed);
  const background = [];
  for (let i = 0; i < backgrounds; i++) {
    const batch = backgroundBatch(gen, SPANS_PER_REQUEST - JOURNEY_SPANS_PER_REQUEST);
    if (format === 'proto') {
      background.push(gzipSync(encodeTraceRequest(batch)));
    } else {
      // '{"resourceSpans":[a,b,c]}' → '{"resourceSpans":[a,b,c,' — the journey member closes the array.
      const json = encodeTraceRequestJson(batch);
      if (!json.endsWith(']}')) throw new Error('bench workload: unexpected OTLP/JSON shape');
      background.push(gzipSync(Buffer.from(json.slice(0, -2) + ',')));
    }
  }
  const journeys = [];
  const seen = JOURNEYS.map(() => 0);
  for (let i = 0; i < templates; i++) {
    const { batch, slots } = journeyBatch(gen, JOURNEY_SPANS_PER_REQUEST, seen);
    let raw;
    if (format === 'proto') raw = Buffer.from(encodeTraceRequest(batch));
    else {
      const json = encodeTraceRequestJson(batch);
      const open = '{"resourceSpans":[';
      if (!json.startsWith(open)) throw new Error('bench workload: unexpected OTLP/JSON shape');
      raw = Buffer.from(json.slice(open.length));
    }
    const t = new JourneyTemplate(raw, format, slots, timesOf(batch));
    t.spans = batch.spanCount;
    journeys.push(t);
  }
  if (templates === TEMPLATES && seen.some((n) => n <= FAILED_AT)) throw new Error(`bench workload: a journey has fewer than ${FAILED_AT + 1} attempts`);
  return { format, background, journeys, buildTimeNs: BUILD_TIME_NS };
}

/** A one-span request whose span name carries `seq`, for measuring request → forward latency. */
export function probeRequest(format, seq, nowNs) {
  const name = probeName(seq);
  const traceId = 'probe' + String.fromCharCode(...leBytes(BigInt(seq))) + '\x01\x02\x03';
  const batch = {
    resourceSpans: [
      {
        resource: { attributes: attrs({ 'service.name': 'bench-probe' }), droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: 'bench', version: '1', attributes: [], droppedAttributesCount: 0 }, spans: [
          { traceId, spanId: 'probe\x00\x00\x01', traceState: '', parentSpanId: '', flags: 1, name, kind: KIND.INTERNAL, startTimeUnixNano: nowNs, endTimeUnixNano: nowNs + 1000n,
            attributes: [], droppedAttributesCount: 0, events: [], droppedEventsCount: 0, links: [], droppedLinksCount: 0, statusCode: 0, statusMessage: '' },
        ], schemaUrl: '' }],
        schemaUrl: '',
      },
    ],
    spanCount: 1,
  };
  return gzipSync(format === 'proto' ? encodeTraceRequest(batch) : Buffer.from(encodeTraceRequestJson(batch)));
}

export const PROBE_PREFIX = 'bench-probe-';
export function probeName(seq) {
  return PROBE_PREFIX + String(seq).padStart(12, '0');
}
