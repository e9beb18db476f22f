#!/usr/bin/env node
// The demo: starts `bin/pulse start --config config/pulse.yaml` and a small simulated shop (scripts/shop.mjs,
// instrumented with the real OpenTelemetry SDK) whose frontend, payments, notifier, accounts and search services
// send checkout, sign-up and search traces over OTLP/HTTP — the journeys of config/journeys/. Once a second it
// shows how many spans the shop sent, how many Pulse accepted, and how many journey attempts Pulse decided
// (success / failure), all read from Pulse's own /metrics. Pulse's log (its stderr, with one line per attempt) is
// kept quiet unless Pulse fails; PULSE_DEMO_LOG=1 shows it. Ctrl-C stops everything it started.
// PULSE_DEMO_SECONDS=N runs non-interactively for N seconds and exits 0 only if every span sent was accepted and
// attempts were decided.
//
// The story in the traffic: the payments canary 2.5.0 serves enterprise customers and fails a third of their card
// charges, while everyone else goes through 2.4.1 — watch the checkout failures, and the attempt lines in Pulse's
// log (PULSE_DEMO_LOG=1) showing customer.tier=enterprise and the failing step payments 2.5.0.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createShop } from './shop.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = process.env.PULSE_CONFIG ?? 'config/pulse.yaml';
const seconds = Number(process.env.PULSE_DEMO_SECONDS ?? 0);
const showLog = process.env.PULSE_DEMO_LOG === '1';
const metricsUrl = process.env.PULSE_METRICS_URL ?? 'http://127.0.0.1:8888/metrics';
const readyUrl = process.env.PULSE_READY_URL ?? 'http://127.0.0.1:13133/readyz';
const otlpUrl = process.env.PULSE_OTLP_HTTP ?? 'http://127.0.0.1:4318';

const log = (msg) => process.stdout.write(`[demo] ${msg}\n`);
log(`starting pulse with ${config} …`);
// Its own process group: Ctrl-C in the terminal reaches only the demo, which then flushes the shop, reads the final
// counts and stops Pulse itself (SIGTERM). If the demo dies some other way, the 'exit' hook below still stops it.
const pulse = spawn(process.execPath, ['bin/pulse', 'start', '--config', config], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
process.on('exit', () => {
  if (pulse.exitCode === null && pulse.signalCode === null) pulse.kill('SIGTERM');
});
let pulseLog = '';
pulse.stderr.on('data', (d) => {
  if (showLog) process.stderr.write(d);
  else pulseLog = (pulseLog + d.toString()).slice(-20_000);
});
let stopping = false;
pulse.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(pulseLog);
    log(`pulse exited unexpectedly (code ${code}); are ports 4317, 4318, 8888 and 13133 free?`);
    process.exit(1);
  }
});

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(readyUrl)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pulse did not become ready at ${readyUrl}`);
}

/** Sums the samples of one metric, optionally grouped by one label. */
function sum(text, name, byLabel) {
  const out = new Map();
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const key = byLabel === undefined ? '' : (new RegExp(`${byLabel}="([^"]*)"`).exec(m[1])?.[1] ?? '');
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

/** What Pulse's /metrics says: spans accepted, attempts decided by outcome, failures by journey. */
async function pulseCounts() {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const byOutcome = sum(text, 'pulse_journey_attempts_total', 'outcome');
    const failuresByJourney = new Map();
    for (const m of text.matchAll(/^pulse_journey_attempts_total\{([^}]*)\} (\S+)$/gm)) {
      if (!m[1].includes('outcome="failure"')) continue;
      const journey = /journey="([^"]*)"/.exec(m[1])?.[1] ?? '?';
      failuresByJourney.set(journey, (failuresByJourney.get(journey) ?? 0) + Number(m[2]));
    }
    return {
      accepted: sum(text, 'pulse_receiver_accepted_spans_total').get('') ?? 0,
      success: byOutcome.get('success') ?? 0,
      failure: byOutcome.get('failure') ?? 0,
      failuresByJourney,
    };
  } catch {
    return { accepted: NaN, success: NaN, failure: NaN, failuresByJourney: new Map() };
  }
}

