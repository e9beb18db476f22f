#!/usr/bin/env node
// `npm run demo`: Pulse doing its whole job on a real ClickHouse and Kafka, in one command.
//
//  1. Starts a local ClickHouse and Kafka (scripts/infra: installed on first use, free ports, data in a temp dir)
//     and `bin/pulse start --config config/demo/pulse.yaml` (journeys checkout, signup, search from
//     config/demo/journeys/ with alert windows of seconds; SLI rows and attempts to ClickHouse, alerts to Kafka
//     and ClickHouse). OTLP on 4317/4318 and metrics/health on 8888/13133 when those ports are free.
//  2. Runs a simulated shop (scripts/shop.mjs, the real OpenTelemetry SDK; traffic in scripts/demo/traffic.mjs):
//     five services, three regions, three customer tiers, three devices, a frontend canary. After a minute of
//     healthy traffic, payments 2.5.0 is rolled out to the enterprise customers of us-east-1 and fails most of
//     their card charges. Once the alert has been read back from Kafka (and PULSE_DEMO_ROLLBACK_DELAY more
//     seconds), it is rolled back, and the alerts resolve.
//  3. Shows a table of journey health per segment, read from ClickHouse and refreshed in place (plain lines every
//     10 s when stdout is not a terminal), the alerts as a kafkajs consumer reads them, and the recovery.
//  4. Ctrl-C stops everything it started (Pulse, Kafka, ClickHouse, by PID) and removes the temp dir; a second
//     Ctrl-C kills them at once.
//
// Environment:
//   PULSE_DEMO_SECONDS=N          run non-interactively: give up after N s; the healthy phase is 25 % of N and the
//                                 rollback follows the alert at once. Exits once every alert has resolved (and
//                                 stayed so for 5 s): 0 when the alert arrived with the injected cause as the top
//                                 suspect (or the affected tier/region first) and every alert resolved, 1 with the
//                                 reason otherwise (also when an alert fired during the healthy phase).
//   PULSE_DEMO_HEALTHY_SECONDS    healthy traffic before the bad release (default 60, or 25 % of N)
//   PULSE_DEMO_ROLLBACK_DELAY     seconds between the first alert and the rollback (default 20, or 0 with N)
//   PULSE_DEMO_RATE               traffic multiplier (default 1 = ~40 checkouts, 20 searches, 6 sign-ups per second)
//   PULSE_DEMO_PORTS=free         never use the well-known ports 4317/4318/8888/13133
//   PULSE_DEMO_SEED               seed of the traffic's random choices
//   PULSE_DEMO_LOG=1|<file>       Pulse's own log to stderr, or appended to a file (default: shown only on failure)
//   PULSE_DEMO_CONFIG, PULSE_DEMO_JOURNEYS   another Pulse config / journey directory
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createShop } from './shop.mjs';
import { describeFiring, describeRepeat, describeResolved, readAlertTopic, suspectName } from './demo/alerts.mjs';
import { HEALTH_SQL, LAG_S, readAlertHistory, readFailureReasons, readHealth, readTotals, renderHealth, RELEASES_SQL, WINDOW_S } from './demo/health.mjs';
import {
  installInfra,
  kill,
  pickPulsePorts,
  processesUsing,
  startDemoClickHouse,
  startDemoKafka,
  startPulse,
  stopDemoClickHouse,
  stopDemoKafka,
  stopPulse,
} from './demo/services.mjs';
import { count, Screen, seconds } from './demo/terminal.mjs';
import { BASE_RATES, createTraffic, DEFAULT_FAULT, RELEASES } from './demo/traffic.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = process.env;
const TOPIC = 'pulse.alerts'; // as in config/demo/pulse.yaml

function numberFrom(name, fallback, { min = 0 } = {}) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`demo: ${name}=${raw} is not a number ≥ ${min}\n`);
    process.exit(2);
  }
  return n;
}

