#!/usr/bin/env node
// Alert scenarios: steady shop traffic with realistic background errors, and faults injected into it, driven
// through the simulated shop (scripts/shop.mjs, the real OpenTelemetry SDK) into `bin/pulse start` configured with
// second-level windows, so an incident fires and resolves within a minute.
//
//   import { createScenarioDriver, writeScenarioJourneys, scenarioPulseConfig } from './scenarios.mjs';
//   const driver = createScenarioDriver(shop);      // 40 checkouts/s + 10 searches/s, 0.2% random failures
//   driver.start();
//   const fault = driver.segmentFault();           // enterprise customers in us-east-1: every card charge fails
//   … the alert fires on the Kafka topic …
//   fault.clear();                                 // recovery; fault.injectedAtMs / clearedAtMs are wall-clock times
//
// Faults (one at a time is what the journeys below are tuned for):
//   segment     attempts of one segment value fail (customer.tier=enterprise, optionally in one region only)
//   bad release one service (payments) rolls out a version (2.5.0) to a share of the traffic; its charges fail
//   flatline    checkouts stop happening — no start span at all, no error anywhere (searches go on)
//
// `tests/integration/alert-scenarios.test.ts` asserts on the events these produce; run as a script,
// `node scripts/scenarios.mjs --measure [--steady-minutes 10]` starts its own Kafka (scripts/infra) and Pulse
// (bin/pulse, which runs dist/: build first) and prints detection times, whether the first suspect was the
// injected cause, and the false alerts of a steady run.
//
// Why the numbers below fire exactly one alert per fault (target 99% → error budget rate e = 1%, one page pair
// 20s/5s at factor 10 → an alert needs > 10% failures in both windows):
//   steady       0.2% failures everywhere: no window comes near 10%.
//   segment      enterprise = 10% of checkouts, half of them in us-east-1, all of those fail: enterprise 50%
//                (fires; ≥ 10 attempts in 5 s and far worse than the rest), journey 5% (does not). us-east-1 fails
//                10% (enterprise's share of it): right at the threshold, so it fires too about as often as not;
//                `failureRatio: 0.6` keeps it at 6% (enterprise 30%, still far over), as the alert test does.
//   bad release  payments 2.5.0 serves 20% of checkouts and fails 25% of its charges: journey 5% (no burn-rate
//                alert), 2.5.0 25% vs 0.2% for 2.4.1 → release_regression; no tier or region is worse.
//   flatline     successes fall from ~200 per 5 s to 0: under a quarter of the baseline → heartbeat.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from './random.mjs';

export const SCENARIO_TOPIC = 'pulse.alerts';

/** The rules the journeys below carry, for callers that size their waits. */
export const SCENARIO_RULES = Object.freeze({
  target: 0.99,
  longWindowMs: 20_000,
  shortWindowMs: 5_000,
  factor: 10,
  minAttempts: 10,
  heartbeatPerMs: 5_000,
  heartbeatMinHistoryMs: 20_000,
  repeatIntervalMs: 3_000,
  /** Pulse evaluates windows this far behind the clock (slo `sli_delay`). */
  sliDelayMs: 4_000,
  /**
   * Steady traffic needed before every rule is armed: a new service version counts as a release only 30 s after
   * its service was first seen (RELEASE_GRACE_MS), and the heartbeat baseline needs min_history + per + sli_delay.
   */
  warmupMs: 40_000,
});

