/**
 * The kafkajs side of the `kafka` exporter: one idempotent producer (acks from all in-sync replicas, one request in
 * flight), records keyed by alert fingerprint, and the classification of kafkajs failures into the exporter
 * helper's error contract. The helper owns retries and backoff; kafkajs' own retries are kept short so that one
 * attempt fits in `timeout`.
 *
 * Ordering and duplicates — what this file guarantees, given the helper's single queue consumer:
 * - One kafkajs operation at a time. An attempt abandoned at its timeout may still be running inside kafkajs; the
 *   next attempt waits for it to settle, so two sends never overlap (they could reorder records).
 * - A retried batch goes out through the same producer with the same sequence numbers (kafkajs rolls them back
 *   on failure), so a batch the broker had written before the failure is deduplicated by the broker.
 * - Progress inside a batch is kept (records go in chunks of at most 256 KiB), so a retry continues after the last
 *   acknowledged chunk — and the retry of an attempt abandoned at its timeout that then succeeded sends nothing.
 * - The producer is replaced (new producer id, sequences from 0) when the broker says its state is lost
 *   (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER, …) or when a batch whose outcome was unknown is given up and
 *   another one follows (its sequence numbers must not be reused for different records). Records whose delivery
 *   was unknown may then be written twice: consumers deduplicate by CloudEvent `id` (docs/alerts.md).
 */
import type { Logger } from 'pino';
import kafkajs from 'kafkajs';
import type { Admin, AdminConfig, KafkaConfig, LogEntry, Message, Producer, ProducerConfig, RetryOptions, SASLOptions } from 'kafkajs';
import { PulseError, RetryableError, errorMessage } from '../../core/errors.js';
import type { SendResult } from '../exporterhelper/sender.js';
import { isTlsFailure, loadClientTls, tlsHint } from '../exporterhelper/tls.js';
import type { KafkaExporterConfig } from './config.js';
import { CLOUDEVENTS_CONTENT_TYPE } from './event-schema.js';
import type { AlertRecordBatch } from './records.js';

/**
 * kafkajs' own retries (connect, metadata, produce) within one attempt: short, so the helper's backoff is the one
 * that matters and an attempt ends within `timeout`. (kafkajs logs a debug warning that limited retries may break
 * exactly-once; they do not here, because the helper retries the same records through the same producer.)
 */
const KAFKAJS_RETRY: RetryOptions = { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 };
/** Records per produce request are capped at this many bytes, well under the brokers' 1 MiB message.max.bytes default. */
const MAX_CHUNK_BYTES = 256 * 1024;
/** How long close() waits for an abandoned attempt and for the disconnect. */
const CLOSE_WAIT_MS = 3000;

/** Broker errors after which this producer's id or sequence numbers are no longer valid. */
const PRODUCER_STATE_ERRORS = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);
const TOO_LARGE_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const AUTH_ERRORS = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
]);