const totalSeconds = numberFrom('PULSE_DEMO_SECONDS', 0);
const interactive = totalSeconds === 0;
const healthySeconds = numberFrom('PULSE_DEMO_HEALTHY_SECONDS', interactive ? 60 : Math.round(totalSeconds * 0.25));
const rollbackDelaySeconds = numberFrom('PULSE_DEMO_ROLLBACK_DELAY', interactive ? 20 : 0);
const rate = numberFrom('PULSE_DEMO_RATE', 1, { min: 0.05 });
const seed = numberFrom('PULSE_DEMO_SEED', Date.now() % 1_000_000);
const configFile = resolve(root, env.PULSE_DEMO_CONFIG ?? 'config/demo/pulse.yaml');
const journeysDir = resolve(root, env.PULSE_DEMO_JOURNEYS ?? 'config/demo/journeys');
const pulseLogOption = env.PULSE_DEMO_LOG;
/** How long every alert must have stayed resolved before a non-interactive run calls it recovered. */
const SETTLE_MS = 5000;
const fault = { ...DEFAULT_FAULT };
const INJECTED = { dimension: `service.version:${fault.service}`, value: fault.version };
const AFFECTED = [
  { dimension: 'customer.tier', value: fault.tier },
  { dimension: 'cloud.region', value: fault.region },
];

