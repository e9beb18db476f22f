// A real local ClickHouse server for tests, the demo and CI: installed from Debian's packages, run as a plain
// detached process with every path and port overridden so it touches only its own data dir, stopped by PID.
// Types: clickhouse-lib.d.mts. CLI: clickhouse.mjs. Notes and measured timings: README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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

// Debian's package installs /usr/sbin/clickhouse-server; ClickHouse's own packages install /usr/bin/clickhouse
// (a multi-tool whose `server` subcommand is the server) plus a clickhouse-server symlink.
const SERVER_CANDIDATES = [
  { file: '/usr/sbin/clickhouse-server', prefix: [] },
  { file: '/usr/bin/clickhouse-server', prefix: [] },
  { file: '/usr/bin/clickhouse', prefix: ['server'] },
];
export const CLICKHOUSE_CONFIG = '/etc/clickhouse-server/config.xml';
const STATE_FILE = 'clickhouse.json';
/**
 * What the command line of the server of `dir` (absolute) holds, and no other server's: a PID recorded in a state
 * file may, once that server is gone, belong to another process, and PIDs come round quickly on small machines
 * (`pid_max` 32768); a bare "clickhouse" would let stop() kill another test's ClickHouse. (While starting, the
 * child we spawned is watched through its exit event instead: /proc/<pid>/cmdline can read differently while a
 * process is still exec'ing, which once made a healthy start look dead; see chdb-lib.mjs.)
 */
const instanceMarker = (dir) => `--path=${dir}/`;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 15_000;

const log = (msg) => process.stderr.write(`[infra/clickhouse] ${msg}\n`);

/** True when the server binary and its packaged config are present. */
export function clickHouseInstalled() {
  return serverCommand() !== null && existsSync(CLICKHOUSE_CONFIG);
}

/** How to run the server binary: `{ file, prefix }` (prefix args go before ours), or null when none is installed. */
export function serverCommand() {
  return SERVER_CANDIDATES.find((c) => existsSync(c.file)) ?? null;
}

/**
 * Installs Debian's clickhouse-server and clickhouse-client with apt when missing (needs root, as on CI).
 * Idempotent: returns `{ installed: false }` at once when already present.
 */
export function installClickHouse({ quiet = false } = {}) {
  if (clickHouseInstalled()) {
    if (!quiet) log(`already installed (${serverCommand().file})`);
    return { installed: false };
  }
  return withInstallLock('clickhouse', () => {
    // Another worker may have installed it while we waited for the lock.
    if (clickHouseInstalled()) {
      if (!quiet) log('installed by another installer meanwhile');
      return { installed: false };
    }
    return aptInstall();
  });
}

