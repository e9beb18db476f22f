/**
 * A real OpenTelemetry Collector (scripts/infra/otelcol-lib.mjs builds it once) run as a child of the test process
 * with a config the test writes, in a temp dir. Killed when the test process exits without `stop()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { otelcolBinary } from '../../scripts/infra/otelcol-lib.mjs';
import { canConnect } from '../../scripts/infra/process-control.mjs';
import { waitFor } from './net.js';
import { ROOT } from './pulse-process.js';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * Builds the Collector unless cached, in a child process (the CLI), so that this worker's event loop keeps
 * answering the test runner during a first build.
 */
async function installCollector(): Promise<string> {
  const cli = join(ROOT, 'scripts', 'infra', 'otelcol.mjs');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'install'], { maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim() || otelcolBinary();
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`building the OpenTelemetry Collector failed: ${e.message}\n${(e.stderr ?? '').slice(-3000)}`);
  }
}

export interface Collector {
  readonly pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (SIGKILL after 10 s); resolves with the exit code; removes the temp dir. */
  stop(): Promise<number | null>;
}

/**
 * Starts the Collector with `config` (YAML) and resolves once every port in `ports` accepts connections. Builds
 * it first when it is not cached (~70 s on a fresh machine; give the calling hook time).
 */
export async function startCollector(config: string, ports: number[]): Promise<Collector> {
  const binary = await installCollector();
  const dir = mkdtempSync(join(tmpdir(), 'pulse-otelcol-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, config);
  const child = spawn(binary, ['--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    let code = child.exitCode;
    if (code === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      code = await exited;
      clearTimeout(timer);
    }
    children.delete(child);
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`it exited with ${child.exitCode}`);
        return (await Promise.all(ports.map((p) => canConnect(p, 500)))).every(Boolean);
      },
      30_000,
      `the OpenTelemetry Collector to listen on ${ports.join(', ')}`,
    );
  } catch (err) {
    await stop();
    throw new Error(`${String(err)}\n--- collector output ---\n${out.slice(-3000)}`);
  }
  return { pid: child.pid!, output: () => out, stop };
}
