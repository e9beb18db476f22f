/**
 * The local test infrastructure itself: a real ClickHouse (and ClickHouse 26.9's engine, chdb, for the current
 * dialect) and a real single-node Kafka are installed (first run
 * on a fresh machine downloads them), started on free ports, used, restarted on the same ports and data to
 * simulate an outage, and stopped by PID. Other integration tests rely on exactly these behaviours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { waitFor } from '../support/net.js';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { startTestKafka, type TestKafka } from '../support/kafka.js';
import { installClickHouse, readClickHouseState, startClickHouse } from '../../scripts/infra/clickhouse-lib.mjs';
import { installKafka, readKafkaState, startKafka } from '../../scripts/infra/kafka-lib.mjs';
import { startChdb } from '../../scripts/infra/chdb-lib.mjs';

const INSTALL_TIMEOUT_MS = 300_000;

/** True when something accepts a TCP connection on 127.0.0.1:`port`. */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True while a process with this PID exists (signal 0 only checks; ESRCH means it is gone and reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local ClickHouse', () => {
  let ch: TestClickHouse;

  beforeAll(async () => {
    installClickHouse();
    ch = await startTestClickHouse();
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    await ch?.close();
  });

  it('answers SELECT version() over HTTP on 127.0.0.1', async () => {
    const version = (await ch.query('SELECT version()')).trim();
    expect(version).toMatch(/^\d+\.\d+/);
    expect(version).toBe(ch.version);
    expect(ch.url).toBe(`http://127.0.0.1:${ch.httpPort}`);
  });

  it('round-trips CREATE TABLE / INSERT / SELECT and reports SQL errors', async () => {
    await ch.query('CREATE TABLE roundtrip (d Date DEFAULT today(), id UInt32, name String) ENGINE = MergeTree() PARTITION BY d ORDER BY id');
    await ch.query("INSERT INTO roundtrip (id, name) VALUES (1, 'checkout'), (2, 'sign-up')");
    expect(await ch.query('SELECT id, name FROM roundtrip ORDER BY id FORMAT TSV')).toBe('1\tcheckout\n2\tsign-up\n');
    await expect(ch.query('SELECT no_such_column FROM roundtrip')).rejects.toThrow(/PULSE_ERR_INFRA_QUERY.*no_such_column/s);
  });

  it('restarts on the same ports with its data preserved, and the old PID is gone', async () => {
    await ch.query('CREATE TABLE survives (id UInt32) ENGINE = MergeTree() ORDER BY id');
    await ch.query('INSERT INTO survives VALUES (42)');
    const before = { pid: ch.pid, http: ch.httpPort, url: ch.url };

    await ch.stop();
    await waitFor(() => !alive(before.pid), 15_000, `old ClickHouse pid ${before.pid} to exit`);
    await expect(fetch(`${ch.url}/ping`)).rejects.toThrow();

    await ch.restart();
    expect(ch.pid).not.toBe(before.pid);
    expect(ch.httpPort).toBe(before.http);
    expect(await ch.query('SELECT id FROM survives')).toBe('42\n');
  });

  it('refuses a second server on a data dir that is in use', async () => {
    await expect(startClickHouse({ dir: ch.dir })).rejects.toThrow(/PULSE_ERR_INFRA_RUNNING/);
  });

  it('refuses ports that are already in use instead of reporting a server that is not its own', async () => {
    // ClickHouse 18.16 binds with SO_REUSEPORT: without this check a second server would look healthy because
    // the first one answers its /ping.
    const dir = mkdtempSync(join(tmpdir(), 'pulse-clickhouse-busy-'));
    try {
      const ports = { httpPort: ch.httpPort, tcpPort: ch.tcpPort, interserverPort: ch.interserverPort };
      await expect(startClickHouse({ dir, ports })).rejects.toThrow(new RegExp(`PULSE_ERR_INFRA_PORT_IN_USE: httpPort ${ch.httpPort}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails fast with the error log when the server cannot start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-clickhouse-broken-'));
    try {
      const server = await startClickHouse({ dir });
      await server.stop();
      // A file where the metadata directory should be: 18.16 exits at once (code 70). A table with an unknown
      // engine, tried before, sometimes aborted the server and sometimes let it start.
      rmSync(join(dir, 'metadata'), { recursive: true, force: true });
      writeFileSync(join(dir, 'metadata'), 'not a directory');
      await expect(startClickHouse({ dir })).rejects.toThrow(/PULSE_ERR_INFRA_START[\s\S]*exited[\s\S]*<Error> Application/);
      expect(readClickHouseState(dir)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops by PID: the process exits and the port closes', async () => {
    const pid = ch.pid;
    await ch.stop();
    await waitFor(() => !alive(pid), 15_000, `ClickHouse pid ${pid} to exit`);
    expect(await canConnect(ch.httpPort)).toBe(false);
    await ch.stop(); // idempotent
  });
});

describe('current ClickHouse (26.9 engine, chdb)', () => {
  let ch: TestClickHouse;

  beforeAll(async () => {
    ch = await startTestClickHouse({ engine: 'current' });
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    await ch?.close();
  });

  it('answers SELECT version() with a current release, over the same HTTP calls as the server', async () => {
    expect(ch.version).toMatch(/^26\.9\./);
    expect((await (await fetch(`${ch.url}/ping`)).text())).toBe('Ok.\n');
    // Statement in the URL and rows in the body, as the exporter's INSERTs are sent.
    await ch.query("CREATE TABLE rows (id UInt32, name LowCardinality(String), at DateTime64(3, 'UTC')) ENGINE = MergeTree() ORDER BY id");
    const insert = await fetch(`${ch.url}/?query=${encodeURIComponent('INSERT INTO rows FORMAT JSONEachRow')}`, {
      method: 'POST',
      body: '{"id":1,"name":"checkout","at":"2026-11-24 05:00:00.789"}\n{"id":2,"name":"sign-up","at":"2026-11-24 05:00:01.001"}\n',
    });
    expect(insert.status).toBe(200);
    expect(await ch.query('SELECT id, name, toUnixTimestamp64Milli(at) FROM rows ORDER BY id FORMAT TSV')).toBe('1\tcheckout\t1795496400789\n2\tsign-up\t1795496401001\n');
  });

  it("reports SQL errors as the server does: a 500 with ClickHouse's code and message", async () => {
    const res = await fetch(ch.url, { method: 'POST', body: 'SELECT no_such_column FROM rows' });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('47');
    expect(await res.text()).toMatch(/^Code: 47\. DB::Exception: .*no_such_column/);
  });

  it('restarts on the same port with its tables, refuses a second server on its dir, and stops by PID', async () => {
    const before = { pid: ch.pid, http: ch.httpPort };
    await expect(startChdb({ dir: ch.dir })).rejects.toThrow(/PULSE_ERR_INFRA_RUNNING/);
    await ch.restart();
    expect(ch.pid).not.toBe(before.pid);
    expect(alive(before.pid)).toBe(false);
    expect(ch.httpPort).toBe(before.http);
    expect(await ch.query('SELECT count() FROM rows')).toBe('2\n');

    const pid = ch.pid;
    await ch.stop();
    await waitFor(() => !alive(pid), 15_000, `chdb pid ${pid} to exit`);
    expect(await canConnect(ch.httpPort)).toBe(false);
    await ch.stop(); // idempotent
  });
});

describe('local Kafka', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    installKafka();
    kafka = await startTestKafka();
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    await kafka?.close();
  });

  it('accepts TCP on its 127.0.0.1 port, logs that it started and answers ApiVersions', async () => {
    expect(kafka.brokers).toBe(`127.0.0.1:${kafka.port}`);
    expect(await canConnect(kafka.port)).toBe(true);
    expect(kafka.log()).toContain('Kafka Server started');
    const apis = new Map((await kafka.apiVersions()).map((r) => [r.apiKey, r]));
    // Produce (0), Fetch (1), Metadata (3) and ApiVersions (18) down to v0 — what kafkajs 2.x negotiates from.
    for (const key of [0, 1, 3, 18]) expect(apis.get(key)?.minVersion, `api ${key}`).toBe(0);
  });

  it('restarts on the same ports with its topics preserved, and the old PID is gone', async () => {
    await waitFor(async () => (await kafka.topics(['pulse-spans'])).get('pulse-spans') === 1, 30_000, 'topic auto-creation');
    const before = { pid: kafka.pid, port: kafka.port };

    await kafka.stop();
    await waitFor(() => !alive(before.pid), 20_000, `old Kafka pid ${before.pid} to exit`);
    expect(await canConnect(kafka.port)).toBe(false);

    await kafka.restart();
    expect(kafka.pid).not.toBe(before.pid);
    expect(kafka.port).toBe(before.port);
    expect((await kafka.topics()).get('pulse-spans')).toBe(1);
  }, 60_000);

  it('refuses to format over a dir that holds data unless asked to reuse it', async () => {
    await expect(startKafka({ dir: kafka.dir })).rejects.toThrow(/PULSE_ERR_INFRA_RUNNING/);
    await kafka.stop();
    await expect(startKafka({ dir: kafka.dir })).rejects.toThrow(/PULSE_ERR_INFRA_DIR_IN_USE/);
    await kafka.restart();
    expect(await canConnect(kafka.port)).toBe(true);
  }, 60_000);

  it('refuses ports that are already in use instead of reporting a server that is not its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-kafka-busy-'));
    try {
      await expect(startKafka({ dir, ports: { port: kafka.port, controllerPort: kafka.controllerPort } })).rejects.toThrow(
        new RegExp(`PULSE_ERR_INFRA_PORT_IN_USE: port ${kafka.port}`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails fast with the broker log when it cannot start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-kafka-broken-'));
    try {
      const broker = await startKafka({ dir });
      await broker.stop();
      // Data from "another node": the broker refuses it at startup and exits.
      const meta = join(dir, 'data', 'meta.properties');
      writeFileSync(meta, readFileSync(meta, 'utf8').replace('node.id=1', 'node.id=7'));
      await expect(startKafka({ dir, reuse: true })).rejects.toThrow(/PULSE_ERR_INFRA_START[\s\S]*exited[\s\S]*Stored node id 7 doesn't match/);
      expect(readKafkaState(dir)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops by PID: the JVM exits and the port closes', async () => {
    const pid = kafka.pid;
    await kafka.stop();
    await waitFor(() => !alive(pid), 20_000, `Kafka pid ${pid} to exit`);
    expect(await canConnect(kafka.port)).toBe(false);
  }, 30_000);
});