const screen = new Screen(process.stdout);
const paint = (style, text) => screen.paint(style, text);
const t0 = Date.now();
const stamp = () => paint('dim', `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
const say = (text) => screen.log(`${stamp()} ${text}`);
const block = (lines) => screen.log(lines.map((l, i) => (i === 0 ? `${stamp()} ${l}` : `         ${l}`)).join('\n'));
const rel = (p) => relative(root, p) || '.';

// ---- state ----------------------------------------------------------------------------------------------------

/** Everything started, for the orderly stop and for the last-resort kill in the 'exit' hook. */
const started = { work: undefined, clickhouse: undefined, kafka: undefined, pulse: undefined, reader: undefined, shop: undefined, traffic: undefined };
/** In-flight starts: an orderly stop waits for them, so that nothing half-started is left behind. */
const starting = new Set();
const story = {
  phase: 'starting', // starting → healthy → fault → rollback → recovered
  faultAt: 0,
  rollbackAt: 0,
  firstAlert: undefined, // { event, atMs }
  verdict: undefined, // { ok, text }
  /** fingerprint → { atMs, event } for alerts firing now. */
  firing: new Map(),
  resolvedCount: 0,
  quietSince: 0,
  eventIds: new Set(),
  eventsRead: 0,
  unexpected: [],
};
const timers = [];
let finishing = false;

// ---- shutdown -------------------------------------------------------------------------------------------------

function killEverything() {
  const { pulse, work } = started;
  if (pulse && pulse.child.exitCode === null && pulse.child.signalCode === null) kill(pulse.child.pid);
  if (work) {
    for (const pid of processesUsing(work)) kill(pid);
    rmSync(work, { recursive: true, force: true });
  }
}

process.on('exit', () => {
  // Last resort (an exception, process.exit elsewhere): nothing outlives the demo, whatever happened.
  try {
    killEverything();
  } catch {
    /* exiting anyway */
  }
});

let interrupts = 0;
function onSignal(signal) {
  interrupts++;
  if (interrupts >= 2) {
    screen.log(`${stamp()} ${paint('yellow', `second ${signal}: killing Pulse, Kafka and ClickHouse now`)}`);
    killEverything();
    process.exit(130);
  }
  screen.log(`${stamp()} ${signal}: stopping everything the demo started (again to force) …`);
  void finish(story.phase === 'recovered' && story.verdict?.ok ? 0 : 130, story.phase === 'recovered' ? undefined : `interrupted (${signal})`);
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGHUP', () => onSignal('SIGHUP'));

const withTimeout = (promise, ms) => Promise.race([promise, new Promise((r) => setTimeout(r, ms).unref())]);

/** Stops everything in order, prints the summary and exits with `code` (`reason` says why it failed). */
async function finish(code, reason) {
  if (finishing) return;
  finishing = true;
  for (const t of timers) clearInterval(t);
  screen.release();
  if (reason) say(paint('red', `✗ ${reason}`));
  started.traffic?.stop();
  // Whatever is still starting finishes first, so that it can be stopped by its PID like the rest.
  await withTimeout(Promise.allSettled([...starting]), 90_000);
  if (started.shop) await withTimeout(started.shop.shutdown().catch(() => {}), 5000);
  if (started.pulse) {
    say('stopping Pulse (SIGTERM: it decides pending attempts and flushes to ClickHouse and Kafka) …');
    const exit = await stopPulse(started.pulse);
    if (exit !== 0 && code === 0) {
      code = 1;
      reason = `Pulse exited with code ${exit} on SIGTERM`;
    }
  }
  if (started.clickhouse && started.pulse) {
    await printClickHouseSummary().catch((err) => say(`could not read the summary from ClickHouse: ${String(err.message).split('\n')[0].slice(0, 200)}`));
  }
  await withTimeout(started.reader?.close().catch(() => {}) ?? Promise.resolve(), 5000);
  if (started.kafka) {
    say(`stopping Kafka (pid ${started.kafka.pid}) and ClickHouse (pid ${started.clickhouse?.pid ?? '–'}) …`);
  }
  await Promise.allSettled([started.kafka && stopDemoKafka(started.kafka), started.clickhouse && stopDemoClickHouse(started.clickhouse.dir)]);
  killEverything(); // anything a stop could not reach (it waits for nothing: all is stopped by now)
  say(`stopped; removed ${started.work ?? 'nothing'}`);
  if (interrupts > 0 && code !== 0) {
    // A Ctrl-C also reaches the children in our process group (Kafka's format tool, say): what failed then was
    // the interruption, not the demo.
    code = 130;
    reason = 'interrupted';
  }
  printResult(code, reason);
  process.exit(code);
}

function printResult(code, reason) {
  if (code === 0 && story.verdict?.ok) {
    const alertIn = story.firstAlert ? seconds(story.firstAlert.atMs - story.faultAt) : '–';
    const resolvedIn = story.quietSince ? seconds(story.quietSince - story.rollbackAt) : '–';
    say(
      paint('green', paint('bold', `RESULT: PASS`)) +
        ` — alert read from Kafka ${alertIn} after the fault, ${story.verdict.text}; every alert resolved ${resolvedIn} after the rollback`,
    );
  } else if (code !== 0) {
    say(paint('red', paint('bold', 'RESULT: FAIL')) + ` — ${reason ?? story.verdict?.text ?? 'see above'}`);
  }
}

async function printClickHouseSummary() {
  const port = started.clickhouse.httpPort;
  const totals = await readTotals(port);
  const history = await readAlertHistory(port);
  const reasons = await readFailureReasons(port);
  const lines = [
    `ClickHouse holds ${count(totals.attempts)} attempts (pulse.journey_attempts), ${count(totals.sliRows)} SLI rows (pulse.journey_sli) ` +
      `and ${totals.alertEvents} alert events (pulse.journey_alerts):`,
  ];
  for (const a of history) {
    const seg = a.segment_key ? ` ${a.segment_key}=${a.segment_value}` : '';
    lines.push(`  ${a.event_time} UTC  ${a.status.padEnd(8)} ${a.journey} · ${a.kind}${seg}`);
  }
  if (reasons.length > 0) {
    lines.push('failed attempts by reason and failing release (pulse.journey_attempts):');
    for (const r of reasons) {
      const where = r.failing_service ? ` at ${r.failing_service} ${r.failing_version}`.trimEnd() : '';
      lines.push(`  ${String(r.failed).padStart(6)}  ${r.journey} ${r.reason}${where}`);
    }
  }
  block(lines);
}

// ---- helpers --------------------------------------------------------------------------------------------------

function fail(reason) {
  void finish(1, reason);
}

/** Each journey's objective target, from the journey files (for the table's colours). */
function readTargets(dir) {
  const targets = new Map();
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const j = doc.toJS();
      const raw = j?.spec?.objective?.target;
      if (typeof j?.metadata?.name !== 'string' || raw === undefined) continue;
      targets.set(j.metadata.name, typeof raw === 'string' && raw.endsWith('%') ? Number(raw.slice(0, -1)) / 100 : Number(raw));
    }
  }
  return targets;
}

/** Sums the samples of one metric in a Prometheus text exposition. */
function metricSum(text, name) {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

function phaseText() {
  const now = Date.now();
  switch (story.phase) {
    case 'healthy':
      return `healthy traffic · bad release in ${Math.max(0, Math.ceil((story.faultAt - now) / 1000))} s`;
    case 'fault':
      return paint('red', `payments ${fault.version} → ${fault.tier} customers in ${fault.region} for ${Math.round((now - story.faultAt) / 1000)} s`);
    case 'rollback':
      return paint('yellow', `rolled back ${Math.round((now - story.rollbackAt) / 1000)} s ago · ${story.firing.size} alert(s) firing`);
    case 'recovered':
      return paint('green', `recovered · ${story.resolvedCount} alert(s) resolved`);
    default:
      return story.phase;
  }
}

// ---- the demo -------------------------------------------------------------------------------------------------

async function main() {
  say(paint('bold', 'Pulse demo') + (interactive ? ' — Ctrl-C stops it' : ` — non-interactive, at most ${totalSeconds} s`));
  say('ClickHouse and Kafka: checking they are installed (apt-get and Maven fetch them on first use) …');
  installInfra();
  started.work = mkdtempSync(join(tmpdir(), 'pulse-demo-'));
  say(`starting ClickHouse and Kafka (real servers, no Docker; data in ${started.work}) …`);
  const chStart = startDemoClickHouse(join(started.work, 'clickhouse'));
  const kafkaStart = startDemoKafka(join(started.work, 'kafka'));
  starting.add(chStart).add(kafkaStart);
  chStart.then((ch) => (started.clickhouse = ch)).catch(() => {});
  kafkaStart.then((k) => (started.kafka = k)).catch(() => {});
  const [ch, kafka] = await Promise.all([chStart, kafkaStart]);
  starting.delete(chStart);
  starting.delete(kafkaStart);
  if (finishing) return;
  say(`ClickHouse ${ch.version} is up: HTTP 127.0.0.1:${ch.httpPort}, native 127.0.0.1:${ch.tcpPort} (pid ${ch.pid}, started in ${seconds(ch.startedInMs)})`);
  say(`Kafka ${kafka.version} is up: ${kafka.brokers} (pid ${kafka.pid}, started in ${seconds(kafka.startedInMs)})`);

  let ports = await pickPulsePorts(env.PULSE_DEMO_PORTS !== 'free');
  const launch = (p) =>
    startPulse({
      root,
      configFile,
      healthPort: p.health,
      echoLog: pulseLogOption === '1',
      logFile: pulseLogOption && pulseLogOption !== '1' ? resolve(pulseLogOption) : undefined,
      env: {
        PULSE_DEMO_OTLP_GRPC: `127.0.0.1:${p.otlpGrpc}`,
        PULSE_DEMO_OTLP_HTTP: `127.0.0.1:${p.otlpHttp}`,
        PULSE_DEMO_METRICS: `127.0.0.1:${p.metrics}`,
        PULSE_DEMO_HEALTH: `127.0.0.1:${p.health}`,
        PULSE_DEMO_CLICKHOUSE: ch.url,
        PULSE_DEMO_KAFKA: kafka.brokers,
        PULSE_DEMO_JOURNEYS: journeysDir,
        PULSE_DEMO_DATA_DIR: join(started.work, 'pulse-data'),
      },
    });
  say(`starting Pulse: bin/pulse start --config ${rel(configFile)} (journeys in ${rel(journeysDir)}) …`);
  let pulseStart = launch(ports);
  starting.add(pulseStart);
  let pulse;
  try {
    pulse = await pulseStart;
  } catch (err) {
    if (!err.portInUse) throw err;
    // Another process took a port between our check and Pulse's bind: once more, on ports nobody asked for.
    starting.delete(pulseStart);
    say('a port was taken meanwhile; starting Pulse again on free ports …');
    ports = await pickPulsePorts(false);
    pulseStart = launch(ports);
    starting.add(pulseStart);
    pulse = await pulseStart;
  }
  started.pulse = pulse;
  starting.delete(pulseStart);
  if (finishing) return;
  pulse.exited.then((code) => {
    if (!finishing) {
      process.stderr.write(pulse.log());
      fail(`Pulse exited unexpectedly (code ${code}); its log is above`);
    }
  });
  block([
    `Pulse is ready (pid ${pulse.child.pid}):`,
    `OTLP gRPC 127.0.0.1:${ports.otlpGrpc} · OTLP/HTTP http://127.0.0.1:${ports.otlpHttp}/v1/traces · metrics http://127.0.0.1:${ports.metrics}/metrics`,
    `journeys checkout, signup, search → attempts and SLI rows (1 s windows) → ClickHouse; alert evaluation every second → Kafka topic ${TOPIC} and ClickHouse`,
    `query ClickHouse while the demo runs: clickhouse-client --port ${ch.tcpPort}   (or curl 'http://127.0.0.1:${ch.httpPort}/?query=SELECT+1')`,
  ]);

  const readerStart = readAlertTopic({ brokers: kafka.brokers, topic: TOPIC, onEvent, onError: (err) => say(`could not read an alert event: ${err.message}`) });
  starting.add(readerStart);
  started.reader = await readerStart;
  starting.delete(readerStart);
  if (finishing) return;
  say(`reading alerts back from Kafka topic ${TOPIC} with a kafkajs consumer (as a paging or chat integration would)`);

  const shop = createShop({ endpoints: { http: `http://127.0.0.1:${ports.otlpHttp}` }, scheduledDelayMillis: 200 });
  started.shop = shop;
  const traffic = createTraffic(shop, { rate, seed });
  started.traffic = traffic;
  traffic.start();
  const trafficStartedAt = Date.now();
  story.phase = 'healthy';
  story.faultAt = Date.now() + healthySeconds * 1000;
  const r = (n) => Math.round(n * rate);
  block([
    `the shop is open (OpenTelemetry SDK → OTLP/HTTP → Pulse): frontend, payments, notifier, accounts and search in eu-west-1, us-east-1 and ap-southeast-1;`,
    `~${r(BASE_RATES.checkout)} checkouts, ${r(BASE_RATES.search)} searches, ${r(BASE_RATES.signup)} sign-ups and ${r(BASE_RATES.browse)} page views per second from free, pro and enterprise customers on desktop, mobile and tablet;`,
    `frontend ${RELEASES.frontend} (canary ${RELEASES.frontendCanary} in eu-west-1), payments ${RELEASES.payments}. Healthy for ${healthySeconds} s, then payments ${fault.version} goes out to ${fault.tier} customers in ${fault.region}.`,
  ]);

  const targets = readTargets(journeysDir);
  let lastHealth = null;
  let healthError;
  let refreshing = false;
  const refresh = async () => {
    if (refreshing || finishing) return;
    refreshing = true;
    try {
      try {
        lastHealth = await readHealth(ch.httpPort);
        healthError = undefined;
      } catch (err) {
        healthError = `ClickHouse: ${String(err.message).split('\n')[0].slice(0, 100)}`;
      }
      let metrics = '';
      try {
        metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      } catch {
        /* Pulse busy or stopping: the footer shows zeros */
      }
      const time = new Date().toISOString().slice(11, 19);
      const coveredSeconds = (Date.now() - trafficStartedAt) / 1000 - LAG_S;
      screen.setTable(
        renderHealth(lastHealth, {
          targets,
          paint,
          error: healthError,
          coveredSeconds,
          heading: `── journey health, last ${WINDOW_S} s (ClickHouse pulse.journey_sli FINAL) ── ${time} UTC ── ${phaseText()}`,
          footer: [
            paint(
              'dim',
              `shop sent ${count(shop.spansCreated)} spans · Pulse accepted ${count(metricSum(metrics, 'pulse_receiver_accepted_spans_total'))} and decided ` +
                `${count(metricSum(metrics, 'pulse_journey_attempts_total'))} attempts · ${story.eventsRead} alert events read from Kafka`,
            ),
          ],
        }),
      );
    } finally {
      refreshing = false;
    }
  };
  timers.push(setInterval(() => void refresh(), 1000));
  if (!screen.tty) timers.push(setInterval(() => screen.printTable(), 10_000));
  void refresh();

  timers.push(
    setTimeout(() => {
      if (finishing) return;
      traffic.setFault(fault);
      story.phase = 'fault';
      story.faultAt = Date.now();
      say(
        paint('red', paint('bold', `FAULT: payments ${fault.version} rolled out to ${fault.tier} customers in ${fault.region}`)) +
          ` — it fails ${Math.round(fault.failRatio * 100)}% of their card charges; everyone else stays on ${RELEASES.payments}. Waiting for the alert on Kafka …`,
      );
    }, healthySeconds * 1000),
  );

  if (!interactive) {
    timers.push(
      setTimeout(() => {
        const limit = `within PULSE_DEMO_SECONDS=${totalSeconds}`;
        if (story.phase === 'healthy' || story.phase === 'starting') fail(`the fault was not injected ${limit} (healthy phase ${healthySeconds} s)`);
        else if (story.firstAlert === undefined) fail(`no alert about checkout was read from Kafka ${seconds(Date.now() - story.faultAt)} after the fault (${limit})`);
        else if (story.firing.size > 0) fail(`still firing ${limit}: ${[...story.firing.values()].map((f) => f.event.data.summary).join(' | ')}`);
        else fail(`the alerts had not stayed resolved for ${SETTLE_MS / 1000} s ${limit}`);
      }, totalSeconds * 1000 - (Date.now() - t0)),
    );
    // Recovered = every alert that fired has resolved, and none fired again for SETTLE_MS.
    timers.push(
      setInterval(() => {
        if (story.phase === 'recovered' && Date.now() - story.quietSince >= SETTLE_MS) {
          if (story.unexpected.length > 0) void finish(1, `an alert fired during healthy traffic: ${story.unexpected[0]}`);
          else void finish(story.verdict?.ok ? 0 : 1, story.verdict?.ok ? undefined : story.verdict?.text);
        }
      }, 250),
    );
  }
}