// kafkajs is CommonJS and Node cannot see all of its exports as named ones (ConfigResourceTypes), hence the default import.
const { CompressionTypes, ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;

const noop = (): void => undefined;

/** The part of a kafkajs `Kafka` client used here; tests hand in a fake to drive broker answers. */
export interface KafkaClient {
  producer(config: ProducerConfig): Producer;
  admin(config?: AdminConfig): Admin;
}

export type CreateKafkaClient = (config: KafkaConfig) => KafkaClient;

export class KafkaAlertProducer {
  private kafka: KafkaClient | undefined;
  /** The connected producer (or the connection under way); undefined until the first connect and after a reset. */
  private connecting: Promise<Producer> | undefined;
  private topicChecked = false;
  /** The last kafkajs operation, settled (never rejects): the next one starts after it. */
  private previous: Promise<void> = Promise.resolve();
  /** Records of a batch acknowledged so far (a retry continues from there) and records skipped as too large. */
  private readonly progress = new WeakMap<AlertRecordBatch, { done: number; rejected: number; oneByOne: boolean }>();
  /** A batch whose last attempt failed without a clear answer (the broker may have written it). */
  private uncertain: AlertRecordBatch | undefined;
  private failuresSinceSuccess = 0;
  private closed = false;

  constructor(
    private readonly cfg: KafkaExporterConfig,
    private readonly logger: Logger,
    private readonly createClient: CreateKafkaClient = (config) => new Kafka(config),
  ) {}

  /** Loads TLS files (a bad path fails start) and connects in the background; Kafka being down does not fail start. */
  async start(): Promise<void> {
    const c = this.cfg;
    const config: KafkaConfig = {
      clientId: c.client_id,
      brokers: c.brokers,
      connectionTimeout: Math.min(3000, Math.max(500, Math.floor(c.timeout / 4))),
      requestTimeout: c.timeout,
      enforceRequestTimeout: true,
      retry: KAFKAJS_RETRY,
      logLevel: this.logger.isLevelEnabled('debug') ? logLevel.INFO : logLevel.NOTHING,
      logCreator: () => (entry: LogEntry) => this.kafkajsLog(entry),
    };
    if (c.tls.enabled) config.ssl = await loadClientTls(c.tls);
    if (c.sasl) {
      config.sasl = saslOptions(c.sasl);
      if (c.sasl.mechanism === 'plain' && !c.tls.enabled) {
        this.logger.warn('SASL PLAIN without TLS sends the Kafka password in clear text; set tls.enabled: true or use scram-sha-512');
      }
    }
    this.kafka = this.createClient(config);
    // Connecting now makes the first alert fast; a failure is only remembered as "not connected" and the first send
    // tries again (and reports it through the helper's retry logging).
    this.connected().catch(noop);
  }

  /** One attempt at sending a queued batch (the helper's SendFn). */
  async send(batch: AlertRecordBatch, signal: AbortSignal): Promise<SendResult | void> {
    await abortable(this.previous, signal);
    const op = this.deliver(batch);
    this.previous = op.then(noop, noop);
    return abortable(op, signal);
  }

  /** Waits (bounded) for an attempt still running, then disconnects. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await withTimeout(this.previous, CLOSE_WAIT_MS);
    const connecting = this.connecting;
    this.connecting = undefined;
    const producer = connecting ? await withTimeout(connecting.catch(noop), CLOSE_WAIT_MS) : undefined;
    if (producer) await withTimeout(producer.disconnect().catch(noop), CLOSE_WAIT_MS);
  }

  private async deliver(batch: AlertRecordBatch): Promise<SendResult | void> {
    let p = this.progress.get(batch);
    if (p === undefined) {
      p = { done: 0, rejected: 0, oneByOne: false };
      this.progress.set(batch, p);
    }
    // Retried after an attempt abandoned at its timeout that then went through: nothing left to send.
    if (p.done >= batch.length) return this.result(batch);
    if (this.uncertain !== undefined && this.uncertain !== batch) {
      await this.replaceProducer('a batch whose delivery was unknown was given up; its sequence numbers must not be reused');
    }
    let producer: Producer;
    try {
      producer = await this.connected();
    } catch (err) {
      this.failed();
      throw err;
    }
    while (p.done < batch.length) {
      const n = p.oneByOne ? 1 : chunkLength(batch, p.done);
      try {
        await producer.send({
          topic: this.cfg.topic,
          acks: -1,
          timeout: this.cfg.timeout,
          compression: this.cfg.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
          messages: toMessages(batch, p.done, n),
        });
      } catch (err) {
        const type = protocolErrorType(err);
        if (type !== undefined && TOO_LARGE_ERRORS.has(type)) {
          if (n > 1) {
            p.oneByOne = true; // find the record that is too large; the others still go
          } else {
            p.rejected++;
            p.done++;
          }
          continue;
        }
        this.failed();
        if (type !== undefined && PRODUCER_STATE_ERRORS.has(type)) {
          await this.replaceProducer(`the broker answered ${type}`);
        } else {
          this.uncertain = batch;
        }
        throw this.classify(err, type);
      }
      p.done += n;
    }
    this.uncertain = undefined;
    if (this.failuresSinceSuccess > 0) {
      this.logger.info({ failedAttempts: this.failuresSinceSuccess }, 'Kafka is reachable again; sending the outbox in order');
      this.failuresSinceSuccess = 0;
    }
    return this.result(batch);
  }

  private result(batch: AlertRecordBatch): SendResult | void {
    const rejected = this.progress.get(batch)?.rejected ?? 0;
    if (rejected === 0) return;
    return {
      rejectedItems: rejected,
      rejectMessage: `the broker refused ${rejected} alert event(s) as larger than its message.max.bytes; raise message.max.bytes / max.message.bytes of topic ${this.cfg.topic}`,
    };
  }

  private failed(): void {
    this.failuresSinceSuccess++;
  }

  private connected(): Promise<Producer> {
    this.connecting ??= this.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  private async connect(): Promise<Producer> {
    const kafka = this.kafka;
    if (!kafka || this.closed) throw new RetryableError('PULSE_ERR_NOT_STARTED', 'the kafka exporter is not running');
    await this.ensureTopic(kafka);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      // murmur2 on the key, as the Java client: a fingerprint maps to the same partition whichever client wrote it.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: KAFKAJS_RETRY,
    });
    try {
      await producer.connect();
    } catch (err) {
      await withTimeout(producer.disconnect().catch(noop), CLOSE_WAIT_MS);
      throw this.classify(err, protocolErrorType(err));
    }
    if (this.closed) {
      await withTimeout(producer.disconnect().catch(noop), CLOSE_WAIT_MS);
      throw new RetryableError('PULSE_ERR_SHUTTING_DOWN', 'the kafka exporter is shutting down');
    }
    this.logger.info({ brokers: this.cfg.brokers, topic: this.cfg.topic }, 'connected to Kafka (idempotent producer, acks=all)');
    return producer;
  }

  private async replaceProducer(reason: string): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    this.uncertain = undefined;
    const old = connecting ? await connecting.catch(noop) : undefined;
    if (old) await withTimeout(old.disconnect().catch(noop), CLOSE_WAIT_MS);
    this.logger.warn({ reason }, 'replacing the Kafka producer (new producer id); events whose delivery was unknown may be written twice');
  }

  /**
   * Creates the topic when it does not exist, with the broker's defaults unless configured — what auto-creation
   * would do, for brokers where it is off. Throws only when the brokers cannot be reached (the connect fails
   * anyway); a refusal (no CREATE permission, a policy) is logged once and left to auto-creation.
   */
  private async ensureTopic(kafka: KafkaClient): Promise<void> {
    if (!this.cfg.topic_creation.enabled || this.topicChecked) return;
    const topic = this.cfg.topic;
    const admin = kafka.admin({ retry: KAFKAJS_RETRY });
    try {
      try {
        await admin.connect();
      } catch (err) {
        throw this.classify(err, protocolErrorType(err));
      }
      try {
        const topics = await admin.listTopics();
        if (!topics.includes(topic)) {
          const { numPartitions, replicationFactor } = await this.topicSettings(admin);
          const created = await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor }], waitForLeaders: true, timeout: this.cfg.timeout });
          if (created) this.logger.info({ topic, numPartitions, replicationFactor }, 'created the Kafka topic');
        }
        this.topicChecked = true;
      } catch (err) {
        if (protocolErrorType(err) === undefined) throw this.classify(err, undefined);
        this.topicChecked = true;
        this.logger.warn(
          { topic, err: describe(err) },
          'could not check or create the Kafka topic; relying on the broker to auto-create it (or create it yourself)',
        );
      }
    } finally {
      await withTimeout(admin.disconnect().catch(noop), CLOSE_WAIT_MS);
    }
  }

  private async topicSettings(admin: Admin): Promise<{ numPartitions: number; replicationFactor: number }> {
    const tc = this.cfg.topic_creation;
    if (tc.num_partitions !== undefined && tc.replication_factor !== undefined) {
      return { numPartitions: tc.num_partitions, replicationFactor: tc.replication_factor };
    }
    let brokerCount = 1;
    let partitions: number | undefined;
    let replication: number | undefined;
    try {
      const cluster = await admin.describeCluster();
      brokerCount = Math.max(1, cluster.brokers.length);
      const node = cluster.brokers[0]?.nodeId;
      if (node !== undefined) {
        const answer = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.BROKER, name: String(node), configNames: ['num.partitions', 'default.replication.factor'] }],
        });
        for (const e of answer.resources[0]?.configEntries ?? []) {
          const v = Number(e.configValue);
          if (!Number.isInteger(v) || v < 1) continue;
          if (e.configName === 'num.partitions') partitions = v;
          if (e.configName === 'default.replication.factor') replication = v;
        }
      }
    } catch (err) {
      this.logger.debug({ err: describe(err) }, 'could not read the broker defaults for a new topic; using 1 partition');
    }
    return {
      numPartitions: tc.num_partitions ?? partitions ?? 1,
      replicationFactor: tc.replication_factor ?? Math.min(replication ?? 1, brokerCount),
    };
  }

  private classify(err: unknown, type: string | undefined): PulseError {
    if (err instanceof PulseError) return err;
    const where = `Kafka ${this.cfg.brokers.join(',')} (topic ${this.cfg.topic})`;
    if ((type !== undefined && AUTH_ERRORS.has(type)) || chainHas(err, 'KafkaJSSASLAuthenticationError')) {
      return new RetryableError(
        'PULSE_ERR_KAFKA_AUTH',
        `${where} refused the producer: ${describe(err)}; check sasl credentials and ACLs (WRITE on the topic; IDEMPOTENT_WRITE on the cluster for brokers before 2.8). Alerts wait in the outbox meanwhile`,
        { cause: err },
      );
    }
    const text = describe(err);
    if (isTlsFailure(err)) {
      return new RetryableError(
        'PULSE_ERR_KAFKA_TLS',
        `${where}: the TLS handshake failed: ${text}; ${tlsHint('broker')}. Alerts wait in the outbox meanwhile`,
        { cause: err },
      );
    }
    return new RetryableError(
      'PULSE_ERR_KAFKA_UNAVAILABLE',
      `cannot write to ${where}: ${text}; alerts wait in the outbox and go out in order once it is reachable`,
      { cause: err },
    );
  }

  /** kafkajs logs are debug output only: failures reach the user through the helper's rate-limited retry logs. */
  private kafkajsLog(entry: LogEntry): void {
    const { message, ...extra } = entry.log;
    this.logger.debug({ kafkajs: entry.namespace, level: entry.label, ...extra }, message);
  }
}

