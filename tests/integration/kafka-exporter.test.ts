/**
 * The kafka exporter against a real single-node Kafka 3.9 (KRaft): what a consumer of the alert topic sees, in
 * normal operation, across a broker outage in the middle of a stream, and across a Pulse restart with events
 * waiting in the disk outbox.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/exporters/kafka/config.js';
import { kafkaExporterFactory } from '../../src/exporters/kafka/factory.js';
import type { KafkaAlertsExporter } from '../../src/exporters/kafka/exporter.js';
import { buildAlertEventJsonSchema } from '../../src/exporters/kafka/event-schema.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { ROOT } from '../support/pulse-process.js';
import { numberedAlert, resolvedOf, segmentAlert, seqOf, validate } from '../unit/exporters/kafka-fixtures.js';
import { host, makeSettings, metric, tempDir, until, type TestSettings } from '../unit/exporters/settings.js';
import { readTopic, type ReadMessage, type TopicReader } from './kafka-topic-reader.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let kafka: TestKafka;
const cleanup: Array<() => Promise<unknown>> = [];
let topicSeq = 0;

beforeAll(async () => {
  kafka = await startTestKafka();
}, 300_000);

afterAll(async () => {
  await kafka?.close();
});

afterEach(async () => {
  // Exporters first (they may hold the broker's connections), then readers, then temp dirs.
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  // A test that stopped the broker leaves it running again for the next one.
  if ((await kafka.apiVersions().catch(() => undefined)) === undefined) await kafka.restart();
});

function newTopic(): string {
  return `alerts-${process.pid}-${++topicSeq}-${Date.now()}`;
}

interface Bed {
  settings: TestSettings;
  exporter: KafkaAlertsExporter;
}

async function startExporter(topic: string, dataDir: string, over: Record<string, unknown> = {}): Promise<Bed> {
  const settings = makeSettings(dataDir, 'kafka/test');
  const config = configSchema.parse({
    brokers: [kafka.brokers],
    topic,
    timeout: '5s',
    topic_creation: { num_partitions: 3, replication_factor: 1 },
    retry_on_failure: { initial_interval: '100ms', max_interval: '500ms', randomization_factor: 0 },
    ...over,
  });
  const exporter = kafkaExporterFactory.create.alerts!(settings, config) as KafkaAlertsExporter;
  cleanup.push(() => exporter.shutdown(Date.now() + 2000));
  await exporter.start(host);
  return { settings, exporter };
}

async function reader(topic: string): Promise<TopicReader> {
  const r = await readTopic(kafka.brokers, topic);
  cleanup.push(() => r.close());
  return r;
}

async function dataDir(): Promise<string> {
  const d = await tempDir();
  cleanup.push(() => d.remove());
  return d.path;
}

const sent = (b: Bed): number => metric(b.settings, 'pulse_exporter_sent_items_total', { exporter: 'kafka/test' });

interface Parsed {
  msg: ReadMessage;
  event: { id: string; type: string; data: { fingerprint: string; summary: string; status: string } };
}

function parse(messages: readonly ReadMessage[]): Parsed[] {
  return messages.map((msg) => ({ msg, event: JSON.parse(msg.value) as Parsed['event'] }));
}

/**
 * Per fingerprint: the sequence numbers in the order read, duplicates removed (by CloudEvent id), and how many
 * duplicates there were. Also checks that each fingerprint stayed in one partition.
 */
