/**
 * Reads everything on a topic of the test broker, from the beginning, with a kafkajs consumer in its own group, so
 * tests see exactly what a consumer of the alert topic sees (key, headers, partition, value).
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Consumer } from 'kafkajs';

export interface ReadMessage {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly headers: Record<string, string>;
  readonly value: string;
}

export interface TopicReader {
  /** Everything read so far, in the order received (per partition: offset order). */
  readonly messages: ReadMessage[];
  /** Resolves once at least `n` messages were read (rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function readTopic(brokers: string, topic: string): Promise<TopicReader> {
  const kafka = new kafkajs.Kafka({ clientId: 'pulse-test-reader', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: `pulse-test-${randomUUID()}`, sessionTimeout: 6000, heartbeatInterval: 500 });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
      messages.push({
        partition,
        offset: Number(message.offset),
        key: message.key?.toString('utf8') ?? '',
        headers,
        value: message.value?.toString('utf8') ?? '',
      });
    },
  });
  return {
    messages,
    async waitFor(n, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > end) throw new Error(`read ${messages.length} of ${n} messages from ${topic} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => consumer.disconnect(),
  };
}
