/**
 * The kafka exporter's producer logic against a scripted fake kafkajs client: the broker answers a real broker
 * rarely gives on demand (record too large, unknown producer id, an answer that comes after the attempt's
 * timeout). tests/integration/kafka-exporter.test.ts covers the real broker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KafkaConfig, Message, Producer, ProducerConfig, ProducerRecord } from 'kafkajs';
import { RetryableError } from '../../../src/core/errors.js';
import { configSchema } from '../../../src/exporters/kafka/config.js';
import { KafkaAlertProducer, type KafkaClient } from '../../../src/exporters/kafka/producer.js';
import type { AlertRecordBatch } from '../../../src/exporters/kafka/records.js';
import { makeSettings } from './settings.js';

/** A kafkajs-shaped error the broker would cause. */
function protocolError(type: string): Error {
  return Object.assign(new Error(`broker says ${type}`), { name: 'KafkaJSProtocolError', type, retriable: false });
}

interface FakeProducer {
  readonly id: number;
  readonly requests: Message[][];
  disconnected: boolean;
}

/**
 * `answer(messages, producer)` decides each produce request: return to accept, throw to fail, or return a promise
 * to answer later. Records every producer made and every request.
 */
function fakeClient(answer: (messages: Message[], p: FakeProducer) => void | Promise<void>) {
  const producers: FakeProducer[] = [];
  const configs: KafkaConfig[] = [];
  const producerConfigs: ProducerConfig[] = [];
  const sendOptions: Array<Omit<ProducerRecord, 'messages'>> = [];
  const accepted: string[] = [];
  const client: KafkaClient = {
    producer: (config) => {
      producerConfigs.push(config);
      const p: FakeProducer = { id: producers.length + 1, requests: [], disconnected: false };
      producers.push(p);
      const producer = {
        connect: async () => undefined,
        disconnect: async () => {
          p.disconnected = true;
        },
        send: async (record: ProducerRecord) => {
          const { messages, ...options } = record;
          p.requests.push(messages);
          sendOptions.push(options);
          await answer(record.messages, p);
          for (const m of record.messages) accepted.push(String(m.value));
          return [];
        },
      };
      return producer as unknown as Producer;
    },
    admin: () => {
      throw new Error('topic_creation is disabled in these tests');
    },
  };
  return { producers, configs, producerConfigs, sendOptions, accepted, create: (c: KafkaConfig) => (configs.push(c), client) };
}

const cfg = configSchema.parse({ brokers: ['k:9092'], topic: 't', timeout: '2s', topic_creation: { enabled: false } });
const batch = (...values: string[]): AlertRecordBatch => values.map((v) => ({ key: `fp-${v}`, value: v, timestampMs: 1 }));
const open: KafkaAlertProducer[] = [];

async function producerWith(fake: ReturnType<typeof fakeClient>): Promise<KafkaAlertProducer & { logs: ReturnType<typeof makeSettings>['logs'] }> {
  const settings = makeSettings('/nonexistent');
  const p = new KafkaAlertProducer(cfg, settings.logger, fake.create);
  open.push(p);
  await p.start();
  return Object.assign(p, { logs: settings.logs });
}

const live = (): AbortSignal => new AbortController().signal;

afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