function byFingerprint(parsed: readonly Parsed[]): { seqs: Map<string, number[]>; duplicates: number } {
  const seqs = new Map<string, number[]>();
  const partitions = new Map<string, number>();
  const seen = new Set<string>();
  let duplicates = 0;
  for (const { msg, event } of parsed) {
    const fp = event.data.fingerprint;
    expect(msg.key).toBe(fp);
    const p = partitions.get(fp) ?? msg.partition;
    expect(msg.partition, `fingerprint ${fp} in one partition`).toBe(p);
    partitions.set(fp, p);
    if (seen.has(event.id)) {
      duplicates++;
      continue;
    }
    seen.add(event.id);
    const list = seqs.get(fp) ?? [];
    list.push(seqOf(event.data.summary));
    seqs.set(fp, list);
  }
  return { seqs, duplicates };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('kafka exporter on a real broker', () => {
  it('publishes CloudEvents keyed by fingerprint, with the content type, valid against the published schema, in order per alert', async () => {
    const topic = newTopic();
    const bed = await startExporter(topic, await dataDir());
    const firing = segmentAlert();
    const other = segmentAlert({ fingerprint: 'aa'.repeat(16), kind: 'burn_rate', segment: undefined, suspects: [] });
    await bed.exporter.consume([firing, other]);
    await until(() => sent(bed) === 2, 20_000, 'first batch sent');
    // The exporter created the topic with the configured partitions (admin CreateTopics, before the first send).
    expect((await kafka.topics([topic])).get(topic)).toBe(3);

    const fps = range(6).map((i) => `${i}`.padStart(32, 'f'));
    const perFp = 25;
    for (let seq = 0; seq < perFp; seq++) await bed.exporter.consume(fps.map((fp) => numberedAlert(fp, seq)));
    await bed.exporter.consume([resolvedOf(firing)]);
    const total = 2 + fps.length * perFp + 1;
    await until(() => sent(bed) === total, 20_000, 'all sent');

    const r = await reader(topic);
    await r.waitFor(total);
    const parsed = parse(r.messages);
    expect(parsed).toHaveLength(total);
    const schema = buildAlertEventJsonSchema();
    for (const { msg, event } of parsed) {
      expect(msg.headers['content-type']).toBe('application/cloudevents+json');
      expect(msg.key).toBe(event.data.fingerprint);
      expect(validate(schema, event)).toEqual([]);
    }
    const lifecycle = parsed.filter((p) => p.event.data.fingerprint === firing.fingerprint).map((p) => p.event);
    expect(lifecycle.map((e) => [e.type, e.data.status, e.id])).toEqual([
      ['dev.pulse.alert.firing', 'firing', firing.id],
      ['dev.pulse.alert.resolved', 'resolved', expect.any(String)],
    ]);
    const numbered = parsed.filter((p) => fps.includes(p.event.data.fingerprint));
    const { seqs, duplicates } = byFingerprint(numbered);
    expect(duplicates).toBe(0);
    for (const fp of fps) expect(seqs.get(fp)).toEqual(range(perFp));
    // 6 fingerprints over 3 partitions: murmur2 spreads them (a single partition would hide ordering bugs).
    expect(new Set(numbered.map((p) => p.msg.partition)).size).toBeGreaterThan(1);
  }, 90_000);

  it('loses nothing when Kafka stops in the middle of a stream and comes back: every event, in order', async () => {
    const topic = newTopic();
    const bed = await startExporter(topic, await dataDir());
    const fps = range(4).map((i) => `${i}`.padStart(32, 'b'));
    let seq = 0;
    const produce = async (batches: number): Promise<void> => {
      for (let i = 0; i < batches; i++, seq++) {
        await bed.exporter.consume(fps.map((fp) => numberedAlert(fp, seq)));
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await produce(20);
    await until(() => sent(bed) > 0, 20_000, 'first events sent');
    const outage = produce(60); // keeps producing through the outage (~1.2 s of events + the stop/restart)
    await kafka.stop();
    const stoppedAt = Date.now();
    await outage;
    await produce(20);
    const queuedDuringOutage = bed.exporter.queueSize;
    await kafka.restart();
    const restartedAt = Date.now();
    await produce(20);
    const total = seq * fps.length;
    await until(() => sent(bed) === total, 60_000, 'all events sent after the outage');
    const drainedMs = Date.now() - restartedAt;
    // The outage is visible in the logs (rate-limited): why sends fail, and when Kafka is back.
    expect(bed.settings.logs.some((l) => l.code === 'PULSE_ERR_KAFKA_UNAVAILABLE' && String(l.err).includes('ECONNREFUSED'))).toBe(true);
    expect(bed.settings.logs.some((l) => l.msg.startsWith('Kafka is reachable again'))).toBe(true);

    const r = await reader(topic);
    await r.waitFor(total);
    await new Promise((res) => setTimeout(res, 500)); // let any duplicate arrive too
    const { seqs, duplicates } = byFingerprint(parse(r.messages));
    for (const fp of fps) expect(seqs.get(fp), `fingerprint ${fp}`).toEqual(range(seq));
    expect(r.messages.length - duplicates).toBe(total);
    console.info(
      `[kafka outage] ${total} events, ${queuedDuringOutage} batches queued during the outage (broker down ${restartedAt - stoppedAt} ms), all sent ${drainedMs} ms after the restart, duplicates: ${duplicates}`,
    );
  }, 180_000);

  it('keeps events queued on disk across a Pulse restart while Kafka is down, then sends them all in order', async () => {
    const topic = newTopic();
    const dir = await dataDir();
    // Create the topic while the broker is up, so the second exporter's sends are the only thing that matters.
    const fps = range(3).map((i) => `${i}`.padStart(32, 'c'));
    const first = await startExporter(topic, dir);
    await first.exporter.consume([numberedAlert(fps[0]!, 0)]);
    await until(() => sent(first) === 1, 20_000, 'first event sent');

    await kafka.stop();
    let seq = 1;
    for (; seq <= 30; seq++) await first.exporter.consume(fps.map((fp) => numberedAlert(fp, seq)));
    expect(first.exporter.queueSize).toBeGreaterThanOrEqual(29);
    const t0 = Date.now();
    await first.exporter.shutdown();
    const shutdownMs = Date.now() - t0;
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch')).length).toBeGreaterThanOrEqual(29);

    // "Pulse restarts" while Kafka is still down: the new exporter starts anyway and reloads the outbox.
    const second = await startExporter(topic, dir);
    expect(second.exporter.queueSize).toBeGreaterThanOrEqual(29);
    for (; seq <= 40; seq++) await second.exporter.consume(fps.map((fp) => numberedAlert(fp, seq)));
    await kafka.restart();
    await until(() => second.exporter.queueSize === 0, 60_000, 'outbox drained');

    const r = await reader(topic);
    const expected = 1 + 40 * fps.length; // fps[0] also has the seq 0 event
    await r.waitFor(expected);
    await new Promise((res) => setTimeout(res, 500));
    const { seqs, duplicates } = byFingerprint(parse(r.messages));
    expect(seqs.get(fps[0]!)).toEqual(range(41));
    for (const fp of fps.slice(1)) expect(seqs.get(fp)).toEqual(range(40).map((i) => i + 1));
    expect(r.messages.length - duplicates).toBe(expected);
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toEqual([]);
    console.info(`[kafka pulse restart] shutdown with Kafka down took ${shutdownMs} ms; ${expected} events delivered in order, duplicates: ${duplicates}`);
  }, 180_000);

  it('the consumer in docs/alerts.md runs as written: prints each alert once, even when an event is delivered twice', async () => {
    const topic = newTopic();
    const bed = await startExporter(topic, await dataDir());
    const firing = segmentAlert();
    // The same event twice (same id): what a consumer sees after a redelivery.
    await bed.exporter.consume([firing]);
    await bed.exporter.consume([firing, resolvedOf(firing)]);
    await until(() => sent(bed) === 3, 20_000, 'events sent');

    const doc = readFileSync(`${ROOT}/docs/alerts.md`, 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(doc)![1]!;
    const child = spawn(process.execPath, ['--input-type=module', '-e', snippet], {
      cwd: ROOT, // resolves kafkajs from the repository's node_modules
      env: { ...process.env, KAFKA_BROKERS: kafka.brokers, PULSE_ALERT_TOPIC: topic, GROUP_ID: `docs-${topic}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.push(async () => {
      child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.split('\n').filter((l) => l.startsWith('resolved')).length === 1, 30_000, `the snippet's output (${out})`);
    await new Promise((r) => setTimeout(r, 300));
    // kafkajs' own log lines are JSON; the snippet's lines are the rest.
    expect(out.trim().split('\n').filter((l) => !l.startsWith('{'))).toEqual([
      `firing [error] checkout/segment ${firing.fingerprint}: ${firing.summary} — suspect service.version:payments=2.5.0`,
      `resolved [info] checkout/segment ${firing.fingerprint}: ${firing.summary} — suspect service.version:payments=2.5.0`,
    ]);
  }, 60_000);
});
