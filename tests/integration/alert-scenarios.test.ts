/**
 * Alert scenarios end to end: steady shop traffic from the real OpenTelemetry SDK (scripts/shop.mjs, driven by
 * scripts/scenarios.mjs at 40 checkouts/s + 10 searches/s with 0.2% random failures) → `bin/pulse start` with
 * second-level windows (journeys → slo → kafka + a debug exporter recording every alert event) → a real Kafka
 * broker. One Pulse and one broker serve every scenario, one after the other, each recovering before the next:
 *
 *   steady traffic      → no event at all
 *   segment fault       → `segment` customer.tier=enterprise, first suspect customer.tier=enterprise; Kafka is
 *                         stopped and restarted while it fires
 *   bad payments release→ `release_regression` payments 2.5.0 (previous 2.4.1), first suspect payments 2.5.0
 *   flatline            → `heartbeat` (no error anywhere)
 *
 * Each alert fires, then resolves after `clear()`, with one fingerprint; no other alert fires meanwhile; at the end
 * the topic carries exactly the events Pulse produced (the debug recording), in order per alert, unique ids.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/alerts/lifecycle.js';
import { buildAlertEventJsonSchema } from '../../src/exporters/kafka/event-schema.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { freePort, waitFor } from '../support/net.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { createShop, type Shop } from '../../scripts/shop.mjs';
import {
  SCENARIO_RULES,
  createScenarioDriver,
  isExpectedAlert,
  scenarioPulseConfig,
  writeScenarioJourneys,
  type Fault,
  type ScenarioDriver,
} from '../../scripts/scenarios.mjs';
import { validate } from '../unit/exporters/kafka-fixtures.js';
import { readTopic, type TopicReader } from './kafka-topic-reader.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const TOPIC = 'pulse.alerts.scenarios';

interface Suspect {
  dimension: string;
  value: string;
  failures: number;
  lift: number | null;
}

interface AlertCloudEvent {
  id: string;
  type: string;
  subject: string;
  data: {
    journey: string;
    kind: 'burn_rate' | 'segment' | 'heartbeat' | 'release_regression';
    severity: string;
    status: string;
    fingerprint: string;
    repeat: boolean;
    segment: { key: string; value: string } | null;
    attempts: number;
    failures: number;
    suspects: Suspect[];
    release: { service: string; new_version: string; previous_version: string } | null;
    exemplar_trace_ids: string[];
    summary: string;
  };
}

/** An event as Pulse produced it (the debug exporter writes each AlertEvent as one JSON line). */
interface RecordedAlert {
  id: string;
  fingerprint: string;
  status: string;
  repeat: boolean;
}

let kafka: TestKafka;
let pulse: PulseProcess;
let shop: Shop;
let driver: ScenarioDriver;
let reader: TopicReader;
let work: string;
let alertsPath: string;
let trafficSince = 0;
const timings: string[] = [];

function recorded(): RecordedAlert[] {
  if (!existsSync(alertsPath)) return [];
  const text = readFileSync(alertsPath, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RecordedAlert);
}

/** Every event read from the topic so far (a redelivered event appears twice: same id). */
function onTopic(): AlertCloudEvent[] {
  return reader.messages.map((m) => JSON.parse(m.value) as AlertCloudEvent);
}

function uniqueById(events: AlertCloudEvent[]): AlertCloudEvent[] {
  return [...new Map(events.map((e) => [e.id, e])).values()];
}

/** The value of `name{exporter="kafka"}` in a Prometheus text exposition. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('exporter="kafka"'));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The sum of every sample of `name` (all label sets). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Incident {
  fault: Fault;
  firing: AlertCloudEvent;
  /** The firing alert's events, in topic order, without redeliveries. */
  lifecycle: AlertCloudEvent[];
  /** Events of other alerts between the injection and the end of the incident. */
  others: AlertCloudEvent[];
}

/**
 * Injects a fault, waits for its alert on the topic, runs `whileFiring`, clears the fault and waits until that
 * alert (and anything else that fired meanwhile) resolved on the topic.
 */
async function incident(name: string, inject: () => Fault, whileFiring?: (firing: AlertCloudEvent) => Promise<void>): Promise<Incident> {
  const from = reader.messages.length;
  const since = () => uniqueById(onTopic().slice(from));
  const fault = inject();
  const firing = await waitFor(() => since().find((e) => isExpectedAlert(e.data, fault)), 60_000, `the ${name} alert on Kafka`);
  const detectedMs = Date.now() - fault.injectedAtMs;
  await whileFiring?.(firing);
  fault.clear();
  const fp = firing.data.fingerprint;
  await waitFor(() => since().some((e) => e.data.fingerprint === fp && e.data.status === 'resolved'), 60_000, `the ${name} alert resolved on Kafka`);
  const resolvedMs = Date.now() - fault.clearedAtMs!;
  // Anything else that fired meanwhile must have resolved too before the next scenario starts.
  await waitFor(
    () => {
      const events = since();
      const fired = new Set(events.filter((e) => e.data.status === 'firing').map((e) => e.data.fingerprint));
      return [...fired].every((f) => events.some((e) => e.data.fingerprint === f && e.data.status === 'resolved'));
    },
    60_000,
    `every alert of the ${name} scenario resolved`,
  );
  const events = since();
  timings.push(`${name}: fault → firing on Kafka ${seconds(detectedMs)}, clear() → resolved ${seconds(resolvedMs)} (${firing.data.summary})`);
  return { fault, firing, lifecycle: events.filter((e) => e.data.fingerprint === fp), others: events.filter((e) => e.data.fingerprint !== fp) };
}

