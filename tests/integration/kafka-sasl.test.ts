/**
 * The kafka exporter's `sasl` settings against a real Kafka 3.9 whose SASL_PLAINTEXT listener takes PLAIN,
 * SCRAM-SHA-256 and SCRAM-SHA-512 (scripts/infra/kafka-lib.mjs, `sasl` option): each mechanism delivers, and a
 * wrong password keeps the alert in the outbox, retried and reported, instead of dropping it.
 * (TLS towards the brokers is not covered here: it needs a certificate authority in the test setup.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/exporters/kafka/config.js';
import type { KafkaAlertsExporter } from '../../src/exporters/kafka/exporter.js';
import { kafkaExporterFactory } from '../../src/exporters/kafka/factory.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { segmentAlert } from '../unit/exporters/kafka-fixtures.js';
import { host, makeSettings, metric, tempDir, until, type TestSettings } from '../unit/exporters/settings.js';
import { readTopic } from './kafka-topic-reader.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const USER = { name: 'pulse', password: 'alerts-s3cret' };
let kafka: TestKafka;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  kafka = await startTestKafka({ sasl: { users: [USER] } });
}, 300_000);

afterAll(async () => {
  await kafka?.close();
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function exporterFor(topic: string, sasl: Record<string, unknown>): Promise<{ settings: TestSettings; exporter: KafkaAlertsExporter }> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const settings = makeSettings(dir.path, 'kafka/sasl');
  const config = configSchema.parse({
    brokers: [kafka.saslBrokers],
    topic,
    timeout: '5s',
    sasl,
    retry_on_failure: { initial_interval: '100ms', max_interval: '300ms', randomization_factor: 0 },
  });
  const exporter = kafkaExporterFactory.create.alerts!(settings, config) as KafkaAlertsExporter;
  cleanup.push(() => exporter.shutdown(Date.now() + 2000));
  await exporter.start(host);
  return { settings, exporter };
}

const sent = (s: TestSettings): number => metric(s, 'pulse_exporter_sent_items_total', { exporter: 'kafka/sasl' });

describe('kafka exporter with SASL', () => {
  it.each(['plain', 'scram-sha-256', 'scram-sha-512'])('%s: the alert reaches the topic', async (mechanism) => {
    const topic = `sasl-${mechanism}-${Date.now()}`;
    const { settings, exporter } = await exporterFor(topic, { mechanism, username: USER.name, password: USER.password });
    const alert = segmentAlert();
    await exporter.consume([alert]);
    await until(() => sent(settings) === 1, 30_000, `the alert sent over ${mechanism}`);

    // Read back over the broker's PLAINTEXT listener: the event is there, once.
    const r = await readTopic(kafka.brokers, topic);
    cleanup.push(() => r.close());
    await r.waitFor(1);
    expect(r.messages.map((m) => (JSON.parse(m.value) as { id: string }).id)).toEqual([alert.id]);
    if (mechanism === 'plain') expect(settings.logs.some((l) => /SASL PLAIN without TLS/.test(String(l.msg)))).toBe(true);
  }, 60_000);

  it('a wrong password: nothing is dropped, the alert waits and is retried, and the log says to check the credentials', async () => {
    const { settings, exporter } = await exporterFor(`sasl-wrong-${Date.now()}`, { mechanism: 'scram-sha-512', username: USER.name, password: 'not-the-password' });
    await exporter.consume([segmentAlert()]);
    await until(() => metric(settings, 'pulse_exporter_retries_total', { exporter: 'kafka/sasl' }) >= 2, 30_000, 'retries');
    expect(sent(settings)).toBe(0);
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: 'kafka/sasl', reason: 'permanent' })).toBe(0);
    expect(metric(settings, 'pulse_exporter_queue_size', { exporter: 'kafka/sasl' })).toBe(1);
    const messages = settings.logs.map((l) => JSON.stringify(l)).join('\n');
    expect(messages).toMatch(/check sasl credentials/);
  }, 60_000);
});