/** Every message read from the alert topic. */
function onEvent(event, where) {
  story.eventsRead++;
  if (finishing || event === null || typeof event.data !== 'object') return;
  if (story.eventIds.has(event.id)) return; // a redelivery (at-least-once): deduplicate by id
  story.eventIds.add(event.id);
  const a = event.data;
  const now = Date.now();
  if (a.status === 'firing' && a.repeat) {
    block(describeRepeat(event, paint));
    return;
  }
  if (a.status === 'firing') {
    story.firing.set(a.fingerprint, { atMs: now, event });
    const sinceFault = story.phase === 'fault' ? `${seconds(now - story.faultAt)} after the fault` : '';
    block(describeFiring(event, where, sinceFault, paint));
    if (story.phase === 'recovered') story.phase = 'rollback'; // fired again: not recovered after all
    if (story.phase === 'fault' && story.firstAlert === undefined && a.journey === 'checkout') onFirstAlert(event, now);
    else if (story.phase === 'healthy') {
      story.unexpected.push(a.summary);
      say(paint('yellow', 'this alert fired before the fault was injected: the healthy traffic was not healthy for Pulse (an overloaded machine?)'));
    }
    return;
  }
  const fired = story.firing.get(a.fingerprint);
  story.firing.delete(a.fingerprint);
  story.resolvedCount++;
  block(describeResolved(event, fired ? now - fired.atMs : undefined, paint));
  if (story.phase === 'rollback' && story.firing.size === 0) onRecovered(now);
}

