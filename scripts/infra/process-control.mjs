// Process and port plumbing shared by clickhouse-lib.mjs, chdb-lib.mjs and kafka-lib.mjs: free loopback ports,
// detached servers started on them (retried on other ports after a bind race), their state files, stopping them by
// PID, and log tails for error messages. Plain Node ESM, no dependencies.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer } from 'node:net';

export const HOST = '127.0.0.1';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `count` distinct TCP ports that were free on 127.0.0.1 a moment ago. All listeners are held open until every
 * port is known, so the OS cannot hand the same port out twice.
 */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, HOST, resolve);
      });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(() => resolve()))));
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:`port` within `timeoutMs`. */
export function canConnect(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves true when nothing listens on 127.0.0.1:`port` right now (we could bind it). Used before starting a
 * server on ports the caller chose, for a clear error instead of a server that dies or, worse, a health check
 * answered by whoever already holds the port.
 */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/**
 * True when process `pid` itself holds a listening TCP socket on `port` (any address). Why: some servers
 * (ClickHouse 18.16) set SO_REUSEPORT, so a second server on a busy port binds "successfully" or dies a second
 * later while the first one answers its health check; a readiness check must make sure the answer is ours.
 * Linux only: maps the socket inodes in /proc/<pid>/fd to LISTEN entries of /proc/net/tcp{,6}.
 */
export function isListening(pid, port) {
  let inodes;
  try {
    inodes = new Set();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
      } catch {
        /* fd closed meanwhile */
      }
    }
  } catch {
    return false;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue;
      if (cols[1].endsWith(`:${hexPort}`) && inodes.has(cols[9])) return true;
    }
  }
  return false;
}