const CHECKOUT = `# Checkout with second-level alert windows: incidents fire and resolve within a minute (scripts/scenarios.mjs).
apiVersion: pulse/v1
kind: Journey
metadata:
  name: checkout
  description: Shopper places an order and sees the confirmation
  owner: team-payments
  runbook: https://runbooks.example.com/checkout
spec:
  start: { service: frontend, span: "POST /api/checkout", kind: server }
  steps:
    - { name: charge, service: payments, span: "charge card", required: true, max_calls: 1 }
    - { name: confirm, service: notifier, span: { regex: "^send (email|sms)$" } }
  success:
    no_errors: journey
    where:
      http.response.status_code: { lt: 500 }
  segments: [customer.tier, cloud.region]
  objective: { target: 99%, window: 1h }
  alerts:
    burn_rates:
      - { severity: page, long: 20s, short: 5s, factor: 10 }
    segments: { min_attempts: 10 }
    heartbeat: { baseline: auto, per: 5s, min_history: 20s, baseline_window: 30s }
    release: { new_for: 2m }
    repeat_interval: 3s
    # Five-second windows hold ~20 enterprise attempts: one with a failure or two fewer dips under the threshold
    # mid-incident. Kept open 10 s after its condition last held, the segment alert of the scenario no longer
    # resolves and fires again mid-fault (in process, 0 of 40 seeds instead of 23; resolution 15 s after clear()
    # instead of 7, median).
    keep_firing_for: 10s
`;

const SEARCH = `# Search keeps running while checkout is broken: Pulse is alive, checkout alone stopped.
apiVersion: pulse/v1
kind: Journey
metadata:
  name: search
  owner: team-discovery
spec:
  start: { service: frontend, span: "GET /api/search", kind: server }
  steps:
    - { name: query, service: search, span: "query products", required: true }
    - { name: suggest, service: search, span: "suggest terms" }
  success:
    no_errors: journey
  segments: [customer.tier]
  objective: { target: 99%, window: 1h }
  alerts:
    burn_rates:
      - { severity: page, long: 20s, short: 5s, factor: 10 }
    segments: { min_attempts: 10 }
    heartbeat: false
    release: false
    repeat_interval: 3s
`;

/** The journey files of the scenarios: file name → YAML. */
export function scenarioJourneys() {
  return { 'checkout.yaml': CHECKOUT, 'search.yaml': SEARCH };
}

/** Writes scenarioJourneys() into `dir` (created if missing) and returns `dir`. */
export function writeScenarioJourneys(dir) {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(scenarioJourneys())) writeFileSync(join(dir, name), text);
  return dir;
}

/**
 * Pulse's config for the scenarios, without `service.telemetry` (it ends inside `service:`, so a telemetry block
 * indented by two spaces may be appended — what tests/support/pulse-process.ts does). `alertsPath`: also record
 * every alert event as a JSON line (debug exporter), the reference of what Pulse produced.
 */
export function scenarioPulseConfig({ journeysDir, httpPort, brokers, topic = SCENARIO_TOPIC, alertsPath }) {
  const debug = alertsPath === undefined ? '' : `  debug/alerts: { path: ${alertsPath} }\n`;
  return `receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort} }
connectors:
  journeys:
    directory: ${journeysDir}
    trace_wait: 1s
    settle_delay: 200ms
    sli: { window: 1s, allowed_lateness: 2s }
  slo:
    directory: ${journeysDir}
    evaluation_interval: 1s
    sli_delay: ${SCENARIO_RULES.sliDelayMs / 1000}s
exporters:
  kafka:
    brokers: [${brokers}]
    topic: ${topic}
    timeout: 3s
    retry_on_failure: { initial_interval: 200ms, max_interval: 1s }
${debug}service:
  pipelines:
    traces/in:       { receivers: [otlp], exporters: [journeys] }
    attempts:        { receivers: [journeys], exporters: [slo] }
    journey_metrics: { receivers: [journeys], exporters: [slo] }
    alerts:          { receivers: [slo], exporters: [kafka${alertsPath === undefined ? '' : ', debug/alerts'}] }
`;
}

function weighted(random, table) {
  let r = random() * table.reduce((s, [, w]) => s + w, 0);
  for (const [value, w] of table) {
    r -= w;
    if (r < 0) return value;
  }
  return table[table.length - 1][0];
}

