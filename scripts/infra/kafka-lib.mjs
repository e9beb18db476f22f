// A real single-node Apache Kafka (KRaft: broker + controller in one JVM) for tests, the demo and CI: jars from
// Maven Central via a throwaway pom, run as a detached `java` process on free loopback ports, stopped by PID.
// Types: kafka-lib.d.mts. CLI: kafka.mjs. Notes and measured timings: README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createConnection } from 'node:net';
import {
  HOST,
  assertPortsFree,
  fileSize,
  isListening,
  isRunning,
  pollUntil,
  readFrom,
  readState,
  spawnDetached,
  startFailure,
  startOnPorts,
  stopRecorded,
  withInstallLock,
  writeState,
} from './process-control.mjs';

export const KAFKA_VERSION = process.env.PULSE_KAFKA_VERSION ?? '3.9.1';
const SCALA_VERSION = '2.13';
// kafka_2.13's published POM brings slf4j-api but no logging backend: without these the broker prints nothing.
const LOGGING_DEPENDENCIES = [
  ['org.slf4j', 'slf4j-reload4j', '1.7.36'],
  ['ch.qos.reload4j', 'reload4j', '1.2.25'],
];
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1';
const COMPLETE_MARKER = '.pulse-complete';
const STATE_FILE = 'kafka.json';
/**
 * What the command line of the broker of `dir` (absolute) holds, and no other broker's (its config file): a PID
 * recorded in a state file may belong to another process once that broker is gone (see clickhouse-lib.mjs).
 */
const instanceMarker = (dir) => join(dir, 'server.properties');
const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;
const READY_LINE = 'Kafka Server started';
const JVM_FLAGS = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35', '-Djava.awt.headless=true'];

const log = (msg) => process.stderr.write(`[infra/kafka] ${msg}\n`);

/** Where the jars are cached: `$PULSE_KAFKA_LIBS`, else `~/.cache/pulse/kafka-<version>/libs`. */
export function kafkaLibsDir() {
  return resolve(process.env.PULSE_KAFKA_LIBS ?? join(homedir(), '.cache', 'pulse', `kafka-${KAFKA_VERSION}`, 'libs'));
}

/** True when the cache holds a complete jar set (every jar listed in its marker file is present). */
export function kafkaInstalled(libs = kafkaLibsDir()) {
  const marker = join(libs, COMPLETE_MARKER);
  if (!existsSync(marker)) return false;
  const jars = readFileSync(marker, 'utf8').split('\n').filter(Boolean);
  return jars.length > 0 && jars.every((jar) => existsSync(join(libs, jar)));
}

function pom() {
  const deps = [['org.apache.kafka', `kafka_${SCALA_VERSION}`, KAFKA_VERSION], ...LOGGING_DEPENDENCIES]
    .map(([g, a, v]) => `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.pulse.infra</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${deps}
  </dependencies>
</project>
`;
}

/**
 * Downloads the Kafka broker's runtime jars with Maven into `kafkaLibsDir()`. Idempotent: returns
 * `{ installed: false, libs }` at once when the cache is complete. The jars are copied into a sibling temp dir
 * and renamed into place, so an interrupted install never leaves a cache that looks complete; concurrent
 * installers (parallel test workers) serialise on a lock. Maven's own ~/.m2 is filled as a side effect.
 */
export function installKafka({ quiet = false } = {}) {
  const libs = kafkaLibsDir();
  if (kafkaInstalled(libs)) {
    if (!quiet) log(`Kafka ${KAFKA_VERSION} jars already cached in ${libs}`);
    return { installed: false, libs };
  }
  return withInstallLock(`kafka-${KAFKA_VERSION}`, () => {
    // Another worker may have filled the cache while we waited for the lock.
    if (kafkaInstalled(libs)) {
      if (!quiet) log(`Kafka ${KAFKA_VERSION} jars were cached by another installer meanwhile (${libs})`);
      return { installed: false, libs };
    }
    return mavenInstall(libs);
  });
}

function mavenInstall(libs) {
  mkdirSync(dirname(libs), { recursive: true });
  const work = mkdtempSync(join(dirname(libs), '.install-'));
  try {
    writeFileSync(join(work, 'pom.xml'), pom());
    const out = join(work, 'libs');
    const args = ['-B', '-q', '-Dstyle.color=never', '-f', join(work, 'pom.xml'), `${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${out}`];
    log(`downloading Kafka ${KAFKA_VERSION} jars: mvn ${args.join(' ')}`);
    const res = spawnSync('mvn', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.error) throw new Error(`PULSE_ERR_INFRA_INSTALL: could not run mvn (${res.error.message}); install Maven (apt-get install -y maven)`);
    if (res.status !== 0) throw new Error(`PULSE_ERR_INFRA_INSTALL: mvn failed (exit ${res.status}) resolving Kafka ${KAFKA_VERSION}; see its output above`);
    const jars = readdirSync(out).filter((f) => f.endsWith('.jar')).sort();
    if (!jars.some((j) => j.startsWith(`kafka_${SCALA_VERSION}-${KAFKA_VERSION}`))) {
      throw new Error(`PULSE_ERR_INFRA_INSTALL: mvn finished but kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar is not among the ${jars.length} jars`);
    }
    writeFileSync(join(out, COMPLETE_MARKER), `${jars.join('\n')}\n`);
    rmSync(libs, { recursive: true, force: true });
    renameSync(out, libs);
    log(`cached ${jars.length} jars in ${libs}`);
    return { installed: true, libs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** SASL mechanisms of the optional SASL_PLAINTEXT listener (`sasl` option of startKafka). */
const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];

/** A user name or password as written into server.properties and StorageTool's --add-scram (kept simple). */
function checkSaslUsers(users) {
  if (!Array.isArray(users) || users.length === 0) throw new Error('PULSE_ERR_INFRA_ARGS: sasl needs { users: [{ name, password }, …] }');
  for (const u of users) {
    for (const v of [u.name, u.password]) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9._-]+$/.test(v)) throw new Error(`PULSE_ERR_INFRA_ARGS: SASL user names and passwords here are [A-Za-z0-9._-]+, got ${JSON.stringify(v)}`);
    }
  }
}

