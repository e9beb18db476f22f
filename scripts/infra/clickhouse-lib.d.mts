// Types for clickhouse-lib.mjs (a plain-JS script so it runs without a build step; TypeScript tests import it).

/** Ports of one ClickHouse server; all three must be free (a second server on the default 9009 fails). */
export interface ClickHousePorts {
  httpPort: number;
  tcpPort: number;
  interserverPort: number;
}

/** An HTTPS port next to HTTP, from PEM files; with `caFile` the server requires a client certificate signed by it. */
export interface ClickHouseTlsOptions {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

/** What `<dir>/clickhouse.json` holds. */
export interface ClickHouseState extends ClickHousePorts {
  pid: number;
  /** With `tls`: the HTTPS port and `https://127.0.0.1:<httpsPort>`. */
  httpsPort?: number;
  httpsUrl?: string;
  /** `SELECT version()`, e.g. "18.16.1" for Debian bookworm's package. */
  version: string;
  startedInMs: number;
}

export interface ClickHouseServer extends ClickHouseState {
  dir: string;
  /** `http://127.0.0.1:<httpPort>` */
  url: string;
  /** SIGTERM, SIGKILL after 15 s; removes clickhouse.json. Idempotent. */
  stop(): Promise<StopResult>;
}

export interface StopResult {
  /** null when nothing was recorded in the dir. */
  pid: number | null;
  /** true when SIGTERM was not enough. */
  killed: boolean;
}

export const CLICKHOUSE_CONFIG: string;

export function clickHouseInstalled(): boolean;
export function serverCommand(): { file: string; prefix: string[] } | null;

/** apt-get installs clickhouse-server and clickhouse-client when missing (needs root). Idempotent and fast when present. */
export function installClickHouse(options?: { quiet?: boolean }): { installed: boolean };

/**
 * Starts a server with its data in `dir` (reused when it already holds data). Missing ports are picked free.
 * Resolves when /ping answers; rejects with the tail of the error log after `timeoutMs` (default 60 s).
 */
export function startClickHouse(options: {
  dir: string;
  ports?: { [K in keyof ClickHousePorts | 'httpsPort']?: number | undefined };
  tls?: ClickHouseTlsOptions | undefined;
  timeoutMs?: number;
}): Promise<ClickHouseServer>;

export function stopClickHouse(options: { dir: string }): Promise<StopResult>;

export function readClickHouseState(dir: string): ClickHouseState | null;

/** POSTs `sql` to the HTTP interface; resolves the body, rejects with the server's message on a non-2xx answer. */
export function clickHouseQuery(httpPort: number, sql: string, options?: { timeoutMs?: number }): Promise<string>;
