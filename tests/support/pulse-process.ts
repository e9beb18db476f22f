/**
 * Runs the real `bin/pulse start` as a child process for integration tests: writes the config to a temp dir,
 * gives the telemetry endpoints free ports, waits for `/readyz`, and stops the process by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './net.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PULSE_BIN = join(ROOT, 'bin', 'pulse');

export interface PulseProcess {
  readonly child: ChildProcess;
  readonly dir: string;
  readonly configPath: string;
  readonly metricsPort: number;
  readonly healthPort: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  metrics(): Promise<string>;
  /**
   * Sends SIGTERM and resolves with the exit code (SIGKILL after `timeoutMs`), then removes `dir` (config, data
   * dir, persistent queues). Read anything you need from there before.
   */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** A new temp directory (named with `prefix`) holding the repo's checkout journey: a journeys connector's `directory`. */
export function checkoutJourneysDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  copyFileSync(join(ROOT, 'config', 'journeys', 'checkout.yaml'), join(dir, 'checkout.yaml'));
  return dir;
}

/**
 * `configBody` is the YAML of receivers/processors/exporters/pipelines; a `service.telemetry` block with free
 * ports and a data dir in the temp dir is appended, so pass only `service.pipelines` under `service:` —
 * write `service:` last in the body.
 */
export async function startPulse(configBody: string, options: { env?: Record<string, string> } = {}): Promise<PulseProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-it-'));
  const metricsPort = await freePort();
  const healthPort = await freePort();
  const configPath = join(dir, 'pulse.yaml');
  const telemetry = [
    '  telemetry:',
    '    logs: { level: info }',
    `    metrics: { address: 127.0.0.1:${metricsPort} }`,
    `    health: { address: 127.0.0.1:${healthPort} }`,
    `  data_dir: ${join(dir, 'data')}`,
    '  shutdown_timeout: 10s',
  ].join('\n');
  writeFileSync(configPath, `${configBody.trimEnd()}\n${telemetry}\n`);
  const child = spawn(process.execPath, [PULSE_BIN, 'start', '--config', configPath], {
    cwd: dir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const proc: PulseProcess = {
    child,
    dir,
    configPath,
    metricsPort,
    healthPort,
    output: () => out,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    async stop(timeoutMs = 15_000) {
      let code = child.exitCode;
      if (code === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        code = await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`pulse exited with ${child.exitCode}:\n${out}`);
      const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      return res.status === 200;
    }, 20_000, 'pulse /readyz');
  } catch (err) {
    await proc.stop(2000);
    throw new Error(`${String(err)}\n--- pulse output ---\n${out}`);
  }
  return proc;
}

/** `pulse_journey_attempts_total` of a running Pulse, summed by outcome (`success`, `failure`). */
export async function attemptsByOutcome(pulse: PulseProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await pulse.metrics()).matchAll(/^pulse_journey_attempts_total\{([^}]*)\} (\d+)/gm)) {
    const outcome = /outcome="([^"]+)"/.exec(m[1]!)![1]!;
    out[outcome] = (out[outcome] ?? 0) + Number(m[2]);
  }
  return out;
}

/**
 * Posts one gzipped OTLP/HTTP protobuf request to Pulse's receiver on `port` as an SDK exports: resent after each
 * retryable answer (429 / 503), waiting `retryDelayMs()` between tries, `tries` times at most. Every status seen is
 * pushed to `statuses`; returns the last one.
 */
export async function postLikeAnSdk(
  port: number,
  gzippedBody: Buffer,
  statuses: number[],
  { tries, retryDelayMs }: { tries: number; retryDelayMs: () => number },
): Promise<number> {
  let status = 0;
  for (let attempt = 0; attempt < tries; attempt++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      body: gzippedBody,
    });
    await res.arrayBuffer();
    status = res.status;
    statuses.push(status);
    if (status !== 429 && status !== 503) break;
    if (attempt + 1 < tries) await new Promise((r) => setTimeout(r, retryDelayMs()));
  }
  return status;
}