function describe(c) {
  const failed = [...c.failuresByJourney].map(([j, n]) => `${j} ${n}`).join(', ');
  return `pulse accepted ${c.accepted}; attempts decided ${c.success + c.failure} (success ${c.success}, failure ${c.failure}${failed ? `: ${failed}` : ''})`;
}

async function stop(code) {
  stopping = true;
  if (pulse.exitCode === null && pulse.signalCode === null) {
    const exited = new Promise((r) => pulse.once('exit', r));
    pulse.kill('SIGTERM');
    await exited;
  }
  process.exit(code);
}

// Until the shop runs, Ctrl-C just stops Pulse; afterwards finish() winds down in order.
let finish = () => stop(130);
process.on('SIGINT', () => void finish());
process.on('SIGTERM', () => void finish());

await waitReady().catch(async (err) => {
  process.stderr.write(pulseLog);
  log(String(err));
  await stop(1);
});
log('pulse is ready: OTLP on :4317 (gRPC) and :4318 (HTTP), metrics on :8888/metrics, health on :13133');
log('the shop sends checkout, sign-up and search traces (frontend → payments/accounts/search → notifier); Ctrl-C stops the demo');

const shop = createShop({ endpoints: { http: otlpUrl }, scheduledDelayMillis: 200 });
const pick = (items) => items[Math.floor(Math.random() * items.length)];
const chance = (p) => Math.random() < p;

/** One tick of traffic: 12 checkouts, 5 searches, 3 sign-ups and 2 page views. */
function traffic() {
  for (let i = 0; i < 12; i++) {
    const tier = pick(['free', 'free', 'pro', 'enterprise']);
    const region = pick(['eu-west-1', 'us-east-1']);
    if (tier === 'enterprise') shop.checkout({ tier, region, paymentsVersion: '2.5.0', chargeFails: chance(0.33) });
    else shop.checkout({ tier, region, chargeFails: chance(0.01), charges: chance(0.01) ? 2 : 1, confirm: chance(0.2) ? 'sms' : 'email' });
  }
  for (let i = 0; i < 5; i++) {
    shop.search({ tier: pick(['free', 'pro', 'enterprise']), queries: chance(0.05) ? 4 : 1, suggestFails: chance(0.05), durationMs: chance(0.01) ? 950 : 25 });
  }
  for (let i = 0; i < 3; i++) {
    // The e-mail address is already taken: the insert fails and the frontend answers 409.
    const taken = chance(0.03);
    shop.signup({ source: pick(['web', 'ios', 'android', 'partner']), createFails: taken, status: taken ? 409 : undefined, creates: chance(0.01) ? 2 : 1 });
  }
  shop.browse();
  shop.browse();
}

const started = Date.now();
const trafficTimer = setInterval(traffic, 100);
const reportTimer = setInterval(async () => {
  log(`${Math.round((Date.now() - started) / 1000)}s: sent ${shop.spansCreated} spans, ${describe(await pulseCounts())}`);
}, 1000);

let finishing = false;
finish = async () => {
  if (finishing) return;
  finishing = true;
  clearInterval(trafficTimer);
  clearInterval(reportTimer);
  // The SDK reports export failures by rejecting; the counts below tell whether anything was lost.
  await shop.flush().catch((err) => log(`flushing the shop failed: ${err}`));
  // Complete attempts are decided settle_delay (500 ms) after their last required step arrived.
  await new Promise((r) => setTimeout(r, 1000));
  const sent = shop.spansCreated;
  const counts = await pulseCounts();
  log(`done: sent ${sent} spans, ${describe(counts)}`);
  await shop.shutdown().catch((err) => log(`shutting the shop down failed: ${err}`));
  const ok = counts.accepted === sent && counts.success + counts.failure > 0;
  if (!ok) log(counts.accepted !== sent ? 'not every span sent was accepted' : 'no journey attempt was decided');
  await stop(ok ? 0 : 1);
};

if (seconds > 0) setTimeout(() => void finish(), seconds * 1000 - (Date.now() - started));