const DEFAULT_DRIVER = Object.freeze({
  checkoutsPerSecond: 40,
  searchesPerSecond: 10,
  backgroundErrorRate: 0.002,
  tiers: [
    ['free', 0.6],
    ['pro', 0.3],
    ['enterprise', 0.1],
  ],
  regions: [
    ['eu-west-1', 0.5],
    ['us-east-1', 0.5],
  ],
  seed: 20_251_122,
  tickMs: 100,
});

/** @param {import('./shop.d.mts').Shop} shop @param {Partial<import('./scenarios.d.mts').DriverOptions>} [options] */
export function createScenarioDriver(shop, options = {}) {
  const o = { ...DEFAULT_DRIVER, ...options };
  const random = seededRandom(o.seed);
  const stats = { checkouts: 0, searches: 0, backgroundFailures: 0, injectedFailures: 0 };
  /** The fault in force (at most one of each kind). */
  let segment;
  let release;
  let flatline;
  let timer;
  let last = 0;
  let checkoutDebt = 0;
  let searchDebt = 0;

  function checkout(endMs) {
    const tier = weighted(random, o.tiers);
    const region = weighted(random, o.regions);
    const durationMs = 30 + Math.floor(random() * 50);
    const req = { tier, region, at: endMs - durationMs, durationMs, confirm: random() < 0.2 ? 'sms' : 'email' };
    let failed = false;
    if (segment !== undefined && tier === segment.tier && (segment.region === undefined || region === segment.region) && random() < segment.failureRatio) {
      req.chargeFails = true;
      failed = true;
    }
    if (release !== undefined && random() < release.share) {
      req.paymentsVersion = release.version;
      if (random() < release.failureRatio) {
        req.chargeFails = true;
        failed = true;
      }
    }
    if (failed) stats.injectedFailures++;
    else if (random() < o.backgroundErrorRate) {
      // Background noise, spread over where checkouts really fail: the card processor, the frontend, the mailer.
      stats.backgroundFailures++;
      const where = random();
      if (where < 0.5) req.chargeFails = true;
      else if (where < 0.75) req.status = 500;
      else req.confirmFails = true;
    }
    shop.checkout(req);
    stats.checkouts++;
  }

  function search(endMs) {
    const durationMs = 15 + Math.floor(random() * 20);
    const suggestFails = random() < o.backgroundErrorRate;
    if (suggestFails) stats.backgroundFailures++;
    shop.search({ tier: weighted(random, o.tiers), region: weighted(random, o.regions), at: endMs - durationMs, durationMs, suggestFails });
    stats.searches++;
  }

  function tick() {
    const now = Date.now();
    // Rates follow the wall clock, not the timer: a late tick makes up for the requests it missed, spread over the
    // time that passed, so event time carries the configured rate even when the event loop is busy.
    const elapsed = Math.min(5000, Math.max(0, now - last));
    last = now;
    checkoutDebt += (o.checkoutsPerSecond * elapsed) / 1000;
    searchDebt += (o.searchesPerSecond * elapsed) / 1000;
    const checkouts = Math.floor(checkoutDebt);
    const searches = Math.floor(searchDebt);
    checkoutDebt -= checkouts;
    searchDebt -= searches;
    // A flatline: the checkout requests are simply not made (the button is gone); nothing errors.
    if (flatline === undefined) for (let i = 0; i < checkouts; i++) checkout(now - elapsed + ((i + 1) * elapsed) / checkouts);
    for (let i = 0; i < searches; i++) search(now - elapsed + ((i + 1) * elapsed) / searches);
  }

  function makeFault(kind, description, expected, onClear) {
    const fault = {
      kind,
      description,
      expected,
      injectedAtMs: Date.now(),
      clearedAtMs: undefined,
      clear() {
        if (fault.clearedAtMs === undefined) {
          onClear();
          fault.clearedAtMs = Date.now();
        }
        return fault.clearedAtMs;
      },
    };
    return fault;
  }

  return {
    stats,
    get running() {
      return timer !== undefined;
    },
    start() {
      if (timer !== undefined) return;
      last = Date.now();
      timer = setInterval(tick, o.tickMs);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },

    segmentFault(f = {}) {
      if (segment !== undefined) throw new Error('scenarios: a segment fault is already injected; clear() it first');
      const spec = { tier: f.tier ?? 'enterprise', region: 'region' in f ? f.region : 'us-east-1', failureRatio: f.failureRatio ?? 1 };
      const where = spec.region === undefined ? '' : ` in ${spec.region}`;
      const fault = makeFault(
        'segment',
        `customer.tier=${spec.tier}${where}: ${Math.round(spec.failureRatio * 100)}% of card charges fail`,
        { kinds: ['segment'], segment: { key: 'customer.tier', value: spec.tier }, suspect: { dimension: 'customer.tier', value: spec.tier } },
        () => (segment = undefined),
      );
      segment = spec;
      return fault;
    },

    badRelease(f = {}) {
      if (release !== undefined) throw new Error('scenarios: a bad release is already rolled out; clear() it first');
      const spec = { version: f.version ?? '2.5.0', share: f.share ?? 0.2, failureRatio: f.failureRatio ?? 0.25 };
      const fault = makeFault(
        'bad_release',
        `payments ${spec.version} serves ${Math.round(spec.share * 100)}% of checkouts and fails ${Math.round(spec.failureRatio * 100)}% of its charges`,
        {
          kinds: ['release_regression', 'burn_rate', 'segment'],
          segment: undefined,
          suspect: { dimension: 'service.version:payments', value: spec.version },
          release: { service: 'payments', newVersion: spec.version, previousVersion: '2.4.1' },
        },
        () => (release = undefined),
      );
      release = spec;
      return fault;
    },

    flatline() {
      if (flatline !== undefined) throw new Error('scenarios: checkout is already flat; clear() it first');
      const fault = makeFault('flatline', 'checkouts stop happening: no start span, no error anywhere', { kinds: ['heartbeat'], segment: undefined, suspect: undefined }, () => (flatline = undefined));
      flatline = {};
      return fault;
    },
  };
}

