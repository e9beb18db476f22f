// A *current* ClickHouse for tests, next to Debian's 18.16 (clickhouse-lib.mjs): ClickHouse's engine as the chdb
// library (the `chdb-core` wheel from PyPI, no Docker or apt repository needed) behind the part of the HTTP
// interface Pulse uses (chdb-http.py). Same shape as clickhouse-lib.mjs: installed on first use, started as a
// detached process on a free loopback port with its data in its own dir, stopped by PID.
// Types: chdb-lib.d.mts. Notes and measured timings: README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HOST,
  assertPortsFree,
  fileSize,
  isListening,
  isRunning,
  pollUntil,
  portIsFree,
  readFrom,
  readState,
  spawnDetached,
  startFailure,
  startOnPorts,
  stopRecorded,
  withInstallLock,
  writeState,
} from './process-control.mjs';
import { clickHouseQuery } from './clickhouse-lib.mjs';

/** The engine release: chdb-core 26.9.0 is ClickHouse 26.9 (`SELECT version()` → 26.9.2.1). */
export const CHDB_CORE_VERSION = '26.9.0';
const SHIM = join(dirname(fileURLToPath(import.meta.url)), 'chdb-http.py');
const STATE_FILE = 'chdb.json';
/** What the command line of the server of `dir` holds, and no other server's (see clickhouse-lib.mjs). */
const instanceMarker = (dir) => `--path=${dir}/data`;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

const log = (msg) => process.stderr.write(`[infra/chdb] ${msg}\n`);

/** Where the unpacked wheel lives: `$PULSE_CHDB_DIR`, else `~/.cache/pulse/chdb-core-<version>`. */
export function chdbDir() {
  return resolve(process.env.PULSE_CHDB_DIR ?? join(homedir(), '.cache', 'pulse', `chdb-core-${CHDB_CORE_VERSION}`));
}

export function chdbInstalled() {
  return existsSync(join(chdbDir(), 'chdb', '__init__.py'));
}

/**
 * Downloads the chdb-core wheel with pip (PyPI; ~180 MB) and unpacks it into chdbDir() — a wheel is a zip, so no
 * virtualenv and no system-wide install. Idempotent: `{ installed: false }` at once when present.
 */
export function installChdb({ quiet = false } = {}) {
  if (chdbInstalled()) return { installed: false };
  return withInstallLock('chdb', () => {
    if (chdbInstalled()) return { installed: false };
    const target = chdbDir();
    const download = `${target}.download`;
    rmSync(download, { recursive: true, force: true });
    mkdirSync(download, { recursive: true });
    if (!quiet) log(`downloading chdb-core ${CHDB_CORE_VERSION} (ClickHouse's engine, ~180 MB) with pip`);
    const pip = spawnSync('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary', ':all:', '--dest', download, `chdb-core==${CHDB_CORE_VERSION}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (pip.status !== 0) {
      throw new Error(`PULSE_ERR_INFRA_INSTALL: pip could not download chdb-core ${CHDB_CORE_VERSION} (needs python3 -m pip and PyPI): ${excerpt(pip.stderr || pip.stdout || String(pip.error))}`);
    }
    const wheel = readdirSync(download).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`PULSE_ERR_INFRA_INSTALL: pip left no wheel in ${download}`);
    const unpacked = `${target}.unpack`;
    rmSync(unpacked, { recursive: true, force: true });
    const unzip = spawnSync('python3', ['-m', 'zipfile', '-e', join(download, wheel), unpacked], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (unzip.status !== 0) throw new Error(`PULSE_ERR_INFRA_INSTALL: could not unpack ${wheel}: ${excerpt(unzip.stderr)}`);
    rmSync(target, { recursive: true, force: true });
    renameSync(unpacked, target);
    rmSync(download, { recursive: true, force: true });
    return { installed: true };
  });
}

export function readChdbState(dir) {
  return readState(resolve(dir), STATE_FILE);
}

/**
 * Starts the engine with its data in `<dir>/data` (reused when present, so a stop + start on the same dir and
 * port keeps the tables), on `httpPort` or a free one. Resolves once /ping answers and writes `<dir>/chdb.json`.
 */
export async function startChdb({ dir, httpPort, timeoutMs = START_TIMEOUT_MS } = {}) {
  if (!dir) throw new Error('PULSE_ERR_INFRA_ARGS: startChdb needs { dir }');
  if (!chdbInstalled()) throw new Error('PULSE_ERR_INFRA_NOT_INSTALLED: chdb is not installed; call installChdb() first');
  dir = resolve(dir);
  const previous = readChdbState(dir);
  if (previous && isRunning(previous.pid, instanceMarker(dir))) {
    throw new Error(`PULSE_ERR_INFRA_RUNNING: a chdb server (pid ${previous.pid}) already uses ${dir}; stop it first`);
  }
  mkdirSync(join(dir, 'data'), { recursive: true });
  return startOnPorts({ keys: ['httpPort'], ports: { httpPort }, startOnce: (ports) => startOnce(dir, ports.httpPort, timeoutMs), log });
}

async function startOnce(dir, httpPort, timeoutMs) {
  await assertPortsFree({ httpPort });
  const logFile = join(dir, 'chdb.log');
  const offset = fileSize(logFile);
  const started = Date.now();
  const env = { ...process.env, PYTHONPATH: chdbDir(), PYTHONUNBUFFERED: '1' };
  const child = spawnDetached('python3', [SHIM, `--port=${httpPort}`, `--path=${dir}/data`], { logFile, cwd: dir, env });
  await pollUntil(
    async () => {
      if (!isListening(child.pid, httpPort)) return false;
      const res = await fetch(`http://${HOST}:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
      return (await res.text()) === 'Ok.\n';
    },
    // The child's own exit event says whether it died, not /proc/<pid>/cmdline: `python3` may be a pyenv shim that
    // execs several times before Python runs, and a cmdline read during an exec can come back without our marker
    // (1 start in 24, three at a time, was reported dead and killed that way).
    {
      timeoutMs,
      failed: () => child.exitDescription(),
      makeError: (reason) => startFailure(child, { name: `chdb (pid ${child.pid}, http ${httpPort})`, reason, logFile, text: readFrom(logFile, offset), lines: 12 }),
    },
  );
  const version = (await clickHouseQuery(httpPort, 'SELECT version()')).trim();
  const state = { pid: child.pid, httpPort, version, startedInMs: Date.now() - started };
  writeState(dir, STATE_FILE, state);
  return { ...state, dir, url: `http://${HOST}:${httpPort}`, stop: () => stopChdb({ dir }) };
}

/** Stops the server recorded in `<dir>/chdb.json` (SIGTERM, SIGKILL after 10 s) and removes the json. */
export async function stopChdb({ dir }) {
  dir = resolve(dir);
  const { pid, killed, state } = await stopRecorded({ dir, stateFile: STATE_FILE, marker: instanceMarker(dir), graceMs: STOP_GRACE_MS });
  if (!state) return { pid, killed };
  // A process whose main thread has exited no longer shows its command line while its other threads are still
  // being torn down, holding the socket: a restart on the same port waits for it.
  await pollUntil(() => portIsFree(state.httpPort), {
    timeoutMs: 10_000,
    makeError: () => new Error(`PULSE_ERR_INFRA_STOP: port ${state.httpPort} is still in use after chdb (pid ${pid}) exited`),
  });
  return { pid, killed };
}
