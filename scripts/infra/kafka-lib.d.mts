// Types for kafka-lib.mjs (a plain-JS script so it runs without a build step; TypeScript tests import it).

export interface KafkaPorts {
  /** The PLAINTEXT broker listener clients connect to. */
  port: number;
  /** The KRaft CONTROLLER listener. */
  controllerPort: number;
  /** With `sasl`: the SASL_PLAINTEXT listener. */
  saslPort?: number;
  /** With `tls`: the SSL listener. */
  sslPort?: number;
  /** With both `sasl` and `tls`: the SASL_SSL listener (no client certificate asked). */
  saslSslPort?: number;
}

/** An SSL listener next to PLAINTEXT, with these PEM files (the broker's key and chain in one; the CA in the other). */
export interface KafkaTlsOptions {
  /** PKCS#8 private key (unencrypted) followed by the certificate chain. */
  keystoreFile: string;
  /** CA certificate(s) that sign client certificates. */
  truststoreFile: string;
  /** `required`: clients must present a certificate signed by the truststore's CA. Default `none`. */
  clientAuth?: 'none' | 'requested' | 'required';
}

/** A SASL_PLAINTEXT listener next to PLAINTEXT, taking these users over PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. */
export interface KafkaSaslOptions {
  /** Names and passwords are [A-Za-z0-9._-]+. */
  users: Array<{ name: string; password: string }>;
}

/** What `<dir>/kafka.json` holds. */
export interface KafkaState extends KafkaPorts {
  pid: number;
  /** `127.0.0.1:<port>`, for a client's `brokers` list. */
  brokers: string;
  /** With `sasl`: `127.0.0.1:<saslPort>` and the mechanisms it takes. */
  saslBrokers?: string;
  saslMechanisms?: string[];
  /** With `tls`: `127.0.0.1:<sslPort>`. */
  sslBrokers?: string;
  /** With both: `127.0.0.1:<saslSslPort>`. */
  saslSslBrokers?: string;
  /** The Kafka release the jars are from, e.g. "3.9.1". */
  version: string;
  startedInMs: number;
}

export interface KafkaBroker extends KafkaState {
  dir: string;
  /** The broker's stdout/stderr (log4j console output). */
  logFile: string;
  /** SIGTERM, SIGKILL after 20 s; removes kafka.json. Idempotent. */
  stop(): Promise<StopResult>;
}

export interface StopResult {
  pid: number | null;
  killed: boolean;
}

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

export const KAFKA_VERSION: string;

/** `$PULSE_KAFKA_LIBS`, else `~/.cache/pulse/kafka-<version>/libs`. */
export function kafkaLibsDir(): string;
export function kafkaInstalled(libs?: string): boolean;

/** Downloads the broker's jars with mvn into kafkaLibsDir(); idempotent and fast when cached. */
export function installKafka(options?: { quiet?: boolean }): { installed: boolean; libs: string };

/**
 * Starts a single KRaft node in `dir`. A fresh dir is formatted; `reuse: true` restarts a dir that holds data
 * (without it such a dir is refused). Missing ports are picked free. Resolves when the log says
 * "Kafka Server started" and ApiVersions is answered; rejects with the log tail after `timeoutMs` (default 90 s).
 */
export function startKafka(options: { dir: string; ports?: { [K in keyof KafkaPorts]?: KafkaPorts[K] | undefined }; reuse?: boolean; sasl?: KafkaSaslOptions | undefined; tls?: KafkaTlsOptions | undefined; timeoutMs?: number }): Promise<KafkaBroker>;

export function stopKafka(options: { dir: string }): Promise<StopResult>;

export function readKafkaState(dir: string): KafkaState | null;

/** One raw request (non-flexible versions) on a fresh connection; resolves the response body after the correlation id. */
export function kafkaRequest(port: number, request: { apiKey: number; apiVersion: number; body?: Buffer; timeoutMs?: number }): Promise<Buffer>;

/** ApiVersions v0. */
export function kafkaApiVersions(port: number, timeoutMs?: number): Promise<ApiVersionRange[]>;
