/**
 * `npm run bench -- --quick` (bench/e2e/run.mjs) on real ClickHouse and Kafka: it must finish within its budget and
 * report, per transport, steps whose numbers add up — a step that passes refused and lost nothing, every attempt
 * Pulse decided reached ClickHouse — without touching BENCHMARKS.md. No speed is asserted: CI machines vary and
 * other tests run alongside; the numbers live in BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/pulse-process.js';

interface Step {
  label: string;
  targetRate: number;
  passed: boolean;
  acceptedSpans: number;
  refusedSpans: number;
  lostSpans: number;
  forwardedSpans: number;
  pulseCpuSeconds: number;
  pulseCores: number;
  jsThreadCores: number;
  peakRssMiB: number;
  forwardLatencyMs: { samples: number; p50: number | null; p99: number | null };
}
interface Results {
  quick: boolean;
  machine: { node: string; cores: number };
  transports: Array<{ transport: string; sustained: Step | null; steps: Step[] }>;
  memory: Step | null;
  clickhouse: Record<string, number>;
  attemptsDecided: number;
  attemptsPendingAtStop: number;
  totalSeconds: number;
}

const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench -- --quick', () => {
  it('measures all three transports end to end and writes its JSON report, leaving BENCHMARKS.md alone', () => {
    const md = join(ROOT, 'BENCHMARKS.md');
    const mdBefore = statSync(md).mtimeMs;
    const out = join(dir, 'bench.json');
    const run = spawnSync(process.execPath, ['bench/e2e/run.mjs', '--quick', '--out', out, '--no-md'], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
    expect(run.status, run.stderr.slice(-3000)).toBe(0);
    expect(statSync(md).mtimeMs).toBe(mdBefore);

    const r = JSON.parse(readFileSync(out, 'utf8')) as Results;
    expect(r.quick).toBe(true);
    expect(r.machine.node).toBe(process.version);
    expect(r.totalSeconds).toBeLessThan(180);
    expect(r.transports.map((t) => t.transport)).toEqual(['http-proto', 'grpc', 'http-json']);
    for (const t of r.transports) {
      expect(t.steps.length).toBeGreaterThan(1);
      for (const s of t.steps) {
        expect(s.pulseCpuSeconds).toBeGreaterThan(0);
        // The JS thread is one of Pulse's threads: some of its CPU, never more (CPU is read in 10 ms ticks).
        expect(s.jsThreadCores).toBeGreaterThan(0);
        expect(s.jsThreadCores).toBeLessThanOrEqual(s.pulseCores + 0.05);
        expect(s.peakRssMiB).toBeGreaterThan(20);
        if (!s.passed) continue;
        expect(s.refusedSpans).toBe(0);
        expect(s.lostSpans).toBe(0);
        expect(s.forwardedSpans).toBeGreaterThanOrEqual(s.acceptedSpans);
        expect(s.forwardLatencyMs.samples).toBeGreaterThan(0);
      }
      // The highest passing step is the one reported.
      const passing = t.steps.filter((s) => s.passed && !['warm-up', 'settle', 'half'].includes(s.label));
      if (t.sustained) expect(t.sustained.targetRate).toBe(Math.max(...passing.map((s) => s.targetRate)));
    }
    // Every attempt Pulse decided is in ClickHouse, and nothing else is: at most the attempts still pending when
    // each Pulse was stopped come on top (its shutdown decides them after the bench's last scrape).
    expect(r.attemptsDecided).toBeGreaterThan(0);
    expect(r.clickhouse.journey_attempts).toBeGreaterThanOrEqual(r.attemptsDecided);
    expect(r.clickhouse.journey_attempts).toBeLessThanOrEqual(r.attemptsDecided + r.attemptsPendingAtStop);
    expect(r.clickhouse.journey_sli).toBeGreaterThan(0);
  }, 300_000);
});