function aptInstall() {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'PULSE_ERR_INFRA_INSTALL: clickhouse-server is not installed and installing it needs root; run ' +
        '`sudo apt-get install -y clickhouse-server clickhouse-client` or this command as root',
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    log(`running: apt-get ${args.join(' ')}`);
    // Wait for an apt/dpkg run by someone else instead of failing on its lock.
    const res = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (res.status !== 0) {
      throw new Error(`PULSE_ERR_INFRA_INSTALL: apt-get ${args[0]} failed (exit ${res.status}); see its output above`);
    }
  };
  run(['update', '-qq']);
  // Keep dpkg from prompting about config files and skip recommends (nothing we need).
  run(['install', '-y', '-qq', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', 'clickhouse-server', 'clickhouse-client']);
  if (!clickHouseInstalled()) throw new Error(`PULSE_ERR_INFRA_INSTALL: apt-get finished but no clickhouse-server binary or ${CLICKHOUSE_CONFIG} is there`);
  log('installed');
  return { installed: true };
}

/** Runs `sql` over the HTTP interface and returns the response body (throws with the server's message on error). */
export async function clickHouseQuery(httpPort, sql, { timeoutMs = 10_000 } = {}) {
  const res = await fetch(`http://${HOST}:${httpPort}/`, { method: 'POST', body: sql, signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  if (!res.ok) throw new Error(`PULSE_ERR_INFRA_QUERY: ClickHouse answered ${res.status} to ${JSON.stringify(sql.slice(0, 200))}: ${body.trim()}`);
  return body;
}

/**
 * Writes `<dir>/config.xml`: the packaged config with every /var path pointed into `dir`, an absolute users.xml
 * path, and loopback-only listening. Why a copy and not `--config-file=/etc/...` plus command-line overrides:
 * the server saves the preprocessed main config under the `<path>` written in the *file* (command-line
 * overrides are not applied at that point), so with the packaged file it writes into
 * /var/lib/clickhouse/preprocessed_configs/ as root, shared by every test server. The copy keeps it in `dir`.
 */
function writeServerConfig(dir) {
  const packaged = readFileSync(CLICKHOUSE_CONFIG, 'utf8');
  const config = packaged
    .replaceAll('/var/lib/clickhouse/', `${dir}/`)
    .replaceAll('/var/log/clickhouse-server/', `${dir}/`)
    .replace(/<users_config>([^<]+)<\/users_config>/, (_m, file) => `<users_config>${resolve(dirname(CLICKHOUSE_CONFIG), file.trim())}</users_config>`)
    // Only IPv4 loopback: the default (::1 and 127.0.0.1) fails on hosts without IPv6, and clients use 127.0.0.1.
    .replace(/<(yandex|clickhouse)>/, (root) => `${root}\n    <listen_host>${HOST}</listen_host>`);
  const file = `${dir}/config.xml`;
  writeFileSync(file, config);
  return file;
}

/**
 * With `tls`: an HTTPS port next to HTTP, from PEM files (`openSSL.server.*` overrides); `caFile` makes the server
 * require a client certificate signed by it (verificationMode strict), without it clients need none.
 */
function tlsArgs(tls, httpsPort) {
  if (!tls) return [];
  return [
    `--https_port=${httpsPort}`,
    `--openSSL.server.certificateFile=${tls.certFile}`,
    `--openSSL.server.privateKeyFile=${tls.keyFile}`,
    '--openSSL.server.dhParamsFile=',
    ...(tls.caFile ? ['--openSSL.server.verificationMode=strict', `--openSSL.server.caConfig=${tls.caFile}`, '--openSSL.server.loadDefaultCAFile=false'] : ['--openSSL.server.verificationMode=none']),
  ];
}

/** The command line: our config copy plus overrides that keep the server inside `dir` and on the given ports. */
function serverArgs(configFile, dir, ports, tls) {
  const d = `${dir}/`;
  return [
    `--config-file=${configFile}`,
    '--',
    `--path=${d}`,
    `--tmp_path=${d}tmp/`,
    `--user_files_path=${d}user_files/`,
    `--format_schema_path=${d}format_schemas/`,
    `--logger.log=${d}ch.log`,
    `--logger.errorlog=${d}ch.err.log`,
    '--logger.level=information',
    `--http_port=${ports.httpPort}`,
    `--tcp_port=${ports.tcpPort}`,
    `--interserver_http_port=${ports.interserverPort}`,
    `--pid_file=${d}clickhouse.pid`,
    ...tlsArgs(tls, ports.httpsPort),
  ];
}

/** Reads `<dir>/clickhouse.json` (null when absent). */
export function readClickHouseState(dir) {
  return readState(resolve(dir), STATE_FILE);
}

/**
 * Starts a ClickHouse server whose data lives in `dir` (created when missing; an existing data dir is reused,
 * so a stop + start on the same dir and ports simulates an outage with data preserved). Ports not given are
 * picked free. Resolves once `/ping` answers `Ok.` and writes `<dir>/clickhouse.json`.
 */
export async function startClickHouse({ dir, ports = {}, tls, timeoutMs = START_TIMEOUT_MS } = {}) {
  if (!dir) throw new Error('PULSE_ERR_INFRA_ARGS: startClickHouse needs { dir }');
  if (!clickHouseInstalled()) {
    throw new Error('PULSE_ERR_INFRA_NOT_INSTALLED: ClickHouse is not installed; run `node scripts/infra/clickhouse.mjs install`');
  }
  dir = resolve(dir);
  const previous = readClickHouseState(dir);
  if (previous && isRunning(previous.pid, instanceMarker(dir))) {
    throw new Error(`PULSE_ERR_INFRA_RUNNING: a ClickHouse server (pid ${previous.pid}) already uses ${dir}; stop it first`);
  }
  mkdirSync(`${dir}/tmp`, { recursive: true });
  const keys = ['httpPort', 'tcpPort', 'interserverPort', ...(tls ? ['httpsPort'] : [])];
  return startOnPorts({ keys, ports, startOnce: (picked) => startOnce(dir, picked, tls, timeoutMs), log });
}

async function startOnce(dir, ports, tls, timeoutMs) {
  const { httpPort, tcpPort, interserverPort, httpsPort } = ports;
  await assertPortsFree(ports);
  const errLog = `${dir}/ch.err.log`;
  const stdoutLog = `${dir}/ch.stdout.log`;
  // Logs are appended across restarts: only what this run writes explains its failure.
  const offsets = { err: fileSize(errLog), stdout: fileSize(stdoutLog) };
  const started = Date.now();
  const { file, prefix } = serverCommand();
  const child = spawnDetached(file, [...prefix, ...serverArgs(writeServerConfig(dir), dir, ports, tls)], { logFile: stdoutLog, cwd: dir, env: process.env });
  await pollUntil(
    async () => {
      if (!isListening(child.pid, httpPort) || (httpsPort !== undefined && !isListening(child.pid, httpsPort))) return false;
      const res = await fetch(`http://${HOST}:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
      return (await res.text()) === 'Ok.\n';
    },
    {
      timeoutMs,
      failed: () => child.exitDescription(),
      makeError: (reason) =>
        startFailure(child, {
          name: `ClickHouse (pid ${child.pid}, http ${httpPort})`,
          reason,
          logFile: errLog,
          text: readFrom(errLog, offsets.err) || readFrom(stdoutLog, offsets.stdout),
          lines: 12,
          important: /<(Error|Fatal)>/,
        }),
    },
  );
  const version = (await clickHouseQuery(httpPort, 'SELECT version()')).trim();
  const state = {
    pid: child.pid,
    httpPort,
    tcpPort,
    interserverPort,
    ...(httpsPort !== undefined ? { httpsPort, httpsUrl: `https://${HOST}:${httpsPort}` } : {}),
    version,
    startedInMs: Date.now() - started,
  };
  writeState(dir, STATE_FILE, state);
  return { ...state, dir, url: `http://${HOST}:${httpPort}`, stop: () => stopClickHouse({ dir }) };
}

/**
 * Stops the server recorded in `<dir>/clickhouse.json`: SIGTERM, SIGKILL after 15 s. Removes the json.
 * Resolves `{ pid, killed }` (pid null when nothing was recorded). Safe to call twice.
 */
export async function stopClickHouse({ dir }) {
  dir = resolve(dir);
  const { pid, killed } = await stopRecorded({ dir, stateFile: STATE_FILE, marker: instanceMarker(dir), graceMs: STOP_GRACE_MS });
  return { pid, killed };
}