/**
 * Whether `data` (the `data` of a CloudEvent on the alert topic) is the alert `fault` should produce: one of its
 * kinds, about its segment (if it names one), a firing event.
 */
export function isExpectedAlert(data, fault) {
  const e = fault.expected;
  if (data.status !== 'firing' || data.journey !== 'checkout' || !e.kinds.includes(data.kind)) return false;
  if (data.kind === 'segment' && e.segment !== undefined) return data.segment?.key === e.segment.key && data.segment?.value === e.segment.value;
  // A bad release may also show as a burn-rate or segment alert, but only one that blames it first.
  if (fault.kind === 'bad_release' && data.kind !== 'release_regression') return firstSuspectIsCause(data, fault) === true;
  return true;
}

/** `true`/`false` whether the top-ranked suspect of `data` is the injected cause; `undefined` when the fault has none to name (flatline). */
export function firstSuspectIsCause(data, fault) {
  const s = fault.expected.suspect;
  if (s === undefined) return undefined;
  const first = data.suspects?.[0];
  return first !== undefined && first.dimension === s.dimension && first.value === s.value;
}

/** `dimension=value` of the first suspect, for reports. */
export function describeFirstSuspect(data) {
  const first = data.suspects?.[0];
  return first === undefined ? '(none)' : `${first.dimension}=${first.value}`;
}

// ---- measurement mode ----------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = check();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

function parseArgs(argv) {
  const args = { measure: false, steadyMinutes: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--measure') args.measure = true;
    else if (a === '--steady-minutes') args.steadyMinutes = Number(argv[++i]);
    else if (a.startsWith('--steady-minutes=')) args.steadyMinutes = Number(a.slice('--steady-minutes='.length));
    else if (a === '--help' || a === '-h') args.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.steadyMinutes >= 0)) throw new Error('--steady-minutes needs a number ≥ 0');
  return args;
}