/**
 * The listener lines: PLAINTEXT (clients, and between broker and controller) plus, with `sasl`, a SASL_PLAINTEXT
 * listener on `saslPort` that takes PLAIN (users in its JAAS line) and SCRAM-SHA-256/512 (credentials written
 * into the metadata log by StorageTool format --add-scram).
 */
function listenerProperties({ port, controllerPort, saslPort, sslPort, saslSslPort }, sasl, tls) {
  const listeners = [`PLAINTEXT://${HOST}:${port}`];
  const protocols = ['CONTROLLER:PLAINTEXT', 'PLAINTEXT:PLAINTEXT'];
  const extra = [];
  const saslLines = (listener) => {
    const plainUsers = sasl.users.map((u) => `user_${u.name}="${u.password}"`).join(' ');
    return [
      `listener.name.${listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
      `listener.name.${listener}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
      `listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    ];
  };
  // PEM files, no JKS: the key (PKCS#8, unencrypted) and certificate chain in one file, the CA in another.
  const tlsLines = (listener, clientAuth) => [
    `listener.name.${listener}.ssl.keystore.type=PEM`,
    `listener.name.${listener}.ssl.keystore.location=${tls.keystoreFile}`,
    `listener.name.${listener}.ssl.truststore.type=PEM`,
    `listener.name.${listener}.ssl.truststore.location=${tls.truststoreFile}`,
    `listener.name.${listener}.ssl.client.auth=${clientAuth}`,
  ];
  if (sasl) {
    listeners.push(`SASL_PLAINTEXT://${HOST}:${saslPort}`);
    protocols.push('SASL_PLAINTEXT:SASL_PLAINTEXT');
    extra.push(`sasl.enabled.mechanisms=${SASL_MECHANISMS.join(',')}`, ...saslLines('sasl_plaintext'));
  }
  if (tls) {
    listeners.push(`SSL://${HOST}:${sslPort}`);
    protocols.push('SSL:SSL');
    extra.push(...tlsLines('ssl', tls.clientAuth ?? 'none'));
  }
  if (sasl && tls) {
    // Both: also SASL over TLS, the usual production setup (SASL authenticates, so no client certificate).
    listeners.push(`SASL_SSL://${HOST}:${saslSslPort}`);
    protocols.push('SASL_SSL:SASL_SSL');
    extra.push(...saslLines('sasl_ssl'), ...tlsLines('sasl_ssl', 'none'));
  }
  return [
    `listeners=${[...listeners, `CONTROLLER://${HOST}:${controllerPort}`].join(',')}`,
    `advertised.listeners=${listeners.join(',')}`,
    `listener.security.protocol.map=${protocols.join(',')}`,
    ...extra,
  ].join('\n');
}

function serverProperties(dir, ports, sasl, tls) {
  const { controllerPort } = ports;
  return `# Written by scripts/infra/kafka-lib.mjs: a single KRaft node (broker + controller) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${controllerPort}
${listenerProperties(ports, sasl, tls)}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${dir}/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
`;
}

function log4jProperties() {
  return `# Written by scripts/infra/kafka-lib.mjs: warnings to stdout, plus the broker's "started" line.
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
`;
}

function java(libs, dir, mainClass, args) {
  return ['java', [...JVM_FLAGS, `-Dlog4j.configuration=file:${dir}/log4j.properties`, '-cp', `${libs}/*`, mainClass, ...args]];
}

/** Runs `kafka.tools.StorageTool <args>` (a short-lived JVM) and returns its stdout; throws with its output on failure. */
function storageTool(libs, dir, args) {
  const [cmd, javaArgs] = java(libs, dir, 'kafka.tools.StorageTool', args);
  const res = spawnSync(cmd, javaArgs, { encoding: 'utf8', timeout: 60_000 });
  if (res.status !== 0) {
    const why = res.error ? res.error.message : `exit ${res.status}`;
    throw new Error(`PULSE_ERR_INFRA_START: kafka StorageTool ${args[0]} failed (${why}) for ${dir}:\n${res.stdout ?? ''}${res.stderr ?? ''}`);
  }
  return res.stdout;
}

/** Reads `<dir>/kafka.json` (null when absent). */
export function readKafkaState(dir) {
  return readState(resolve(dir), STATE_FILE);
}

/**
 * Starts a single-node Kafka whose config, data and log live in `dir`. Ports not given are picked free.
 * A fresh dir is formatted with a new cluster id; with `reuse: true` a dir that already holds formatted data is
 * started as is (same topics and offsets: stop + start with the same ports simulates an outage). Without
 * `reuse`, a dir with data is refused. Resolves once the log says "Kafka Server started" and the broker answers
 * an ApiVersions request on its port; writes `<dir>/kafka.json`.
 */
export async function startKafka({ dir, ports = {}, reuse = false, sasl, tls, timeoutMs = START_TIMEOUT_MS } = {}) {
  if (!dir) throw new Error('PULSE_ERR_INFRA_ARGS: startKafka needs { dir }');
  if (sasl) checkSaslUsers(sasl.users);
  if (tls && !(tls.keystoreFile && tls.truststoreFile)) throw new Error('PULSE_ERR_INFRA_ARGS: tls needs { keystoreFile, truststoreFile } (PEM)');
  const libs = kafkaLibsDir();
  if (!kafkaInstalled(libs)) throw new Error(`PULSE_ERR_INFRA_NOT_INSTALLED: no Kafka jars in ${libs}; run \`node scripts/infra/kafka.mjs install\``);
  dir = resolve(dir);
  const previous = readKafkaState(dir);
  if (previous && isRunning(previous.pid, instanceMarker(dir))) {
    throw new Error(`PULSE_ERR_INFRA_RUNNING: a Kafka broker (pid ${previous.pid}) already uses ${dir}; stop it first`);
  }
  const formatted = existsSync(join(dir, 'data', 'meta.properties'));
  if (formatted && !reuse) {
    throw new Error(`PULSE_ERR_INFRA_DIR_IN_USE: ${dir} already holds Kafka data; pass reuse: true (--reuse) to start it again, or use an empty dir`);
  }
  // The ports this broker needs: PLAINTEXT and CONTROLLER always, SASL_PLAINTEXT and SSL when asked for.
  const keys = ['port', 'controllerPort', ...(sasl ? ['saslPort'] : []), ...(tls ? ['sslPort'] : []), ...(sasl && tls ? ['saslSslPort'] : [])];
  return startOnPorts({
    keys,
    ports,
    startOnce: (picked) => startOnce(libs, dir, picked, sasl, tls, timeoutMs),
    log,
    // A fresh dir was formatted for the ports that failed: wiped, so the retry formats it for the new ones.
    beforeRetry: () => {
      if (!formatted) rmSync(join(dir, 'data'), { recursive: true, force: true });
    },
  });
}

async function startOnce(libs, dir, ports, sasl, tls, timeoutMs) {
  const { port, controllerPort, saslPort, sslPort, saslSslPort } = ports;
  await assertPortsFree(ports);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'server.properties'), serverProperties(dir, ports, sasl, tls));
  writeFileSync(join(dir, 'log4j.properties'), log4jProperties());
  const logFile = join(dir, 'kafka.log');

  const started = Date.now();
  if (!existsSync(join(dir, 'data', 'meta.properties'))) {
    const clusterId = storageTool(libs, dir, ['random-uuid']).trim();
    // SCRAM credentials live in the metadata log: written at format time (a restart with reuse keeps them).
    const scram = (sasl?.users ?? []).flatMap((u) =>
      ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.name},password=${u.password}]`]),
    );
    storageTool(libs, dir, ['format', '-t', clusterId, '-c', join(dir, 'server.properties'), ...scram]);
  }
  // A restart appends to the same log: only what this run writes counts (an old "started" line must not).
  const logOffset = fileSize(logFile);
  const thisRun = () => readFrom(logFile, logOffset);
  const [cmd, args] = java(libs, dir, 'kafka.Kafka', [join(dir, 'server.properties')]);
  const child = spawnDetached(cmd, args, { logFile, cwd: dir, env: process.env });
  await pollUntil(async () => thisRun().includes(READY_LINE) && isListening(child.pid, port) && (await kafkaApiVersions(port)).length > 0, {
    timeoutMs,
    intervalMs: 200,
    failed: () => child.exitDescription(),
    makeError: (reason) =>
      startFailure(child, { name: `Kafka (pid ${child.pid}, port ${port})`, reason, logFile, text: thisRun(), lines: 20, important: /\b(ERROR|FATAL)\b/ }),
  });
  const state = {
    pid: child.pid,
    port,
    controllerPort,
    brokers: `${HOST}:${port}`,
    ...(sasl ? { saslPort, saslBrokers: `${HOST}:${saslPort}`, saslMechanisms: SASL_MECHANISMS } : {}),
    ...(tls ? { sslPort, sslBrokers: `${HOST}:${sslPort}` } : {}),
    ...(sasl && tls ? { saslSslPort, saslSslBrokers: `${HOST}:${saslSslPort}` } : {}),
    version: KAFKA_VERSION,
    startedInMs: Date.now() - started,
  };
  writeState(dir, STATE_FILE, state);
  return { ...state, dir, logFile, stop: () => stopKafka({ dir }) };
}

/**
 * Stops the broker recorded in `<dir>/kafka.json`: SIGTERM (a clean controlled shutdown), SIGKILL after 20 s.
 * Removes the json. Resolves `{ pid, killed }` (pid null when nothing was recorded). Safe to call twice.
 */
export async function stopKafka({ dir }) {
  dir = resolve(dir);
  const { pid, killed } = await stopRecorded({ dir, stateFile: STATE_FILE, marker: instanceMarker(dir), graceMs: STOP_GRACE_MS });
  return { pid, killed };
}

/**
 * Sends one Kafka request (non-flexible versions only: request header v1, response header v0) to
 * 127.0.0.1:`port` on a fresh connection and resolves the response body after the correlation id. Enough to
 * probe a broker without a client library; rejects on timeout, connection errors or a mismatched correlation id.
 */
export function kafkaRequest(port, { apiKey, apiVersion, body = Buffer.alloc(0), timeoutMs = 5000 }) {
  const clientId = Buffer.from('pulse-infra');
  const header = Buffer.alloc(10 + clientId.length);
  const correlationId = Math.floor(Math.random() * 0x7fffffff);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  clientId.copy(header, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length);
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection({ host: HOST, port });
    let received = Buffer.alloc(0);
    const finish = (err, value) => {
      socket.destroy();
      if (err) reject(err);
      else resolvePromise(value);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`PULSE_ERR_INFRA_KAFKA: no answer from ${HOST}:${port} within ${timeoutMs} ms`)));
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => socket.write(Buffer.concat([size, header, body])));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      if (received.readInt32BE(4) !== correlationId) return finish(new Error('PULSE_ERR_INFRA_KAFKA: correlation id mismatch'));
      finish(null, received.subarray(8, 4 + received.readInt32BE(0)));
    });
    socket.once('end', () => finish(new Error(`PULSE_ERR_INFRA_KAFKA: ${HOST}:${port} closed the connection without a full answer`)));
  });
}

/**
 * ApiVersions v0: the `{ apiKey, minVersion, maxVersion }` ranges the broker supports. Rejects when the broker
 * answers with an error code (e.g. while it is still starting).
 */
export async function kafkaApiVersions(port, timeoutMs = 2000) {
  const body = await kafkaRequest(port, { apiKey: 18, apiVersion: 0, timeoutMs });
  const errorCode = body.readInt16BE(0);
  if (errorCode !== 0) throw new Error(`PULSE_ERR_INFRA_KAFKA: ApiVersions answered error code ${errorCode}`);
  const count = body.readInt32BE(2);
  const ranges = [];
  for (let i = 0, at = 6; i < count; i++, at += 6) {
    ranges.push({ apiKey: body.readInt16BE(at), minVersion: body.readInt16BE(at + 2), maxVersion: body.readInt16BE(at + 4) });
  }
  return ranges;
}