/** kafkajs types each mechanism separately; the narrowing happens here. */
function saslOptions({ mechanism, username, password }: NonNullable<KafkaExporterConfig['sasl']>): SASLOptions {
  switch (mechanism) {
    case 'plain':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'scram-sha-512':
      return { mechanism, username, password };
  }
}

function toMessages(batch: AlertRecordBatch, from: number, n: number): Message[] {
  const out: Message[] = [];
  for (let i = from; i < from + n; i++) {
    const r = batch[i]!;
    out.push({ key: r.key, value: r.value, timestamp: String(Math.trunc(r.timestampMs)), headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE } });
  }
  return out;
}

/** Records from `from` that fit in one produce request (at least one). */
function chunkLength(batch: AlertRecordBatch, from: number): number {
  let bytes = 0;
  let n = 0;
  for (let i = from; i < batch.length; i++) {
    const r = batch[i]!;
    bytes += r.key.length + r.value.length + 64;
    if (n > 0 && bytes > MAX_CHUNK_BYTES) break;
    n++;
  }
  return n;
}

/** The Kafka protocol error name (e.g. `UNKNOWN_PRODUCER_ID`) anywhere in a kafkajs error's cause chain. */
function protocolErrorType(err: unknown): string | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if ((e as { name?: unknown }).name === 'KafkaJSProtocolError' && typeof type === 'string') return type;
  }
  return undefined;
}

function chainHas(err: unknown, name: string): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { name?: unknown }).name === name) return true;
  }
  return false;
}

/** `message (cause: message)`: kafkajs wraps the useful part (ECONNREFUSED) in "retries exceeded" errors. */
function describe(err: unknown): string {
  const text = errorMessage(err);
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && errorMessage(cause) !== text ? `${text} (${errorMessage(cause)})` : text;
}

/** `p`, or a rejection as soon as `signal` aborts (the operation itself goes on; see `previous`). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('the send attempt was aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('the send attempt was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** `p`'s value, or undefined after `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
