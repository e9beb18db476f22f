// Types for chdb-lib.mjs (a plain-JS script so it runs without a build step; TypeScript tests import it).
import type { StopResult } from './clickhouse-lib.mjs';

export const CHDB_CORE_VERSION: string;

/** What `<dir>/chdb.json` holds. */
export interface ChdbState {
  pid: number;
  httpPort: number;
  /** `SELECT version()`, e.g. "26.9.2.1". */
  version: string;
  startedInMs: number;
}

export interface ChdbServer extends ChdbState {
  dir: string;
  /** `http://127.0.0.1:<httpPort>` */
  url: string;
  stop(): Promise<StopResult>;
}

/** `$PULSE_CHDB_DIR`, else `~/.cache/pulse/chdb-core-<version>`. */
export function chdbDir(): string;
export function chdbInstalled(): boolean;
/** pip-downloads the chdb-core wheel and unpacks it into chdbDir() when missing. Idempotent. */
export function installChdb(options?: { quiet?: boolean }): { installed: boolean };
/** Starts the engine behind chdb-http.py with its data in `<dir>/data`, on `httpPort` or a free one. */
export function startChdb(options: { dir: string; httpPort?: number; timeoutMs?: number }): Promise<ChdbServer>;
export function stopChdb(options: { dir: string }): Promise<StopResult>;
export function readChdbState(dir: string): ChdbState | null;