/** firing (repeat false) → repeats → resolved, nothing else. */
function expectLifecycle(events: AlertCloudEvent[], minEvents: number): void {
  const steps = events.map((e) => [e.data.status, e.data.repeat]);
  expect(steps[0]).toEqual(['firing', false]);
  expect(steps.at(-1)).toEqual(['resolved', false]);
  expect(steps.slice(1, -1).every(([s, r]) => s === 'firing' && r === true)).toBe(true);
  expect(events.length).toBeGreaterThanOrEqual(minEvents);
  expect(events.map((e) => e.type)).toEqual(events.map((e) => (e.data.status === 'resolved' ? 'dev.pulse.alert.resolved' : 'dev.pulse.alert.firing')));
}

beforeAll(async () => {
  kafka = await startTestKafka();
  work = mkdtempSync(join(tmpdir(), 'pulse-alert-scenarios-'));
  const journeysDir = writeScenarioJourneys(join(work, 'journeys'));
  alertsPath = join(work, 'alerts.jsonl');
  const httpPort = await freePort();
  pulse = await startPulse(scenarioPulseConfig({ journeysDir, httpPort, brokers: kafka.brokers, topic: TOPIC, alertsPath }));
  // The topic exists before the reader subscribes (naming it in a metadata request has the broker create it).
  await waitFor(async () => (await kafka.topics([TOPIC])).has(TOPIC), 30_000, `topic ${TOPIC}`);
  reader = await readTopic(kafka.brokers, TOPIC);
  shop = createShop({ endpoints: { http: `http://127.0.0.1:${httpPort}` }, scheduledDelayMillis: 200 });
  driver = createScenarioDriver(shop);
  driver.start();
  trafficSince = Date.now();
}, 300_000);

afterAll(async () => {
  driver?.stop();
  await reader?.close();
  await shop?.shutdown();
  const code = await pulse?.stop();
  await kafka?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  if (timings.length > 0) console.info(`[alert scenarios]\n  ${timings.join('\n  ')}`);
  expect(code).toBe(0);
}, 60_000);

