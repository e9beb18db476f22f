/**
 * `service.derived_signals.thread: worker` through `bin/pulse start`: the lifecycle around the worker thread that
 * journeys-e2e.test.ts (which runs its whole story in both modes) does not cover — a SIGHUP reload builds a new
 * worker and attempts keep being decided; SIGTERM flushes the attempts still settling in the worker before exit 0;
 * a component of the derived pipelines that cannot start fails the start with its own message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { freePort, waitFor } from '../support/net.js';
import { PULSE_BIN, ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { id, makeBatch, makeSpan } from '../support/traces.js';

const JOURNEY = `apiVersion: pulse/v1
kind: Journey
metadata:
  name: checkout
spec:
  start:
    service: shop
    span: POST /checkout
`;

let work: string;
let attemptsPath: string;
let httpPort: number;
let pulse: PulseProcess;

/** `journeys`: the connector's timing and bounds (YAML lines under it); `derived`: the `derived_signals` value. */
function config(
  attempts: string,
  { port = httpPort, journeys = ['settle_delay: 100ms', 'trace_wait: 2s'], derived = '{ thread: worker }' }: { port?: number; journeys?: string[]; derived?: string } = {},
): string {
  return `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys:
    directory: ${join(work, 'journeys')}
${journeys.map((line) => `    ${line}`).join('\n')}
exporters:
  debug/attempts: { path: ${attempts} }
service:
  derived_signals: ${derived}
  pipelines:
    traces/in: { receivers: [otlp], exporters: [journeys] }
    attempts: { receivers: [journeys], exporters: [debug/attempts] }
`;
}

/** Sends one checkout start span in its own trace; returns the trace id in hex. */
async function checkout(n: number): Promise<string> {
  const hex = (0xabc0_0000 + n).toString(16).padStart(32, '0');
  const now = BigInt(Date.now()) * 1_000_000n;
  const batch = makeBatch([makeSpan({ traceId: id(hex), name: 'POST /checkout', kind: 2, startTimeUnixNano: now, endTimeUnixNano: now + 5_000_000n })], {
    'service.name': 'shop',
  });
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: encodeTraceRequest(batch),
  });
  expect(res.status).toBe(200);
  return hex;
}

function decidedTraces(): string[] {
  if (!existsSync(attemptsPath)) return [];
  return readFileSync(attemptsPath, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { traceId: string }).traceId);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pulse-derived-worker-'));
  mkdirSync(join(work, 'journeys'));
  writeFileSync(join(work, 'journeys', 'checkout.yaml'), JOURNEY);
  attemptsPath = join(work, 'attempts.jsonl');
  httpPort = await freePort();
  pulse = await startPulse(config(attemptsPath));
}, 60_000);

