/**
 * The kafka exporter's `sasl` and `tls` settings against a real Kafka 3.9 with two more listeners
 * (scripts/infra/kafka-lib.mjs): SASL_PLAINTEXT taking PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, SSL requiring a
 * client certificate from a throwaway CA (tests/support/tls-certs.ts), and SASL_SSL (the two together). Each way in delivers; a wrong password, a
 * missing client certificate or an unverifiable broker certificate leaves the alert in the outbox, retried and
 * reported, instead of dropping it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/exporters/kafka/config.js';
import type { KafkaAlertsExporter } from '../../src/exporters/kafka/exporter.js';
import { kafkaExporterFactory } from '../../src/exporters/kafka/factory.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';
import { segmentAlert } from '../unit/exporters/kafka-fixtures.js';
import { host, makeSettings, metric, tempDir, until, type TestSettings } from '../unit/exporters/settings.js';
import { readTopic } from './kafka-topic-reader.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const USER = { name: 'pulse', password: 'alerts-s3cret' };
let kafka: TestKafka;
let certs: TestCertificates;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  certs = makeTestCertificates();
  kafka = await startTestKafka({
    sasl: { users: [USER] },
    tls: { keystoreFile: certs.serverKeystoreFile, truststoreFile: certs.caFile, clientAuth: 'required' },
  });
}, 300_000);

afterAll(async () => {
  await kafka?.close();
  certs?.remove();
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

async function exporterFor(topic: string, over: { sasl?: Record<string, unknown>; tls?: Record<string, unknown> }): Promise<{ settings: TestSettings; exporter: KafkaAlertsExporter }> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const settings = makeSettings(dir.path, 'kafka/sec');
  const config = configSchema.parse({
    brokers: [over.tls ? (over.sasl ? kafka.saslSslBrokers : kafka.sslBrokers) : kafka.saslBrokers],
    topic,
    timeout: '5s',
    ...over,
    retry_on_failure: { initial_interval: '100ms', max_interval: '300ms', randomization_factor: 0 },
  });
  const exporter = kafkaExporterFactory.create.alerts!(settings, config) as KafkaAlertsExporter;
  cleanup.push(() => exporter.shutdown(Date.now() + 2000));
  await exporter.start(host);
  return { settings, exporter };
}

const sent = (s: TestSettings): number => metric(s, 'pulse_exporter_sent_items_total', { exporter: 'kafka/sec' });

/** Sends one alert and reads it back over the broker's PLAINTEXT listener: there, once. */
async function delivers(topic: string, over: Parameters<typeof exporterFor>[1]): Promise<TestSettings> {
  const { settings, exporter } = await exporterFor(topic, over);
  const alert = segmentAlert();
  await exporter.consume([alert]);
  await until(() => sent(settings) === 1, 30_000, `the alert sent to ${topic}`);
  const r = await readTopic(kafka.brokers, topic);
  cleanup.push(() => r.close());
  await r.waitFor(1);
  expect(r.messages.map((m) => (JSON.parse(m.value) as { id: string }).id)).toEqual([alert.id]);
  return settings;
}

/** The alert is neither sent nor dropped: it waits in the outbox while sends are retried; returns the log. */
async function waits(over: Parameters<typeof exporterFor>[1]): Promise<string> {
  const { settings, exporter } = await exporterFor(`refused-${Date.now()}`, over);
  await exporter.consume([segmentAlert()]);
  await until(() => metric(settings, 'pulse_exporter_retries_total', { exporter: 'kafka/sec' }) >= 2, 30_000, 'retries');
  expect(sent(settings)).toBe(0);
  for (const reason of ['permanent', 'retries_exhausted', 'rejected_by_destination']) {
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: 'kafka/sec', reason })).toBe(0);
  }
  expect(metric(settings, 'pulse_exporter_queue_size', { exporter: 'kafka/sec' })).toBe(1);
  return settings.logs.map((l) => JSON.stringify(l)).join('\n');
}

describe('kafka exporter with SASL', () => {
  it.each(['plain', 'scram-sha-256', 'scram-sha-512'])('%s: the alert reaches the topic', async (mechanism) => {
    const settings = await delivers(`sasl-${mechanism}-${Date.now()}`, { sasl: { mechanism, username: USER.name, password: USER.password } });
    if (mechanism === 'plain') expect(settings.logs.some((l) => /SASL PLAIN without TLS/.test(String(l.msg)))).toBe(true);
  }, 60_000);

  it('a wrong password: nothing is dropped, the alert waits and is retried, and the log says to check the credentials', async () => {
    const log = await waits({ sasl: { mechanism: 'scram-sha-512', username: USER.name, password: 'not-the-password' } });
    expect(log).toMatch(/PULSE_ERR_KAFKA_AUTH|check sasl credentials/);
  }, 60_000);
});

describe('kafka exporter with SASL over TLS (SASL_SSL, the usual production listener)', () => {
  it('scram-sha-512 and plain with ca_file: the alerts reach the topic, with no clear-text warning for PLAIN over TLS', async () => {
    await delivers(`sasl-ssl-${Date.now()}`, { sasl: { mechanism: 'scram-sha-512', username: USER.name, password: USER.password }, tls: { enabled: true, ca_file: certs.caFile } });
    const settings = await delivers(`sasl-ssl-plain-${Date.now()}`, { sasl: { mechanism: 'plain', username: USER.name, password: USER.password }, tls: { enabled: true, ca_file: certs.caFile } });
    expect(settings.logs.some((l) => /SASL PLAIN without TLS/.test(String(l.msg)))).toBe(false);
  }, 60_000);
});

describe('kafka exporter with TLS (the broker requires a client certificate)', () => {
  const clientCert = (): Record<string, unknown> => ({ cert_file: certs.clientCertFile, key_file: certs.clientKeyFile });

  it('ca_file + client certificate: the alert reaches the topic', async () => {
    await delivers(`tls-${Date.now()}`, { tls: { enabled: true, ca_file: certs.caFile, ...clientCert() } });
  }, 60_000);

  it('insecure_skip_verify accepts a broker certificate no system CA signed', async () => {
    await delivers(`tls-skip-${Date.now()}`, { tls: { enabled: true, insecure_skip_verify: true, ...clientCert() } });
  }, 60_000);

  it('without ca_file the broker certificate is not trusted: the alert waits, and the log says why', async () => {
    expect(await waits({ tls: { enabled: true, ...clientCert() } })).toMatch(/PULSE_ERR_KAFKA_TLS.*unable to verify the first certificate.*check tls\.ca_file/);
  }, 60_000);

  it('without a client certificate the broker refuses the handshake: the alert waits', async () => {
    // The broker's TLS alert (42, bad_certificate) reaches the log, named as a TLS problem, and is retried.
    expect(await waits({ tls: { enabled: true, ca_file: certs.caFile } })).toMatch(/PULSE_ERR_KAFKA_TLS.*alert bad certificate/);
  }, 60_000);
});
