/**
 * End to end through `bin/pulse start`: checkout traces from the real OpenTelemetry SDK (scripts/shop.mjs) →
 * journeys connector → slo connector → alerts pipeline fanned out to the `kafka` exporter and a `debug` exporter
 * that records every alert event to a file (the reference of what Pulse produced). An incident fires, Kafka is
 * stopped while it is firing (repeats pile up in the outbox), Kafka comes back, the incident ends: the topic must
 * carry every event Pulse produced — firing first, repeats, resolved last — in order, as valid CloudEvents.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAlertEventJsonSchema } from '../../src/exporters/kafka/event-schema.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { freePort, waitFor } from '../support/net.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { createShop, type Shop } from '../../scripts/shop.mjs';
import { validate } from '../unit/exporters/kafka-fixtures.js';
import { readTopic, type TopicReader } from './kafka-topic-reader.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const TOPIC = 'pulse.alerts.e2e';

const JOURNEY = `apiVersion: pulse/v1
kind: Journey
metadata:
  name: checkout
  owner: team-payments
  runbook: https://runbooks.example.com/checkout
spec:
  start: { service: frontend, span: "POST /api/checkout", kind: server }
  steps:
    - { name: charge, service: payments, span: "charge card", required: true }
  success:
    no_errors: journey
  segments: [customer.tier]
  objective: { target: 90%, window: 1h }
  alerts:
    burn_rates:
      - { severity: page, long: 20s, short: 4s, factor: 2 }
    segments: false
    heartbeat: false
    release: false
    repeat_interval: 2s
`;

interface CloudEvent {
  id: string;
  type: string;
  data: { fingerprint: string; status: string; repeat: boolean; kind: string; journey: string; summary: string };
}

interface RecordedAlert {
  id: string;
  fingerprint: string;
  status: string;
  repeat: boolean;
}

let kafka: TestKafka;
let pulse: PulseProcess;
let shop: Shop;
let work: string;
let alertsPath: string;
let reader: TopicReader | undefined;
let traffic: NodeJS.Timeout | undefined;
let failing = false;

/** Alert events as Pulse produced them (the debug exporter writes each AlertEvent as one JSON line). */
function recorded(): RecordedAlert[] {
  if (!existsSync(alertsPath)) return [];
  const text = readFileSync(alertsPath, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RecordedAlert);
}

/** The value of `name{exporter="kafka"}` in a Prometheus text exposition. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('exporter="kafka"'));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function onTopic(): CloudEvent[] {
  return (reader?.messages ?? []).map((m) => JSON.parse(m.value) as CloudEvent);
}

beforeAll(async () => {
  kafka = await startTestKafka();
  work = mkdtempSync(join(tmpdir(), 'pulse-kafka-e2e-'));
  const journeys = join(work, 'journeys');
  mkdirSync(journeys);
  writeFileSync(join(journeys, 'checkout.yaml'), JOURNEY);
  alertsPath = join(work, 'alerts.jsonl');
  const httpPort = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort} }
connectors:
  journeys:
    directory: ${journeys}
    trace_wait: 1s
    settle_delay: 100ms
    sli: { window: 1s, allowed_lateness: 1s }
  slo:
    directory: ${journeys}
    evaluation_interval: 1s
    sli_delay: 2s
exporters:
  kafka:
    brokers: [${kafka.brokers}]
    topic: ${TOPIC}
    timeout: 3s
    retry_on_failure: { initial_interval: 200ms, max_interval: 1s }
  debug/alerts: { path: ${alertsPath} }
service:
  pipelines:
    traces/in:       { receivers: [otlp], exporters: [journeys] }
    attempts:        { receivers: [journeys], exporters: [slo] }
    journey_metrics: { receivers: [journeys], exporters: [slo] }
    alerts:          { receivers: [slo], exporters: [kafka, debug/alerts] }
`);
  shop = createShop({ endpoints: { http: `http://127.0.0.1:${httpPort}` }, scheduledDelayMillis: 200 });
  // Steady checkout traffic, 10/s; `failing` turns every charge into an error.
  traffic = setInterval(() => {
    shop.checkout({ tier: 'pro', chargeFails: failing });
  }, 100);
}, 300_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  await reader?.close();
  await shop?.shutdown();
  const code = await pulse?.stop();
  await kafka?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  expect(code).toBe(0);
}, 60_000);

describe('alerts through bin/pulse start to Kafka', () => {
  it('delivers an incident from firing to resolved, in order and complete, across a Kafka outage while it fires', async () => {
    await new Promise((r) => setTimeout(r, 5000)); // healthy history first
    failing = true;
    const faultAt = Date.now();
    await waitFor(() => recorded().some((e) => e.status === 'firing'), 60_000, 'a firing alert recorded by Pulse');
    reader = await readTopic(kafka.brokers, TOPIC);
    await waitFor(() => onTopic().some((e) => e.type === 'dev.pulse.alert.firing'), 30_000, 'the firing event on Kafka');
    const firingOnKafkaS = (Date.now() - faultAt) / 1000;

    // Kafka goes down while the alert fires: its repeats (every 2 s) wait in the outbox.
    await kafka.stop();
    const before = recorded().length;
    await waitFor(() => recorded().length >= before + 3, 30_000, 'three more events produced while Kafka is down');
    // They wait in the outbox (and sends are being retried), not lost.
    const metrics = await pulse.metrics();
    expect(sample(metrics, 'pulse_exporter_queue_size')).toBeGreaterThan(0);
    expect(sample(metrics, 'pulse_exporter_retries_total')).toBeGreaterThan(0);
    await kafka.restart();

    failing = false;
    await waitFor(() => recorded().some((e) => e.status === 'resolved'), 90_000, 'the alert resolved');
    const produced = recorded();
    await waitFor(() => onTopic().length >= produced.length, 60_000, 'every produced event on Kafka');
    await new Promise((r) => setTimeout(r, 1000));

    const events = onTopic();
    const unique = [...new Map(events.map((e) => [e.id, e])).values()];
    // Complete, and in the order Pulse produced them (one fingerprint → one partition).
    expect(unique.map((e) => e.id)).toEqual(produced.map((e) => e.id));
    const schema = buildAlertEventJsonSchema();
    for (const e of unique) expect(validate(schema, e)).toEqual([]);
    for (const m of reader.messages) {
      expect(m.headers['content-type']).toBe('application/cloudevents+json');
      expect(m.key).toBe((JSON.parse(m.value) as CloudEvent).data.fingerprint);
    }
    const fp = unique[0]!.data.fingerprint;
    const lifecycle = unique.filter((e) => e.data.fingerprint === fp).map((e) => [e.data.status, e.data.repeat]);
    expect(lifecycle[0]).toEqual(['firing', false]);
    expect(lifecycle.at(-1)).toEqual(['resolved', false]);
    expect(lifecycle.slice(1, -1).every(([s, r]) => s === 'firing' && r === true)).toBe(true);
    expect(lifecycle.length).toBeGreaterThanOrEqual(5);
    expect(unique[0]!.data).toMatchObject({ journey: 'checkout', kind: 'burn_rate' });
    console.info(
      `[kafka e2e] fault → firing on Kafka ${firingOnKafkaS.toFixed(1)} s; ${produced.length} events produced, ${unique.length} on Kafka (${events.length - unique.length} duplicates)`,
    );
  }, 240_000);
});
