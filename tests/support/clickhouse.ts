/**
 * A real ClickHouse server for integration tests: installed on first use (apt, needs root as on CI), started in a
 * temp dir on free 127.0.0.1 ports, queried over its HTTP interface, restartable on the same ports and data
 * (to simulate an outage), stopped by PID. Wraps scripts/infra/clickhouse-lib.mjs.
 *
 * Budget hook timeouts: the first install on a fresh machine takes ~5-10 s (apt); a start takes well under 1 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clickHouseQuery, installClickHouse, startClickHouse, stopClickHouse, type ClickHouseServer } from '../../scripts/infra/clickhouse-lib.mjs';

/**
 * PIDs of servers started through this module and not yet stopped. The servers run detached (so the CLI can
 * leave them running), so a test process that ends without calling close() — a crash, a timeout — would
 * leave them behind; this exit hook kills them.
 */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export interface TestClickHouse {
  /** `http://127.0.0.1:<httpPort>`; stays the same across restart(). */
  readonly url: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly interserverPort: number;
  /** `SELECT version()` of the running server, e.g. "18.16.1". */
  readonly version: string;
  /** PID of the current server process (changes on restart()). */
  readonly pid: number;
  readonly dir: string;
  /** Runs SQL over HTTP (POST body) and resolves the raw response text; rejects with the server's message. */
  query(sql: string): Promise<string>;
  /** Stops the server (SIGTERM, SIGKILL after 15 s). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir (stopping it first if running). */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  close(): Promise<void>;
}

export async function startTestClickHouse(): Promise<TestClickHouse> {
  installClickHouse({ quiet: true });
  const dir = mkdtempSync(join(tmpdir(), 'pulse-clickhouse-'));
  let server: ClickHouseServer;
  try {
    server = await startClickHouse({ dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  running.add(server.pid);
  const ports = { httpPort: server.httpPort, tcpPort: server.tcpPort, interserverPort: server.interserverPort };
  const stop = async (): Promise<void> => {
    const { pid } = await stopClickHouse({ dir });
    if (pid !== null) running.delete(pid);
  };
  return {
    url: server.url,
    httpPort: ports.httpPort,
    tcpPort: ports.tcpPort,
    interserverPort: ports.interserverPort,
    dir,
    get version() {
      return server.version;
    },
    get pid() {
      return server.pid;
    },
    query: (sql) => clickHouseQuery(ports.httpPort, sql),
    stop,
    async restart() {
      await stop();
      server = await startClickHouse({ dir, ports });
      running.add(server.pid);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