async function measure({ steadyMinutes }) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { installKafka, startKafka } = await import('./infra/kafka-lib.mjs');
  const { freePorts } = await import('./infra/process-control.mjs');
  const { createShop } = await import('./shop.mjs');
  const { default: kafkajs } = await import('kafkajs');
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const log = (msg) => process.stdout.write(`[scenarios] ${msg}\n`);
  const work = mkdtempSync(join(tmpdir(), 'pulse-scenarios-'));
  const cleanups = [];
  const cleanup = async () => {
    while (cleanups.length > 0) await cleanups.pop()().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    log('starting Kafka …');
    installKafka({ quiet: true });
    const broker = await startKafka({ dir: join(work, 'kafka') });
    cleanups.push(() => broker.stop());

    const [httpPort, metricsPort, healthPort] = await freePorts(3);
    const journeysDir = writeScenarioJourneys(join(work, 'journeys'));
    const configPath = join(work, 'pulse.yaml');
    const telemetry = `  telemetry:\n    logs: { level: warn }\n    metrics: { address: 127.0.0.1:${metricsPort} }\n    health: { address: 127.0.0.1:${healthPort} }\n  data_dir: ${join(work, 'data')}\n`;
    writeFileSync(configPath, scenarioPulseConfig({ journeysDir, httpPort, brokers: broker.brokers }) + telemetry);
    log(`starting bin/pulse (Kafka ${broker.version} at ${broker.brokers}) …`);
    const pulse = spawn(process.execPath, [join(root, 'bin', 'pulse'), 'start', '--config', configPath], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    let pulseLog = '';
    pulse.stderr.on('data', (d) => (pulseLog = (pulseLog + d.toString()).slice(-20_000)));
    const exited = new Promise((r) => pulse.once('exit', r));
    cleanups.push(async () => {
      if (pulse.exitCode === null && pulse.signalCode === null) pulse.kill('SIGTERM');
      await exited;
    });
    for (let ready = false, end = Date.now() + 20_000; !ready; ) {
      if (pulse.exitCode !== null) throw new Error(`pulse exited with ${pulse.exitCode}:\n${pulseLog}`);
      if (Date.now() > end) throw new Error(`pulse did not become ready:\n${pulseLog}`);
      ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then((r) => r.status === 200, () => false);
      if (!ready) await sleep(100);
    }

    // Read the topic like any consumer of alerts: its own group, from the beginning.
    const kafka = new kafkajs.Kafka({ clientId: 'pulse-scenarios', brokers: [broker.brokers], logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: SCENARIO_TOPIC }], waitForLeaders: true }).catch(() => undefined);
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: `pulse-scenarios-${process.pid}-${Date.now()}`, sessionTimeout: 6000, heartbeatInterval: 500 });
    cleanups.push(() => consumer.disconnect());
    /** @type {Array<{ atMs: number, data: any }>} */
    const seen = [];
    await consumer.connect();
    await consumer.subscribe({ topic: SCENARIO_TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push({ atMs: Date.now(), data: JSON.parse(message.value.toString('utf8')).data }) });

    const shop = createShop({ endpoints: { http: `http://127.0.0.1:${httpPort}` }, scheduledDelayMillis: 200 });
    cleanups.push(() => shop.shutdown());
    const driver = createScenarioDriver(shop);
    cleanups.push(async () => driver.stop());
    driver.start();
    log(`steady traffic for ${SCENARIO_RULES.warmupMs / 1000} s before the first fault (release grace, heartbeat history) …`);
    await sleep(SCENARIO_RULES.warmupMs);
    const warmupAlerts = seen.filter((e) => e.data.status === 'firing' && !e.data.repeat);

    const results = [];
    const runs = [
      ['segment', () => driver.segmentFault()],
      ['bad release', () => driver.badRelease()],
      ['flatline', () => driver.flatline()],
    ];
    for (const [name, inject] of runs) {
      const from = seen.length;
      const fault = inject();
      log(`${name}: ${fault.description}`);
      const hit = await waitUntil(() => seen.slice(from).find((e) => isExpectedAlert(e.data, fault)), 120_000, `the ${name} alert on Kafka`);
      const seconds = (hit.atMs - fault.injectedAtMs) / 1000;
      results.push({ name, seconds, kind: hit.data.kind, first: describeFirstSuspect(hit.data), cause: firstSuspectIsCause(hit.data, fault), summary: hit.data.summary });
      await sleep(3000);
      fault.clear();
      // Recovery: every alert that fired since the injection resolves.
      await waitUntil(
        () => {
          const fired = new Set(seen.slice(from).filter((e) => e.data.status === 'firing').map((e) => e.data.fingerprint));
          const resolved = new Set(seen.slice(from).filter((e) => e.data.status === 'resolved').map((e) => e.data.fingerprint));
          return [...fired].every((fp) => resolved.has(fp));
        },
        120_000,
        `the ${name} alerts to resolve`,
      );
      const alerts = new Set(seen.slice(from).map((e) => `${e.data.kind}${e.data.segment ? ` ${e.data.segment.key}=${e.data.segment.value}` : ''}`));
      log(`${name}: fired in ${seconds.toFixed(1)} s, resolved ${((Date.now() - fault.clearedAtMs) / 1000).toFixed(1)} s after clear(); alerts: ${[...alerts].join(', ')}`);
      results.at(-1).alerts = [...alerts];
      await sleep(10_000);
    }

    const steadyFrom = seen.length;
    const steadyStart = Date.now();
    log(`steady traffic for ${steadyMinutes} min …`);
    while (Date.now() - steadyStart < steadyMinutes * 60_000) {
      await sleep(Math.min(60_000, steadyMinutes * 60_000 - (Date.now() - steadyStart)));
      if (steadyMinutes > 1) log(`  ${Math.round((Date.now() - steadyStart) / 60_000)} min: ${seen.length - steadyFrom} events so far`);
    }
    const falseAlerts = seen.slice(steadyFrom).filter((e) => e.data.status === 'firing' && !e.data.repeat);
    const stats = { ...driver.stats };
    driver.stop();

    const out = [];
    out.push('');
    out.push(`scenario      fault → firing on Kafka   alert                      first suspect                              injected cause first?`);
    for (const r of results) {
      const cause = r.cause === undefined ? 'n/a (no failures, no suspects)' : r.cause ? 'yes' : 'NO';
      out.push(`${r.name.padEnd(13)} ${`${r.seconds.toFixed(1)} s`.padEnd(25)} ${r.kind.padEnd(26)} ${r.first.padEnd(42)} ${cause}`);
    }
    out.push(`steady run: ${steadyMinutes} min, ${stats.checkouts} checkouts and ${stats.searches} searches in all, ${stats.backgroundFailures} background failures; false alerts: ${falseAlerts.length}`);
    for (const e of falseAlerts) out.push(`  false alert: ${e.data.kind} ${e.data.summary}`);
    if (warmupAlerts.length > 0) out.push(`alerts during the ${SCENARIO_RULES.warmupMs / 1000} s warm-up: ${warmupAlerts.map((e) => e.data.summary).join(' | ')}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return falseAlerts.length === 0 && results.every((r) => r.cause !== false) ? 0 : 1;
  } finally {
    await cleanup();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`scenarios: ${err.message}\n`);
    process.exit(2);
  }
  if (args.help || !args.measure) {
    process.stdout.write('usage: node scripts/scenarios.mjs --measure [--steady-minutes 10]\n');
    process.exit(args.help ? 0 : 2);
  }
  measure(args).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`scenarios: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