describe('kafka producer', () => {
  it('sends records keyed by fingerprint, with the CloudEvents content type and the event time, idempotently with acks=all', async () => {
    const fake = fakeClient(() => undefined);
    const p = await producerWith(fake);
    await p.send([{ key: 'fp-1', value: '{"a":1}', timestampMs: 1_717_243_205_000 }], live());
    const request = fake.producers[0]!.requests[0]!;
    expect(request).toEqual([{ key: 'fp-1', value: '{"a":1}', timestamp: '1717243205000', headers: { 'content-type': 'application/cloudevents+json' } }]);
    expect(fake.configs[0]).toMatchObject({ clientId: 'pulse', brokers: ['k:9092'], requestTimeout: 2000 });
    expect(fake.producerConfigs[0]).toMatchObject({ idempotent: true, maxInFlightRequests: 1 });
    expect(fake.sendOptions[0]).toMatchObject({ topic: 't', acks: -1, timeout: 2000, compression: 0 });
  });

  it('skips a record the broker refuses as too large, sends the others in order, and reports it as rejected', async () => {
    const fake = fakeClient((messages) => {
      if (messages.some((m) => String(m.value).startsWith('huge'))) throw protocolError('MESSAGE_TOO_LARGE');
    });
    const p = await producerWith(fake);
    const result = await p.send(batch('a', 'huge-b', 'c'), live());
    expect(fake.accepted).toEqual(['a', 'c']);
    expect(result).toMatchObject({ rejectedItems: 1, rejectMessage: expect.stringMatching(/message.max.bytes/) });
    // First the whole chunk, then one record at a time.
    expect(fake.producers[0]!.requests.map((r) => r.map((m) => m.value))).toEqual([['a', 'huge-b', 'c'], ['a'], ['huge-b'], ['c']]);
  });

  it('replaces the producer when the broker lost its state, and sends the same records through the new one', async () => {
    const fake = fakeClient((_messages, producer) => {
      if (producer.id === 1) throw protocolError('UNKNOWN_PRODUCER_ID');
    });
    const p = await producerWith(fake);
    const b = batch('x', 'y');
    const err = await p.send(b, live()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ code: 'PULSE_ERR_KAFKA_UNAVAILABLE' });
    expect(String((err as Error).message)).toMatch(/UNKNOWN_PRODUCER_ID/);
    expect(fake.producers[0]!.disconnected).toBe(true);
    await p.send(b, live());
    expect(fake.producers).toHaveLength(2);
    expect(fake.accepted).toEqual(['x', 'y']);
    expect(p.logs.some((l) => l.msg.startsWith('replacing the Kafka producer'))).toBe(true);
  });

  it('keeps the producer (and its sequence numbers) while the same batch is retried, and replaces it before a different batch follows one whose outcome was unknown', async () => {
    let failures = 2;
    const fake = fakeClient(() => {
      if (failures-- > 0) throw Object.assign(new Error('Request Produce timed out'), { name: 'KafkaJSRequestTimeoutError' });
    });
    const p = await producerWith(fake);
    const a = batch('a');
    await expect(p.send(a, live())).rejects.toBeInstanceOf(RetryableError);
    await expect(p.send(a, live())).rejects.toBeInstanceOf(RetryableError);
    expect(fake.producers).toHaveLength(1); // a retry of the same batch: same producer id and sequence → broker dedups
    // The helper gave up on `a` (say max_elapsed_time passed): `b` must not reuse a's sequence numbers.
    await p.send(batch('b'), live());
    expect(fake.producers).toHaveLength(2);
    expect(fake.producers[1]!.requests.map((r) => r.map((m) => m.value))).toEqual([['b']]);
  });

  it('does not start a second send while an abandoned one runs, and does not resend a batch that was delivered late', async () => {
    let release!: () => void;
    const late = new Promise<void>((r) => (release = r));
    const fake = fakeClient(() => late);
    const p = await producerWith(fake);
    const b = batch('slow');
    const ac = new AbortController();
    const first = p.send(b, ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(); // the attempt's timeout
    await expect(first).rejects.toThrow(/aborted/);
    const retry = p.send(b, live());
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.producers[0]!.requests).toHaveLength(1); // the retry waits for the abandoned send
    release(); // ...which the broker acknowledges after all
    await retry;
    expect(fake.producers[0]!.requests).toHaveLength(1);
    expect(fake.accepted).toEqual(['slow']);
  });

  it('continues a partly sent batch after the last acknowledged chunk', async () => {
    const big = 'v'.repeat(100 * 1024); // three of these exceed one 256 KiB request
    let calls = 0;
    const fake = fakeClient(() => {
      if (++calls === 2) throw Object.assign(new Error('Connection error: ECONNRESET'), { name: 'KafkaJSConnectionError' });
    });
    const p = await producerWith(fake);
    const b: AlertRecordBatch = [0, 1, 2, 3].map((i) => ({ key: `k${i}`, value: `${i}${big}`, timestampMs: 1 }));
    await expect(p.send(b, live())).rejects.toMatchObject({ code: 'PULSE_ERR_KAFKA_UNAVAILABLE' });
    await p.send(b, live());
    expect(fake.accepted.map((v) => v[0])).toEqual(['0', '1', '2', '3']);
    const sizes = fake.producers[0]!.requests.map((r) => r.length);
    expect(sizes).toEqual([2, 2, 2]); // [0,1] ok, [2,3] failed, [2,3] again
  });
});
