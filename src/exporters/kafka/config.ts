/**
 * Config of the `kafka` exporter: alert events as CloudEvents on a Kafka topic, through an idempotent kafkajs
 * producer, with a disk outbox (the exporter helper's persistent queue) in front of it.
 *
 * Defaults that differ from other exporters, and why:
 * - `sending_queue.persistent: true` — the disk outbox: alerts survive a Kafka outage and a Pulse restart;
 * - `sending_queue.num_consumers: 1`, and nothing else accepted — one sender keeps events in order;
 * - `sending_queue.queue_size: 10000` — a batch is one evaluation's events, so this is hours of outage;
 * - `retry_on_failure.max_elapsed_time: 0` — never give up on an alert; when the outbox is full new alerts are
 *   refused (the SLO connector keeps and retries them) instead of old ones being dropped;
 * - `timeout: 10s` — one attempt includes connecting, metadata, and the acknowledgement of all in-sync replicas.
 */
import { z } from 'zod';
import { duration, parseHostPort } from '../../config/types.js';
import { exporterHelperFields, validateExporterHelper } from '../exporterhelper/config.js';

const helper = exporterHelperFields({ persistentQueue: true, numConsumers: 1, queueSize: 10_000, timeout: '10s' });

/** The helper's retry fragment with `max_elapsed_time` defaulting to 0 (retry forever), also when others are set. */
const retryOnFailure = helper.retry_on_failure
  .unwrap()
  .extend({
    max_elapsed_time: duration()
      .prefault('0s')
      .describe(
        'Give up (drop and count) once a batch has been retried this long; default 0 = retry forever, so no alert is dropped while Kafka is down (the outbox fills, then new alerts are refused)',
      ),
  })
  .prefault({});

const tlsSchema = z
  .object({
    enabled: z.boolean().default(false).describe('Connect to the brokers over TLS'),
    ca_file: z.string().min(1).optional().describe('PEM file of the CA(s) that sign the broker certificates; default: the system CAs'),
    cert_file: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS (needs key_file)'),
    key_file: z.string().min(1).optional().describe('PEM private key of cert_file'),
    insecure_skip_verify: z.boolean().default(false).describe('Accept any broker certificate (testing only: allows interception)'),
  })
  .describe('TLS towards the brokers');

const saslSchema = z
  .object({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
      .default('plain')
      .describe('SASL mechanism; PLAIN sends the password as is, so use it with tls.enabled'),
    username: z.string().min(1).describe('SASL user name'),
    password: z.string().min(1).describe('SASL password; use ${env:VAR} rather than writing it in the file'),
  })
  .describe('SASL authentication (omit for none)');

const topicCreationSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Before the first send, create the topic when it does not exist (best effort; needs the CREATE permission)'),
    num_partitions: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Partitions of a topic Pulse creates; default: the broker's num.partitions"),
    replication_factor: z
      .number()
      .int()
      .min(1)
      .max(32767)
      .optional()
      .describe("Replication factor of a topic Pulse creates; default: the broker's default.replication.factor"),
  })
  .describe('Creation of the topic when it is missing');

export const configSchema = z
  .object({
    brokers: z
      .array(z.string())
      .min(1)
      .describe('Bootstrap brokers as host:port, e.g. [kafka-1:9092, kafka-2:9092]'),
    topic: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: 1-249 characters among letters, digits, ".", "_" and "-"')
      .default('pulse.alerts')
      .describe('Topic alert events are written to'),
    client_id: z.string().min(1).default('pulse').describe('Kafka client id (shows in broker logs, quotas and ACLs)'),
    // CloudEvents: a non-empty URI-reference (RFC 3986), which has no whitespace; a consumer may refuse anything else.
    source: z
      .string()
      .min(1, 'the CloudEvents source must not be empty: write a URI reference naming this Pulse, like pulse://gateway-1, or remove source for pulse://<hostname>')
      .regex(/^\S*$/, 'the CloudEvents source is a URI reference and cannot hold spaces or line breaks: write it like pulse://gateway-1 or /pulse/eu-west-1/gateway-1')
      .optional()
      .describe('CloudEvents `source` of every event (a URI reference naming this Pulse instance); default pulse://<hostname>'),
    acks: z
      .literal('all')
      .default('all')
      .describe('Acknowledgement from all in-sync replicas (acks=-1); the only value, because the producer is idempotent'),
    compression: z
      .enum(['none', 'gzip'])
      .default('none')
      .describe('Compression of record batches; kafkajs ships gzip only (snappy, lz4 and zstd need codecs Pulse does not bundle)'),
    tls: tlsSchema.prefault({}),
    sasl: saslSchema.optional(),
    topic_creation: topicCreationSchema.prefault({}),
    ...helper,
    retry_on_failure: retryOnFailure,
  })
  .superRefine((cfg, ctx) => {
    validateExporterHelper(cfg, ctx);
    cfg.brokers.forEach((b, i) => {
      const hp = parseHostPort(b);
      if (hp === undefined || hp.port === 0 || b.trim().startsWith(':')) {
        ctx.addIssue({ code: 'custom', path: ['brokers', i], message: `"${b}" is not a broker address: write host:port, like kafka-1:9092` });
      }
    });
    if (cfg.sending_queue.num_consumers !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['sending_queue', 'num_consumers'],
        message: 'the kafka exporter sends with one consumer so that alert events stay in order; remove num_consumers or set 1',
      });
    }
    const t = cfg.tls;
    if (!t.enabled && (t.ca_file !== undefined || t.cert_file !== undefined || t.key_file !== undefined || t.insecure_skip_verify)) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'enabled'], message: 'TLS settings are given but tls.enabled is false; set tls.enabled: true' });
    }
    if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', t.cert_file === undefined ? 'cert_file' : 'key_file'],
        message: 'mutual TLS needs both cert_file and key_file',
      });
    }
  })
  .describe('Publishes alert events as CloudEvents (JSON) to a Kafka topic, keyed by alert fingerprint, through a disk outbox');

export type KafkaExporterConfig = z.output<typeof configSchema>;