describe('alert scenarios through bin/pulse start to Kafka', () => {
  it('steady traffic with 0.2% background errors produces no alert', async () => {
    // Also the warm-up every later scenario needs (release grace, heartbeat baseline history).
    await new Promise((r) => setTimeout(r, Math.max(0, trafficSince + SCENARIO_RULES.warmupMs - Date.now())));
    const metrics = await pulse.metrics();
    // Not vacuous: Pulse saw the traffic, background failures included, and evaluated it.
    expect(driver.stats.checkouts).toBeGreaterThan(1000);
    expect(driver.stats.backgroundFailures).toBeGreaterThan(0);
    expect(total(metrics, 'pulse_slo_attempts_total')).toBeGreaterThan(1000);
    expect(total(metrics, 'pulse_slo_evaluations_total')).toBeGreaterThan(SCENARIO_RULES.warmupMs / 1000 - 10);
    expect(recorded()).toEqual([]);
    expect(onTopic()).toEqual([]);
  }, 120_000);

  it('a failing segment fires a segment alert blaming customer.tier=enterprise, delivered completely across a Kafka outage', async () => {
    const { firing, lifecycle, others } = await incident(
      'segment (enterprise in us-east-1)',
      // 60% of enterprise checkouts in us-east-1 fail: enterprise 30% (3× the threshold), us-east-1 6%. With every
      // one failing, us-east-1 sat at 10%, the threshold itself, and a CI run saw it fire a second alert.
      () => driver.segmentFault({ tier: 'enterprise', region: 'us-east-1', failureRatio: 0.6 }),
      async () => {
        // Kafka goes down while the alert fires: its repeats (every 3 s) wait in Pulse's outbox.
        await kafka.stop();
        const before = recorded().length;
        await waitFor(() => recorded().length >= before + 2, 30_000, 'two more events produced while Kafka is down');
        const metrics = await pulse.metrics();
        expect(sample(metrics, 'pulse_exporter_queue_size')).toBeGreaterThan(0);
        await kafka.restart();
      },
    );
    expect(firing.data).toMatchObject({
      journey: 'checkout',
      kind: 'segment',
      severity: 'page',
      status: 'firing',
      repeat: false,
      segment: { key: 'customer.tier', value: 'enterprise' },
    });
    expect(firing.data.suspects[0]).toMatchObject({ dimension: 'customer.tier', value: 'enterprise' });
    expect(firing.data.exemplar_trace_ids.length).toBeGreaterThan(0);
    expect(firing.data.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'segment', segment: { key: 'customer.tier', value: 'enterprise' } }));
    // firing, at least two repeats produced during the outage, resolved.
    expectLifecycle(lifecycle, 4);
    // One alert for one incident: the region and the journey as a whole stay under the threshold.
    expect(others.map((e) => e.data.summary)).toEqual([]);
  }, 180_000);

  it('a bad payments release fires a release regression naming payments 2.5.0 first', async () => {
    const { firing, lifecycle, others } = await incident('bad release (payments 2.5.0)', () => driver.badRelease({ version: '2.5.0', share: 0.2, failureRatio: 0.25 }));
    expect(firing.data).toMatchObject({
      journey: 'checkout',
      kind: 'release_regression',
      status: 'firing',
      repeat: false,
      segment: null,
      release: { service: 'payments', new_version: '2.5.0', previous_version: '2.4.1' },
    });
    expect(firing.data.suspects[0]).toMatchObject({ dimension: 'service.version:payments', value: '2.5.0' });
    expect(firing.data.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'release_regression', service: 'payments' }));
    expectLifecycle(lifecycle, 2);
    // 5% of all checkouts fail: under the journey's burn-rate threshold (10%), and no tier or region is worse.
    expect(others.map((e) => e.data.summary)).toEqual([]);
  }, 120_000);

  it('checkouts that stop happening without any error fire a heartbeat alert', async () => {
    const { firing, lifecycle, others } = await incident('flatline', () => driver.flatline());
    expect(firing.data).toMatchObject({ journey: 'checkout', kind: 'heartbeat', severity: 'page', status: 'firing', repeat: false, segment: null });
    // No failure behind it: the interval it counts may still hold the last checkouts before the flatline, and with
    // them a 0.2% background failure (CI saw one), but never the failures of an outage.
    expect(firing.data.failures).toBeLessThanOrEqual(2);
    expect(firing.data.suspects).toEqual([]);
    expect(firing.data.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'heartbeat' }));
    expectLifecycle(lifecycle, 2);
    // Search kept running and nothing failed: no other alert.
    expect(others.map((e) => e.data.summary)).toEqual([]);
  }, 120_000);

  it('the topic carries exactly the events Pulse produced: in order per alert, unique ids, valid CloudEvents keyed by fingerprint', async () => {
    const produced = recorded();
    expect(produced.length).toBeGreaterThanOrEqual(8);
    await waitFor(() => uniqueById(onTopic()).length >= produced.length, 30_000, 'every produced event on Kafka');
    await new Promise((r) => setTimeout(r, 1000));
    const events = uniqueById(onTopic());
    expect(new Set(produced.map((e) => e.id)).size).toBe(produced.length);
    expect(events.map((e) => e.id).sort()).toEqual(produced.map((e) => e.id).sort());
    // In production order per alert (one fingerprint → one partition).
    for (const fp of new Set(produced.map((e) => e.fingerprint))) {
      expect(events.filter((e) => e.data.fingerprint === fp).map((e) => e.id)).toEqual(produced.filter((e) => e.fingerprint === fp).map((e) => e.id));
    }
    // One fingerprint per alert identity, and every alert that fired resolved.
    const identities = new Map<string, string>();
    for (const e of events) {
      const identity = `${e.data.journey}/${e.data.kind}/${e.data.segment?.key ?? ''}=${e.data.segment?.value ?? ''}/${e.data.release?.service ?? ''}`;
      expect(identities.get(e.data.fingerprint) ?? identity).toBe(identity);
      identities.set(e.data.fingerprint, identity);
    }
    expect([...identities.values()].sort()).toEqual(['checkout/heartbeat/=/', 'checkout/release_regression/=/payments', 'checkout/segment/customer.tier=enterprise/']);
    for (const fp of identities.keys()) expect(events.filter((e) => e.data.fingerprint === fp).at(-1)!.data.status).toBe('resolved');
    const schema = buildAlertEventJsonSchema();
    for (const e of events) expect(validate(schema, e)).toEqual([]);
    for (const m of reader.messages) {
      expect(m.headers['content-type']).toBe('application/cloudevents+json');
      expect(m.key).toBe((JSON.parse(m.value) as AlertCloudEvent).data.fingerprint);
    }
    timings.push(`${produced.length} events produced, ${events.length} on Kafka (${reader.messages.length - events.length} redelivered)`);
  }, 60_000);
});
