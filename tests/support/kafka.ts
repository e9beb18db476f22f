/**
 * A real single-node Kafka broker for integration tests: jars fetched with Maven on first use (cached in
 * ~/.cache/pulse, or $PULSE_KAFKA_LIBS), started in a temp dir on free 127.0.0.1 ports, restartable on the same
 * ports and data (to simulate an outage), stopped by PID. Wraps scripts/infra/kafka-lib.mjs through detached-server.ts.
 *
 * No client library is needed here: readiness and the helpers below speak the Kafka wire protocol directly.
 * Clients must use `brokers` (127.0.0.1, never `localhost`, which may resolve to ::1).
 * Budget hook timeouts: a cold jar download takes ~5-10 s, a start ~2-3 s (JVM) on a 2-core machine.
 */
import { readFileSync } from 'node:fs';
import {
  installKafka,
  kafkaApiVersions,
  kafkaRequest,
  startKafka,
  stopKafka,
  type ApiVersionRange,
  type KafkaBroker,
  type KafkaSaslOptions,
  type KafkaTlsOptions,
} from '../../scripts/infra/kafka-lib.mjs';
import { startDetachedServer } from './detached-server.js';

export interface TestKafka {
  /** `127.0.0.1:<port>`; stays the same across restart(). */
  readonly brokers: string;
  /** With `sasl`: the SASL_PLAINTEXT listener's `127.0.0.1:<port>`. */
  readonly saslBrokers: string | undefined;
  /** With `tls`: the SSL listener's `127.0.0.1:<port>`. */
  readonly sslBrokers: string | undefined;
  /** With both: the SASL_SSL listener's `127.0.0.1:<port>`. */
  readonly saslSslBrokers: string | undefined;
  readonly port: number;
  readonly controllerPort: number;
  /** PID of the current broker JVM (changes on restart()). */
  readonly pid: number;
  readonly dir: string;
  /** Kafka release, e.g. "3.9.1". */
  readonly version: string;
  /** Everything the broker logged so far (all runs in this dir). */
  log(): string;
  /** ApiVersions v0 straight over the wire. */
  apiVersions(): Promise<ApiVersionRange[]>;
  /**
   * Metadata v1: topics (name → partition count) known to the broker. Naming topics asks the broker to
   * auto-create missing ones (auto.create.topics.enable=true); a topic still being created is left out.
   */
  topics(names?: readonly string[]): Promise<Map<string, number>>;
  /** Stops the broker (SIGTERM, SIGKILL after 20 s). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir, keeping topics (stopping it first if running). */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  close(): Promise<void>;
}

/**
 * `sasl`: also a SASL_PLAINTEXT listener taking these users over PLAIN and SCRAM-SHA-256/512 (`saslBrokers`);
 * `tls`: also an SSL listener with these PEM files (`sslBrokers`); both: also SASL_SSL (`saslSslBrokers`).
 */
export async function startTestKafka({ sasl, tls }: { sasl?: KafkaSaslOptions; tls?: KafkaTlsOptions } = {}): Promise<TestKafka> {
  installKafka({ quiet: true });
  const s = await startDetachedServer<KafkaBroker>({
    tempPrefix: 'pulse-kafka-',
    start: (dir) => startKafka({ dir, sasl, tls }),
    restart: (dir, { port, controllerPort, saslPort, sslPort, saslSslPort }) =>
      startKafka({ dir, ports: { port, controllerPort, saslPort, sslPort, saslSslPort }, reuse: true, sasl, tls }),
    stop: (dir) => stopKafka({ dir }),
  });
  const { brokers, port, controllerPort, version } = s.first;
  return {
    brokers,
    saslBrokers: s.first.saslBrokers,
    sslBrokers: s.first.sslBrokers,
    saslSslBrokers: s.first.saslSslBrokers,
    port,
    controllerPort,
    dir: s.dir,
    version,
    get pid() {
      return s.current.pid;
    },
    log: () => readFileSync(s.current.logFile, 'utf8'),
    apiVersions: () => kafkaApiVersions(port),
    topics: (names) => metadataTopics(port, names),
    stop: s.stop,
    restart: s.restart,
    close: s.close,
  };
}

/** Metadata v1 request/response (KIP-4 layout), read just far enough to list topics with error code 0. */
async function metadataTopics(port: number, names?: readonly string[]): Promise<Map<string, number>> {
  const parts: Buffer[] = [int32(names === undefined ? -1 : names.length)];
  for (const name of names ?? []) parts.push(string(name));
  const body = await kafkaRequest(port, { apiKey: 3, apiVersion: 1, body: Buffer.concat(parts) });
  const r = new Reader(body);
  for (let brokers = r.int32(); brokers > 0; brokers--) {
    r.int32(); // node_id
    r.string(); // host
    r.int32(); // port
    r.string(); // rack (nullable)
  }
  r.int32(); // controller_id
  const topics = new Map<string, number>();
  for (let count = r.int32(); count > 0; count--) {
    const errorCode = r.int16();
    const name = r.string();
    r.int8(); // is_internal
    let partitions = 0;
    for (let p = r.int32(); p > 0; p--, partitions++) {
      r.int16(); // error_code
      r.int32(); // partition_index
      r.int32(); // leader_id
      r.skipInt32Array(); // replica_nodes
      r.skipInt32Array(); // isr_nodes
    }
    if (errorCode === 0 && name !== null) topics.set(name, partitions);
  }
  return topics;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function string(s: string): Buffer {
  const bytes = Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  int8(): number {
    return this.buf.readInt8((this.at += 1) - 1);
  }
  int16(): number {
    return this.buf.readInt16BE((this.at += 2) - 2);
  }
  int32(): number {
    return this.buf.readInt32BE((this.at += 4) - 4);
  }
  string(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const s = this.buf.toString('utf8', this.at, this.at + len);
    this.at += len;
    return s;
  }
  skipInt32Array(): void {
    const n = this.int32();
    this.at += Math.max(0, n) * 4;
  }
}
