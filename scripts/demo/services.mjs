// Starting and stopping what the demo runs: a local ClickHouse and Kafka (scripts/infra: real servers, no Docker,
// data in a temp dir, stopped by PID) and `bin/pulse start` with config/demo/pulse.yaml, whose ${env:PULSE_DEMO_*}
// values carry the ports picked here. Nothing is left running: every process is recorded when it starts and stopped
// by its PID — politely (SIGTERM, waiting) by `stop…()`, at once (SIGKILL) by `killAll()` for a second Ctrl-C or an
// unexpected exit.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installClickHouse, startClickHouse, stopClickHouse } from '../infra/clickhouse-lib.mjs';
import { installKafka, startKafka, stopKafka } from '../infra/kafka-lib.mjs';
import { freePorts, portIsFree, stopPid } from '../infra/process-control.mjs';

/** Pulse's own ports, and the well-known ones used when free (an SDK's default exporter finds Pulse there). */
export const PREFERRED_PORTS = Object.freeze({ otlpGrpc: 4317, otlpHttp: 4318, metrics: 8888, health: 13133 });

/**
 * Ports for Pulse: each well-known port when `preferDefaults` and it is free on 127.0.0.1, else a free one.
 * @returns {Promise<{ otlpGrpc: number, otlpHttp: number, metrics: number, health: number }>}
 */
export async function pickPulsePorts(preferDefaults) {
  const names = Object.keys(PREFERRED_PORTS);
  const free = await freePorts(names.length);
  const ports = {};
  for (const name of names) {
    const wanted = PREFERRED_PORTS[name];
    ports[name] = preferDefaults && (await portIsFree(wanted)) ? wanted : free.shift();
  }
  return ports;
}

/**
 * Installs ClickHouse and Kafka when missing (apt-get / Maven, the first time only; both log to stderr).
 * Synchronous: it runs before anything else is started.
 */
export function installInfra() {
  installClickHouse({ quiet: true });
  installKafka({ quiet: true });
}

/** ClickHouse with its data in `dir` on free ports. */
export function startDemoClickHouse(dir) {
  mkdirSync(dir, { recursive: true });
  return startClickHouse({ dir });
}

/** Kafka (single KRaft node) with its data in `dir` on free ports. */
export function startDemoKafka(dir) {
  mkdirSync(dir, { recursive: true });
  return startKafka({ dir });
}

export const stopDemoClickHouse = (dir) => stopClickHouse({ dir });

/**
 * Stops the demo's Kafka: SIGTERM, SIGKILL after 5 s. Shorter than stopKafka()'s 20 s grace: a controlled
 * shutdown of a single node sometimes takes 15 s, and the demo throws its data away anyway.
 */
export async function stopDemoKafka(kafka) {
  await stopPid(kafka.pid, { marker: 'kafka.Kafka', graceMs: 5000 });
  await stopKafka({ dir: kafka.dir }); // forgets the state file (the process is gone already)
}

/**
 * PIDs of live processes whose command line mentions `dir` (the demo's temp dir, unique to this run): the
 * ClickHouse and Kafka servers started there, even one whose start was interrupted before its PID was recorded.
 */
export function processesUsing(dir) {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return pids;
}

/**
 * Starts `bin/pulse start --config <configFile>` with the PULSE_DEMO_* environment and waits for /readyz.
 * Pulse runs in its own process group, so a Ctrl-C in the terminal reaches only the demo, which stops Pulse in
 * order (SIGTERM: stop receivers, decide pending attempts, flush to ClickHouse and Kafka).
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, log: () => string, exited: Promise<number | null> }>}
 */
export async function startPulse({ root, configFile, env, healthPort, logFile, echoLog = false, timeoutMs = 30_000 }) {
  const child = spawn(process.execPath, [join(root, 'bin', 'pulse'), 'start', '--config', configFile], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let tail = '';
  const keep = (d) => {
    tail = (tail + d.toString()).slice(-30_000);
    if (logFile) appendFileSync(logFile, d);
    if (echoLog) process.stderr.write(d);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const err = new Error(`Pulse exited while starting (code ${child.exitCode ?? child.signalCode})`);
      err.pulseLog = tail;
      err.portInUse = /EADDRINUSE|address already in use/i.test(tail);
      throw err;
    }
    try {
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      const err = new Error(`Pulse did not become ready within ${timeoutMs / 1000} s`);
      err.pulseLog = tail;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { child, log: () => tail, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves the exit code. Safe to call when it already exited. */
export async function stopPulse(pulse, graceMs = 15_000) {
  const { child, exited } = pulse;
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** SIGKILLs `pid` if it is alive (no error when it is not). */
export function kill(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