/**
 * The fields of /proc/<pid>/stat from field 3 (the state) on, or null when there is no such process. They follow
 * the command name, which is in parentheses and may hold spaces.
 */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * When `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot), or null when there is no such process:
 * tells a process from a later one that was given the same PID.
 */
export function startTime(pid) {
  return statFields(pid)?.[19] ?? null;
}

/** The process's command line, or null when there is no such process (or it is a zombie awaiting its reaper). */
function commandLine(pid) {
  // Field 3 is the state; 'Z' means it exited and only its parent's wait() is missing. In containers PID 1 often
  // never reaps, so a zombie must count as gone or stop() would wait forever.
  const state = statFields(pid)?.[0];
  if (state === undefined || state === 'Z' || state === 'X') return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return null;
  }
}

/**
 * True when `pid` is a live process whose command line contains `marker` (guards against signalling an unrelated
 * process that inherited a recycled PID).
 */
export function isRunning(pid, marker) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const cmd = commandLine(pid);
  return cmd !== null && cmd.includes(marker);
}

/**
 * Sends SIGTERM to `pid`, waits up to `graceMs` for it to exit, then SIGKILLs it and waits up to 5 s more.
 * Resolves `{ killed }` (true when SIGKILL was needed); throws when the process is still alive at the end.
 * A `pid` that is not running (or whose command line lacks `marker`) resolves at once.
 */
export async function stopPid(pid, { marker, graceMs }) {
  if (!isRunning(pid, marker)) return { killed: false };
  process.kill(pid, 'SIGTERM');
  if (await waitGone(pid, marker, graceMs)) return { killed: false };
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* exited between the check and the signal */
  }
  if (await waitGone(pid, marker, 5000)) return { killed: true };
  throw new Error(`PULSE_ERR_INFRA_STOP: process ${pid} (${marker}) survived SIGKILL; inspect it with ps -p ${pid}`);
}

async function waitGone(pid, marker, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid, marker)) return true;
    await sleep(50);
  }
  return !isRunning(pid, marker);
}

/**
 * Starts `command args` in its own process group with stdout and stderr appended to `logFile`, not tied to this
 * process: it keeps running after the caller exits (the CLI case) and is stopped later by its PID.
 * Returns `{ pid, exited }` where `exited()` is true once the child has exited (only observable while this
 * process is the parent).
 */
export function spawnDetached(command, args, { logFile, cwd, env }) {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    let exitInfo = null;
    let spawnError = null;
    child.on('exit', (code, signal) => (exitInfo = { code, signal }));
    child.on('error', (err) => (spawnError = err));
    child.unref();
    if (child.pid === undefined) throw new Error(`PULSE_ERR_INFRA_SPAWN: could not start ${command}; is it installed?`);
    return {
      pid: child.pid,
      /** null while running; otherwise a short description of how it ended. */
      exitDescription() {
        if (spawnError) return `failed to start: ${spawnError.message}`;
        if (exitInfo) return exitInfo.signal ? `killed by ${exitInfo.signal}` : `exited with code ${exitInfo.code}`;
        return null;
      },
    };
  } finally {
    closeSync(fd); // the child holds its own copy of the descriptor
  }
}

/** The state a started server left in `<dir>/<name>` (JSON), or null when there is none. */
export function readState(dir, name) {
  const file = join(dir, name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/** Records a started server's `state` in `<dir>/<name>`, for `stopRecorded` and other processes. */
export function writeState(dir, name, state) {
  writeFileSync(join(dir, name), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Starts a server with `startOnce({ key: port })` on the ports named `keys`: those given in `ports` as they are,
 * the others picked free. A port that was free when picked can be taken by another process before the server
 * binds it (parallel test workers): when a start on picked ports fails with `err.portConflict`, it is tried again
 * on fresh ones, at most three times in all, after `beforeRetry()`. Ports all given are never changed.
 */
export async function startOnPorts({ keys, ports = {}, startOnce, log, beforeRetry }) {
  const given = keys.map((k) => ports[k]);
  const allGiven = given.every(Boolean);
  for (let attempt = 1; ; attempt++) {
    let picked = given;
    if (!allGiven) {
      const free = await freePorts(given.filter((p) => !p).length);
      picked = given.map((p) => p || free.shift());
    }
    try {
      return await startOnce(Object.fromEntries(keys.map((k, i) => [k, picked[i]])));
    } catch (err) {
      if (allGiven || attempt === 3 || !err.portConflict) throw err;
      log(`start failed, retrying with other ports: ${err.message.split('\n')[0]}`);
      beforeRetry?.();
    }
  }
}

/** Throws (with `portConflict`, see `startOnPorts`) when one of `ports` (`{ name: port }`) is taken on HOST. */
export async function assertPortsFree(ports) {
  for (const [name, port] of Object.entries(ports)) {
    if (!(await portIsFree(port))) {
      const err = new Error(`PULSE_ERR_INFRA_PORT_IN_USE: ${name} ${port} on ${HOST} is already in use; stop whatever holds it or let the ports be picked`);
      err.portConflict = true;
      throw err;
    }
  }
}

/**
 * The error for a server that did not become ready: kills `child` first (no half-started server is left behind),
 * then names it, the reason and what its log (`text`, from `logFile`) says. `portConflict` tells `startOnPorts`
 * whether other ports could help.
 */
export function startFailure(child, { name, reason, logFile, text, lines = 20, important }) {
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  const err = new Error(`PULSE_ERR_INFRA_START: ${name} ${reason}. From ${logFile}:\n${excerpt(text, { lines, important })}`);
  err.portConflict = PORT_CONFLICT.test(text);
  return err;
}

/**
 * Stops the server recorded in `<dir>/<stateFile>` (`stopPid`: SIGTERM, SIGKILL after `graceMs`; only a process
 * whose command line holds `marker`) and removes the file. Resolves `{ pid, killed, state }`, pid null when
 * nothing was recorded. Safe to call twice.
 */
export async function stopRecorded({ dir, stateFile, marker, graceMs }) {
  const state = readState(dir, stateFile);
  if (!state) return { pid: null, killed: false, state: null };
  const { killed } = await stopPid(state.pid, { marker, graceMs });
  rmSync(join(dir, stateFile), { force: true });
  return { pid: state.pid, killed, state };
}

/** Size of `file` in bytes (0 when missing): where output appended by the next run will start. */
export function fileSize(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The text appended to `file` since byte `offset` ('' when missing). */
export function readFrom(file, offset) {
  if (!existsSync(file)) return '';
  return readFileSync(file).subarray(offset).toString('utf8');
}

/**
 * A log excerpt for an error message: the last lines matching `important` (the actual error, which a long stack
 * trace can push out of the tail), each cut to 500 characters, then the last `lines` lines.
 */
export function excerpt(text, { lines = 20, important } = {}) {
  const all = text.trimEnd().split('\n');
  const last = all.slice(-lines);
  const key = important ? all.filter((l) => important.test(l) && !last.includes(l)).slice(-3).map((l) => (l.length > 500 ? `${l.slice(0, 500)}…` : l)) : [];
  return [...key, ...(key.length ? ['…'] : []), ...last].join('\n') || '(empty)';
}

/** Log text that says a server could not bind its port (then a retry on other free ports can help). */
export const PORT_CONFLICT = /Address already in use|BindException/i;

/**
 * Polls `check()` every `intervalMs` until it returns a truthy value. Before each poll `failed()` may return a
 * reason to give up early (e.g. the server process died). Throws `makeError(reason)` on timeout or failure.
 */
export async function pollUntil(check, { timeoutMs, intervalMs = 100, failed, makeError }) {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const reason = failed?.();
    if (reason) throw makeError(reason);
    try {
      const value = await check();
      if (value) return value;
    } catch {
      /* not ready yet */
    }
    if (Date.now() >= deadline) throw makeError(`not ready after ${Math.round(timeoutMs / 1000)} s`);
    await sleep(intervalMs);
  }
}

/** Blocks the thread for `ms` (installs are synchronous; used only while waiting for another installer). */
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn()` while holding a machine-wide lock (an exclusive mkdir under the OS temp dir), so that test workers
 * installing at the same moment don't run two apt-gets (dpkg lock errors) or two Maven copies into one cache.
 * A lock whose holder PID is gone, or that has no PID after 30 s, is taken over. Waits up to `timeoutMs`.
 */
export function withInstallLock(name, fn, timeoutMs = 600_000) {
  const lock = join(tmpdir(), `pulse-install-${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let holder = 0;
      let age = 0;
      try {
        holder = Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        /* the holder is between mkdir and writing its pid, or just released the lock */
      }
      if ((holder && !isRunning(holder, '')) || (!holder && age > 30_000)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`PULSE_ERR_INFRA_INSTALL: another install (pid ${holder || '?'}) still holds ${lock}; remove that dir if no install is running`);
      }
      sleepSync(250);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