function onFirstAlert(event, now) {
  story.firstAlert = { event, atMs: now };
  const suspects = event.data.suspects;
  const top = suspects[0];
  const is = (s, want) => s !== undefined && s.dimension === want.dimension && s.value === want.value;
  const rank = suspects.findIndex((s) => is(s, INJECTED)) + 1;
  if (is(top, INJECTED)) {
    story.verdict = { ok: true, text: `top suspect ${suspectName(top)}: the release that was rolled out` };
  } else if (AFFECTED.some((w) => is(top, w))) {
    story.verdict = { ok: true, text: `top suspect ${suspectName(top)} (who was affected)${rank > 0 ? `, payments ${fault.version} #${rank}` : ''}` };
  } else {
    story.verdict = { ok: false, text: `the top suspect is ${top ? suspectName(top) : 'missing'}, not payments ${fault.version} or the ${fault.tier} customers of ${fault.region}` };
  }
  say((story.verdict.ok ? paint('green', '✓ ') : paint('red', '✗ ')) + story.verdict.text);
  const rollback = () => {
    if (finishing) return;
    started.traffic.setFault(null);
    story.phase = 'rollback';
    story.rollbackAt = Date.now();
    say(
      paint('yellow', paint('bold', `ROLLBACK: payments ${RELEASES.payments} everywhere again`)) +
        ` (the bad release ran for ${seconds(story.rollbackAt - story.faultAt)}) — waiting for the alerts to resolve …`,
    );
    if (story.firing.size === 0) onRecovered(Date.now());
  };
  if (rollbackDelaySeconds > 0) {
    say(`rolling back in ${rollbackDelaySeconds} s (PULSE_DEMO_ROLLBACK_DELAY) — more alerts may fire meanwhile`);
    timers.push(setTimeout(rollback, rollbackDelaySeconds * 1000));
  } else {
    rollback();
  }
}

function onRecovered(now) {
  story.phase = 'recovered';
  story.quietSince = now;
  say(paint('green', paint('bold', `RECOVERED: every alert resolved, ${seconds(now - story.rollbackAt)} after the rollback`)));
  if (!interactive) return;
  const ch = started.clickhouse;
  block([
    'That was the story. The shop keeps sending healthy traffic and everything keeps running until you press Ctrl-C — look for yourself:',
    `  clickhouse-client --port ${ch.tcpPort} --query "SELECT event_time, journey, kind, status, summary FROM pulse.journey_alerts FINAL ORDER BY event_time"`,
    `  curl 'http://127.0.0.1:${ch.httpPort}/?query=SELECT+journey,count()+FROM+pulse.journey_attempts+FINAL+GROUP+BY+journey'`,
    '  the table above comes from these two queries (README: "Query it yourself"):',
    ...HEALTH_SQL.split('\n').map((l) => `    ${l}`),
    ...RELEASES_SQL.split('\n').map((l) => `    ${l}`),
  ]);
}

main().catch((err) => {
  if (err.pulseLog) process.stderr.write(err.pulseLog);
  fail(String(err.message ?? err).split('\n').slice(0, 12).join('\n'));
});
