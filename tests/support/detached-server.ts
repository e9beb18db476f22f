/**
 * What clickhouse.ts and kafka.ts share: a real server started through scripts/infra in a fresh temp dir, stopped,
 * restarted on the same ports and data, and closed (stopped, dir removed), with every PID it started killed when
 * the test process exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTime } from '../../scripts/infra/process-control.mjs';

/**
 * Servers started through this module and not yet stopped: PID → the process's start time. The servers run
 * detached (so the CLI can leave them running), so a test process that ends without calling close() — a crash, a
 * timeout — would leave them behind; this exit hook kills them.
 *
 * Only if the PID is still the same process: one that died on its own stays listed, and PIDs come round again
 * quickly here (`pid_max` 32768, and every JVM and ClickHouse thread takes one), so a bare `kill(pid)` at exit
 * could hit a server another test file had just started (a ClickHouse killed within milliseconds of its start,
 * with nothing in its logs, was seen in CI).
 */
const running = new Map<number, string | null>();
process.once('exit', () => {
  for (const [pid, started] of running) {
    if (started === null || startTime(pid) !== started) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** How to drive one kind of server (the scripts/infra library functions). */
export interface DetachedServerControl<S extends { readonly pid: number }> {
  /** Prefix of the temp dir's name, e.g. `pulse-kafka-`. */
  readonly tempPrefix: string;
  /** Starts a server in the fresh, empty `dir` on free ports. */
  start(dir: string): Promise<S>;
  /** Starts it again in `dir` on the ports `first` got, keeping its data. */
  restart(dir: string, first: S): Promise<S>;
  /** Stops the server recorded in `dir`; `pid` is null when nothing was recorded. */
  stop(dir: string): Promise<{ pid: number | null }>;
}

export interface DetachedServer<S> {
  readonly dir: string;
  /** The server as started first (ports, URLs: they stay the same across restart()). */
  readonly first: S;
  /** The server as started last (its pid changes on restart()). */
  readonly current: S;
  /** Stops the server. Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir (stopping it first if running). */
  restart(): Promise<void>;
  /** stop() and remove the temp dir. */
  close(): Promise<void>;
}

/** Starts a server in a new temp dir; the dir is removed again when the start fails. */
export async function startDetachedServer<S extends { readonly pid: number }>(control: DetachedServerControl<S>): Promise<DetachedServer<S>> {
  const dir = mkdtempSync(join(tmpdir(), control.tempPrefix));
  let first: S;
  try {
    first = await control.start(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  running.set(first.pid, startTime(first.pid));
  let current = first;
  const stop = async (): Promise<void> => {
    const { pid } = await control.stop(dir);
    if (pid !== null) running.delete(pid);
  };
  return {
    dir,
    first,
    get current() {
      return current;
    },
    stop,
    async restart() {
      await stop();
      current = await control.restart(dir, first);
      running.set(current.pid, startTime(current.pid));
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