afterAll(async () => {
  if (pulse.child.exitCode === null) await pulse.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('derived signals in a worker thread, through bin/pulse start', () => {
  it('decides attempts in the worker and reports its metrics in /metrics', async () => {
    const trace = await checkout(1);
    await waitFor(() => decidedTraces().includes(trace), 10_000, 'the attempt in the debug file');
    const text = await pulse.metrics();
    expect(text).toMatch(/^pulse_worker_heap_used_bytes\{thread="derived"\} [1-9]\d*$/m);
    // The defaults (100,000 pending attempts, 1 GiB) fit: no warning.
    expect(pulse.output()).not.toContain('pending attempts (~');
    // service.derived_signals.max_heap (default 1GiB) plus the young generation.
    const limit = Number(/^pulse_worker_heap_limit_bytes\{thread="derived"\} (\d+)$/m.exec(text)?.[1]);
    expect(limit).toBeGreaterThanOrEqual(2 ** 30);
    expect(limit).toBeLessThan(1.25 * 2 ** 30);
    // Counted in the worker, rendered by the main thread: one series, not one per thread.
    expect(text).toMatch(/^pulse_journey_attempts_total\{connector="journeys",journey="checkout",outcome="success",decided_by="complete"\} 1$/m);
    expect(text).toMatch(/^pulse_journey_spans_tagged_total\{connector="journeys"\} 1$/m);
  });

  it('SIGHUP builds a new worker: attempts keep being decided after the reload', async () => {
    pulse.child.kill('SIGHUP');
    await waitFor(() => pulse.output().includes('configuration reloaded'), 15_000, 'the reload log line');
    const trace = await checkout(2);
    await waitFor(() => decidedTraces().includes(trace), 10_000, 'an attempt after the reload');
  });

  it('SIGTERM decides the attempts still settling in the worker before exiting 0', async () => {
    const trace = await checkout(3);
    // settle_delay is 100 ms: stop at once, while the attempt is still pending in the worker.
    const code = await pulse.stop();
    expect(code).toBe(0);
    expect(decidedTraces()).toContain(trace);
  });

  it('a worker that outgrows service.derived_signals.max_heap stops Pulse (exit 1) and says which setting to change', async () => {
    // 64 MiB and attempts that never time out: at ~1 KiB per pending attempt, some 50k–100k start spans fill it.
    const port = await freePort();
    const small = await startPulse(
      config(join(work, 'never.jsonl'), { port, journeys: ['trace_wait: 1h', 'max_pending_attempts: 10000000'], derived: '{ thread: worker, max_heap: 64MiB }' }),
    );
    try {
      // Said at start: 10M pending attempts (~9766 MiB) cannot fit in 64 MiB.
      expect(small.output()).toContain('the journeys connectors may hold 10000000 pending attempts (~9766 MiB at ~1 KiB each), more than half of service.derived_signals.max_heap (64 MiB)');
      const limit = Number(/^pulse_worker_heap_limit_bytes\{thread="derived"\} (\d+)$/m.exec(await small.metrics())?.[1]);
      expect(limit).toBeGreaterThanOrEqual(64 * 2 ** 20);
      expect(limit).toBeLessThan(128 * 2 ** 20);
      const now = BigInt(Date.now()) * 1_000_000n;
      let sent = 0;
      for (let batch = 0; batch < 200 && small.child.exitCode === null; batch++) {
        const spans = [];
        for (let i = 0; i < 2000; i++, sent++) {
          spans.push(makeSpan({ traceId: id((0x5000_0000 + sent).toString(16).padStart(32, '0')), name: 'POST /checkout', kind: 2, startTimeUnixNano: now, endTimeUnixNano: now + 1_000_000n }));
        }
        const body = encodeTraceRequest(makeBatch(spans, { 'service.name': 'shop' }));
        // 503 (relay busy) or a refused connection once the process is going down: keep sending until it exits.
        await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body }).catch(() => undefined);
      }
      await waitFor(() => small.child.exitCode !== null, 30_000, `Pulse to exit after ${sent} start spans`);
      expect(small.child.exitCode).toBe(1);
      expect(small.output()).toContain('derived-signals worker: its thread failed: Worker terminated due to reaching memory limit');
      expect(small.output()).toContain('service.derived_signals.max_heap, is 64 MiB');
    } finally {
      await small.stop();
    }
  }, 120_000);

  it('a derived-pipeline component that cannot start fails the start with its own message (exit 1)', () => {
    // A debug file under a regular file: its directory cannot be created.
    const blocker = join(work, 'not-a-directory');
    writeFileSync(blocker, '');
    const dir = mkdtempSync(join(tmpdir(), 'pulse-derived-worker-bad-'));
    const path = join(dir, 'pulse.yaml');
    writeFileSync(path, `${config(join(blocker, 'attempts.jsonl')).trimEnd()}\n  telemetry: { metrics: { enabled: false }, health: { enabled: false } }\n  data_dir: ${join(dir, 'data')}\n`);
    const run = spawnSync(process.execPath, [PULSE_BIN, 'start', '--config', path], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('PULSE_ERR_START: derived-signals worker: exporter debug/attempts: cannot open');
  });
});
