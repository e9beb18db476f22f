/**
 * A real ClickHouse server for integration tests: installed on first use (apt, needs root as on CI), started in a
 * temp dir on free 127.0.0.1 ports, queried over its HTTP interface, restartable on the same ports and data
 * (to simulate an outage), stopped by PID. Wraps scripts/infra/clickhouse-lib.mjs through detached-server.ts.
 *
 * Budget hook timeouts: the first install on a fresh machine takes ~5-10 s (apt); a start takes well under 1 s.
 */
import {
  clickHouseQuery,
  installClickHouse,
  startClickHouse,
  stopClickHouse,
  type ClickHouseServer,
  type ClickHouseTlsOptions,
} from '../../scripts/infra/clickhouse-lib.mjs';
import { installChdb, startChdb, stopChdb, type ChdbServer } from '../../scripts/infra/chdb-lib.mjs';
import { startDetachedServer, type DetachedServer } from './detached-server.js';

export interface TestClickHouse {
  /** `http://127.0.0.1:<httpPort>`; stays the same across restart(). */
  readonly url: string;
  /** With `tls`: `https://127.0.0.1:<httpsPort>`. */
  readonly httpsUrl: string | undefined;
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

/**
 * Which ClickHouse: `debian` is the real server from Debian's package (18.16, the old dialect); `current` is
 * ClickHouse 26.9's engine (chdb, scripts/infra/chdb-lib.mjs) behind a minimal HTTP layer of ours — the SQL, the
 * types in system.columns and the JSONEachRow parsing are the current release's; HTTP error details and the
 * native port are not (tcpPort and interserverPort are 0), so outage and error-path tests stay on `debian`.
 */
export type ClickHouseEngine = 'debian' | 'current';

/** `tls` (Debian's server only): also an HTTPS port, `httpsUrl`. */
export async function startTestClickHouse({ engine = 'debian', tls }: { engine?: ClickHouseEngine; tls?: ClickHouseTlsOptions } = {}): Promise<TestClickHouse> {
  const s = engine === 'current' ? await startCurrent() : await startDebian(tls);
  const { url, httpPort, tcpPort, interserverPort } = s.first;
  return {
    url,
    httpsUrl: s.first.httpsUrl,
    httpPort,
    tcpPort,
    interserverPort,
    dir: s.dir,
    get version() {
      return s.current.version;
    },
    get pid() {
      return s.current.pid;
    },
    query: (sql) => clickHouseQuery(httpPort, sql),
    stop: s.stop,
    restart: s.restart,
    close: s.close,
  };
}

async function startDebian(tls: ClickHouseTlsOptions | undefined): Promise<DetachedServer<ClickHouseServer>> {
  installClickHouse({ quiet: true });
  return startDetachedServer<ClickHouseServer>({
    tempPrefix: 'pulse-clickhouse-',
    start: (dir) => startClickHouse({ dir, tls }),
    restart: (dir, { httpPort, tcpPort, interserverPort, httpsPort }) => startClickHouse({ dir, ports: { httpPort, tcpPort, interserverPort, httpsPort }, tls }),
    stop: (dir) => stopClickHouse({ dir }),
  });
}

async function startCurrent(): Promise<DetachedServer<ClickHouseServer>> {
  installChdb({ quiet: true });
  const asServer = (c: ChdbServer): ClickHouseServer => ({ ...c, tcpPort: 0, interserverPort: 0 });
  return startDetachedServer<ClickHouseServer>({
    tempPrefix: 'pulse-chdb-',
    start: async (dir) => asServer(await startChdb({ dir })),
    restart: async (dir, { httpPort }) => asServer(await startChdb({ dir, httpPort })),
    stop: (dir) => stopChdb({ dir }),
  });
}
