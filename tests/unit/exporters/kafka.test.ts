/**
 * The kafka exporter without a broker: config, the CloudEvent mapping and its published schema, the outbox
 * record format, and what happens while Kafka cannot be reached (tests/integration/kafka-exporter.test.ts runs it
 * against a real broker).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../../src/alerts/model.js';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import { formatDuration, toCloudEvent } from '../../../src/exporters/kafka/cloudevents.js';
import { configSchema } from '../../../src/exporters/kafka/config.js';
import {
  ALERT_CLOUDEVENT_SCHEMA_ID,
  ALERT_EVENT_DATASCHEMA,
  buildAlertEventDataJsonSchema,
  buildAlertEventJsonSchema,
} from '../../../src/exporters/kafka/event-schema.js';
import type { KafkaAlertsExporter } from '../../../src/exporters/kafka/exporter.js';
import { kafkaExporterFactory } from '../../../src/exporters/kafka/factory.js';
import { recordBatchCodec, toRecords } from '../../../src/exporters/kafka/records.js';
import { freePort } from '../../support/net.js';
import { keyPaths, resolvedOf, schemaKeyPaths, segmentAlert, validate } from './kafka-fixtures.js';
import { host, makeSettings, metric, tempDir, until } from './settings.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const schema = buildAlertEventJsonSchema();
const dataSchema = buildAlertEventDataJsonSchema();
const issues = (input: unknown) => configSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

describe('config', () => {
  it('defaults to an ordered, persistent outbox that never drops an alert', () => {
    const c = configSchema.parse({ brokers: ['kafka-1:9092'] });
    expect(c).toMatchObject({
      topic: 'pulse.alerts',
      client_id: 'pulse',
      acks: 'all',
      compression: 'none',
      timeout: 10_000,
      tls: { enabled: false, insecure_skip_verify: false },
      topic_creation: { enabled: true },
      sending_queue: { enabled: true, persistent: true, num_consumers: 1, queue_size: 10_000, when_full: 'block' },
      retry_on_failure: { enabled: true, max_elapsed_time: 0 },
    });
    expect(c.source).toBeUndefined();
    expect(c.sasl).toBeUndefined();
    // Setting other retry fields keeps "retry forever".
    expect(configSchema.parse({ brokers: ['k:9092'], retry_on_failure: { initial_interval: '1s' } }).retry_on_failure.max_elapsed_time).toBe(0);
    expect(configSchema.parse({ brokers: ['k:9092'], retry_on_failure: { max_elapsed_time: '1h' } }).retry_on_failure.max_elapsed_time).toBe(3_600_000);
  });

  it('explains what is wrong', () => {
    expect(issues({})).toEqual([expect.stringMatching(/^brokers: /)]);
    expect(issues({ brokers: [] })).toEqual([expect.stringMatching(/^brokers: /)]);
    expect(issues({ brokers: ['kafka-1'] })).toEqual(['brokers.0: "kafka-1" is not a broker address: write host:port, like kafka-1:9092']);
    expect(issues({ brokers: [':9092'] })).toHaveLength(1);
    expect(issues({ brokers: ['k:9092'], topic: 'bad topic' })[0]).toMatch(/^topic: a Kafka topic name/);
    expect(issues({ brokers: ['k:9092'], sending_queue: { num_consumers: 4 } })).toEqual([
      'sending_queue.num_consumers: the kafka exporter sends with one consumer so that alert events stay in order; remove num_consumers or set 1',
    ]);
    expect(issues({ brokers: ['k:9092'], tls: { ca_file: '/ca.pem' } })).toEqual(['tls.enabled: TLS settings are given but tls.enabled is false; set tls.enabled: true']);
    expect(issues({ brokers: ['k:9092'], tls: { enabled: true, cert_file: '/c.pem' } })).toEqual(['tls.key_file: mutual TLS needs both cert_file and key_file']);
    expect(issues({ brokers: ['k:9092'], sasl: { username: 'u' } })).toEqual([expect.stringMatching(/^sasl.password: /)]);
    expect(issues({ brokers: ['k:9092'], compression: 'snappy' })[0]).toMatch(/^compression: /);
    expect(issues({ brokers: ['k:9092'], acks: 1 })[0]).toMatch(/^acks: /);
    expect(issues({ brokers: ['k:9092'], sending_queue: { enabled: false } })[0]).toMatch(/^sending_queue.persistent: a persistent queue needs/);
    expect(issues({ brokers: ['k:9092'], sending_queue: { enabled: false, persistent: false } })).toEqual([]);
    expect(configSchema.parse({ brokers: ['k:9092'], sasl: { username: 'u', password: 'p' } }).sasl?.mechanism).toBe('plain');
  });

  it('takes a source only as CloudEvents allows it: a non-empty URI reference, so no whitespace', () => {
    expect(issues({ brokers: ['k:9092'], source: '' })).toEqual([expect.stringMatching(/^source: the CloudEvents source must not be empty: write a URI reference/)]);
    for (const source of ['pulse gateway 1', ' pulse://gw-1', 'pulse://gw-1\n', 'pulse://gw\t1']) {
      expect(issues({ brokers: ['k:9092'], source })).toEqual([expect.stringMatching(/^source: the CloudEvents source is a URI reference and cannot hold spaces/)]);
    }
    for (const source of ['pulse://gateway-1', '/pulse/eu-west-1/gw-1', 'urn:pulse:gw-1', 'https://pulse.example.com/gw?zone=a#1']) {
      expect(configSchema.parse({ brokers: ['k:9092'], source }).source).toBe(source);
    }
  });
});

describe('CloudEvent', () => {
  it('maps a firing segment alert field by field (snake_case data, RFC 3339 times, PagerDuty severity)', () => {
    const e = segmentAlert();
    expect(toCloudEvent(e, 'pulse://gw-1')).toEqual({
      specversion: '1.0',
      id: e.id,
      source: 'pulse://gw-1',
      type: 'dev.pulse.alert.firing',
      subject: 'checkout',
      time: '2025-06-01T12:00:05.000Z',
      datacontenttype: 'application/json',
      dataschema: 'https://pulse.dev/schemas/alert-event/v1.json',
      data: {
        journey: 'checkout',
        kind: 'segment',
        severity: 'page',
        pagerduty_severity: 'error',
        status: 'firing',
        fingerprint: e.fingerprint,
        starts_at: '2025-06-01T12:00:00.000Z',
        ends_at: null,
        repeat: false,
        segment: { key: 'customer.tier', value: 'enterprise' },
        objective: { target: 0.995, window: '30d', window_ms: 2_592_000_000 },
        error_budget_remaining: 0.62,
        burn_rates: [
          { window: '1h', window_ms: 3_600_000, burn_rate: 21.5, threshold: 14.4 },
          { window: '5m', window_ms: 300_000, burn_rate: 38.2, threshold: 14.4 },
        ],
        attempts: 412,
        failures: 97,
        suspects: [
          { dimension: 'service.version:payments', value: '2.5.0', attempts: 120, failures: 88, failure_ratio: 0.733, share_of_failures: 0.907, lift: 3.11 },
          { dimension: 'customer.tier', value: 'enterprise', attempts: 150, failures: 90, failure_ratio: 0.6, share_of_failures: 0.928, lift: 2.55 },
        ],
        release: null,
        exemplar_trace_ids: e.exemplarTraceIds,
        owner: 'team-payments',
        runbook: 'https://runbooks.example.com/checkout',
        summary: e.summary,
      },
    });
  });

  it('maps resolved and release-regression alerts, and says null for ratios that are not numbers', () => {
    const resolved = toCloudEvent(resolvedOf(segmentAlert({ kind: 'burn_rate', segment: undefined })), 's');
    expect(resolved.type).toBe('dev.pulse.alert.resolved');
    expect(resolved.data).toMatchObject({ status: 'resolved', pagerduty_severity: 'info', ends_at: '2025-06-01T12:10:05.000Z', segment: null });
    const release = toCloudEvent(
      segmentAlert({
        kind: 'release_regression',
        severity: 'ticket',
        segment: undefined,
        errorBudgetRemaining: Number.NEGATIVE_INFINITY,
        suspects: [{ dimension: 'service', value: 'payments', attempts: 3, failures: 0, failureRatio: 0, shareOfFailures: Number.NaN, lift: Number.NaN }],
        release: { service: 'payments', newVersion: '2.5.0', previousVersion: '2.4.1', firstSeenMs: Date.parse('2025-06-01T11:58:00Z'), newFailureRatio: 0.3, previousFailureRatio: 0.01 },
      }),
      's',
    );
    expect(release.data.pagerduty_severity).toBe('warning');
    expect(release.data.release).toEqual({
      service: 'payments',
      new_version: '2.5.0',
      previous_version: '2.4.1',
      first_seen: '2025-06-01T11:58:00.000Z',
      new_failure_ratio: 0.3,
      previous_failure_ratio: 0.01,
    });
    expect(release.data.error_budget_remaining).toBeNull();
    expect(release.data.suspects[0]).toMatchObject({ share_of_failures: null, lift: null });
    expect(JSON.parse(JSON.stringify(release))).toEqual(release);
    const page = (kind: AlertEvent['kind']) => toCloudEvent(segmentAlert({ kind }), 's').data.pagerduty_severity;
    expect([page('heartbeat'), page('burn_rate'), page('segment'), page('release_regression')]).toEqual(['critical', 'critical', 'error', 'error']);
  });

  it('formats durations with the largest exact unit', () => {
    expect([formatDuration(2_592_000_000), formatDuration(5_400_000), formatDuration(3_600_000), formatDuration(90_000), formatDuration(1500)]).toEqual([
      '30d',
      '90m',
      '1h',
      '90s',
      '1500ms',
    ]);
  });
});

describe('published schemas (schemas/alert-event.schema.json, schemas/alert-event-data.schema.json)', () => {
  const events = [
    segmentAlert(),
    resolvedOf(segmentAlert()),
    segmentAlert({ kind: 'heartbeat', segment: undefined, burnRates: [], suspects: [], exemplarTraceIds: [], owner: '', runbook: '' }),
    segmentAlert({
      kind: 'release_regression',
      release: { service: 'payments', newVersion: '2.5.0', previousVersion: '2.4.1', firstSeenMs: 0, newFailureRatio: 0.5, previousFailureRatio: 0 },
      suspects: [{ dimension: 'service', value: 'payments', attempts: 1, failures: 1, failureRatio: 1, shareOfFailures: 1, lift: Number.POSITIVE_INFINITY }],
    }),
  ];

  it('accept every kind of event the exporter writes, as read back from its JSON: the event whole, and its data', () => {
    for (const e of events) {
      const { records } = toRecords([e], 'pulse://gw-1');
      const event = JSON.parse(records[0]!.value) as { data: unknown };
      expect(validate(schema, event)).toEqual([]);
      expect(validate(dataSchema, event.data)).toEqual([]);
      // The data schema is of data alone: the envelope is not an alert.
      expect(validate(dataSchema, event)).not.toEqual([]);
    }
  });

  it('name data\'s schema in dataschema (CloudEvents: "the schema that data adheres to"), and the whole event\'s apart', () => {
    const event = toCloudEvent(segmentAlert(), 's');
    expect(dataSchema.$id).toBe(event.dataschema);
    expect(dataSchema.$id).toBe(ALERT_EVENT_DATASCHEMA);
    expect(schema.$id).toBe(ALERT_CLOUDEVENT_SCHEMA_ID);
    expect(schema.$id).not.toBe(event.dataschema);
    // The whole event's schema holds the data schema as it is, so the two cannot disagree.
    const { $schema: _s, $id: _i, title: _t, ...data } = dataSchema;
    expect((schema.properties as Record<string, unknown>).data).toEqual(data);
    expect(readFileSync(`${ROOT}/schemas/alert-event-data.schema.json`, 'utf8')).toContain(`"$id": "${ALERT_EVENT_DATASCHEMA}"`);
    expect(readFileSync(`${ROOT}/schemas/alert-event.schema.json`, 'utf8')).toContain(`"$id": "${ALERT_CLOUDEVENT_SCHEMA_ID}"`);
  });

  it('declare exactly the keys an event carries (documented, none missing, none extra)', () => {
    const written = keyPaths(toCloudEvent(events[3]!, 's'));
    expect(new Set(written)).toEqual(new Set(schemaKeyPaths(schema)));
    // Every key is required: absent values are null, never missing.
    const requiredEverywhere = (s: Record<string, unknown>): void => {
      for (const b of (s.anyOf as Array<Record<string, unknown>> | undefined) ?? []) requiredEverywhere(b);
      if (s.items) requiredEverywhere(s.items as Record<string, unknown>);
      const props = s.properties as Record<string, Record<string, unknown>> | undefined;
      if (props) {
        expect(s.required).toEqual(Object.keys(props));
        Object.values(props).forEach(requiredEverywhere);
      }
    };
    requiredEverywhere(schema);
  });

  it('reject events that break the contract (so the checks above can fail)', () => {
    const good = toCloudEvent(segmentAlert(), 's');
    const broken = JSON.parse(JSON.stringify(good)) as { data: Record<string, unknown>; type: string };
    delete broken.data.fingerprint;
    broken.data.attempts = '412';
    broken.data.segment = { key: 'customer.tier' };
    broken.type = 'dev.pulse.alert.acknowledged';
    expect(validate(schema, broken)).toEqual([
      expect.stringMatching(/^\$\.type: /),
      '$.data: missing fingerprint',
      expect.stringMatching(/^\$\.data\.segment: matches no anyOf branch/),
      expect.stringMatching(/^\$\.data\.attempts: expected integer/),
    ]);
    expect(validate(schema, { ...good, time: '1 June 2025' })).toEqual(['$.time: not an RFC 3339 date-time']);
    expect(validate(dataSchema, broken.data)).toEqual([
      '$: missing fingerprint',
      expect.stringMatching(/^\$\.segment: matches no anyOf branch/),
      expect.stringMatching(/^\$\.attempts: expected integer/),
    ]);
  });

  it('match the examples in docs/alerts.md', () => {
    const doc = readFileSync(`${ROOT}/docs/alerts.md`, 'utf8');
    const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    expect(examples).toHaveLength(2);
    for (const ex of examples) {
      expect(validate(schema, ex)).toEqual([]);
      expect(validate(dataSchema, ex.data)).toEqual([]);
      expect(ex.dataschema).toBe(dataSchema.$id);
    }
    expect(examples.map((e) => e.type)).toEqual(['dev.pulse.alert.firing', 'dev.pulse.alert.resolved']);
  });
});

describe('outbox records', () => {
  it('keys each record by fingerprint and round-trips through the disk format', () => {
    const batch = toRecords([segmentAlert({ summary: 'checkout für Kunden ✓' }), resolvedOf(segmentAlert({ fingerprint: 'b'.repeat(32) }))], 'pulse://x').records;
    expect(batch.map((r) => r.key)).toEqual(['5f1c0e8a9b7d4c2e8f0a1b2c3d4e5f60', 'b'.repeat(32)]);
    expect(batch[0]!.timestampMs).toBe(Date.parse('2025-06-01T12:00:05.000Z'));
    expect(recordBatchCodec.decode(recordBatchCodec.encode(batch))).toEqual(batch);
    expect(recordBatchCodec.decode(recordBatchCodec.encode([]))).toEqual([]);
    const bytes = recordBatchCodec.encode(batch);
    expect(() => recordBatchCodec.decode(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated/);
  });

  it('write a lone surrogate as U+FFFD, as the journey_alerts row does, not as an escape strict parsers refuse', () => {
    const e = segmentAlert({ summary: 'checkout failing for customer.tier=\ud83d', segment: { key: 'customer.tier', value: 'gold\udc00' } });
    const [r] = toRecords([e], 'pulse://x').records;
    expect(r!.value).not.toMatch(/\\ud[89a-f]/i);
    const event = JSON.parse(r!.value) as { data: { summary: string; segment: { value: string } } };
    expect(event.data.summary).toBe('checkout failing for customer.tier=\ufffd');
    expect(event.data.segment.value).toBe('gold\ufffd');
    // Text without lone surrogates is written as JSON.stringify writes it.
    const plain = segmentAlert({ summary: 'ok 🚀 \\ud83d' });
    expect(toRecords([plain], 's').records[0]!.value).toBe(JSON.stringify(toCloudEvent(plain, 's')));
  });

  it('leaves out an event that cannot be written, keeping the others', () => {
    const { records, bad } = toRecords([segmentAlert({ eventTimeMs: Number.NaN }), segmentAlert(), segmentAlert({ fingerprint: '' })], 's');
    expect(records).toHaveLength(1);
    expect(bad.map((e) => e.code)).toEqual(['PULSE_ERR_KAFKA_BAD_EVENT', 'PULSE_ERR_KAFKA_BAD_EVENT']);
    expect(bad[1]!.message).toMatch(/no fingerprint/);
  });
});

describe('while Kafka cannot be reached', () => {
  const open: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c();
  });

  async function unreachable(over: Record<string, unknown> = {}) {
    const dir = await tempDir();
    open.push(() => dir.remove());
    const settings = makeSettings(dir.path, 'kafka/test');
    const config = configSchema.parse({
      brokers: [`127.0.0.1:${await freePort()}`], // nothing listens there
      timeout: '1s',
      retry_on_failure: { initial_interval: '50ms', max_interval: '100ms' },
      ...over,
    });
    const exporter = kafkaExporterFactory.create.alerts!(settings, config) as KafkaAlertsExporter;
    open.push(() => exporter.shutdown(Date.now() + 1000));
    return { dir: dir.path, settings, exporter };
  }

  it('starts, keeps events in the disk outbox, refuses with a retryable error when it is full, and keeps them at shutdown', async () => {
    const { dir, settings, exporter } = await unreachable({ sending_queue: { queue_size: 3 } });
    await exporter.start(host);
    for (let i = 0; i < 3; i++) await exporter.consume([segmentAlert(), segmentAlert()]);
    expect(exporter.queueSize).toBe(3);
    // Why nothing goes out is logged (rate-limited by the helper).
    await until(() => settings.logs.some((l) => l.code === 'PULSE_ERR_KAFKA_UNAVAILABLE' && String(l.err).includes('ECONNREFUSED')), 10_000, 'the retry log');
    const full = await exporter.consume([segmentAlert()]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(full).toBeInstanceOf(RetryableError);
    expect(full).toMatchObject({ code: 'PULSE_ERR_QUEUE_FULL' });
    expect(metric(settings, 'pulse_exporter_enqueue_failed_items_total', { exporter: 'kafka/test' })).toBe(1);
    const t0 = Date.now();
    await exporter.shutdown();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(readdirSync(dir).filter((f) => f.endsWith('.batch'))).toHaveLength(3);
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: 'kafka/test', reason: 'shutdown' })).toBe(0);
  });

  it('drops and counts events that cannot be written, and rejects a call that has nothing else', async () => {
    const { settings, exporter } = await unreachable();
    await exporter.start(host);
    await exporter.consume([segmentAlert({ eventTimeMs: Number.NaN }), segmentAlert()]);
    expect(exporter.queueSize).toBe(1);
    await expect(exporter.consume([segmentAlert({ startsAtMs: Number.NaN })])).rejects.toBeInstanceOf(PermanentError);
    expect(metric(settings, 'pulse_exporter_send_failed_items_total', { exporter: 'kafka/test', reason: 'permanent' })).toBe(2);
    await exporter.consume([]);
    expect(exporter.queueSize).toBe(1);
  });

  it('fails start when a TLS file cannot be read', async () => {
    const { exporter } = await unreachable({ tls: { enabled: true, ca_file: '/nonexistent/ca.pem' } });
    await expect(exporter.start(host)).rejects.toMatchObject({ code: 'PULSE_ERR_TLS_FILE' });
  });
});
