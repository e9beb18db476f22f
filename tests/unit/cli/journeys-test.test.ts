/**
 * `bin/pulse journeys test` as a user runs it (the dist/ built by vitest's global setup), from the fixtures
 * directory so paths in the output are the relative ones the user typed.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JourneyTestReport } from '../../../src/journeys/testing/report.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/pulse');
const fixtures = join(root, 'tests/fixtures/journeys');

function pulse(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: fixtures, timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

const test = ['journeys', 'test', '--journeys', 'definitions'];

describe('bin/pulse journeys test', () => {
  it('prints the attempts per trace, notes and a summary, and exits 0', async () => {
    const r = await pulse([...test, '--traces', 'traces/checkout.jsonl', 'traces/late-start.json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual([
      'journeys: definitions (2 journeys: checkout, signup)',
      'traces:   traces/checkout.jsonl (6 requests, 19 spans, JSON Lines), traces/late-start.json (1 request, 1 span, one JSON document)',
    ]);
    expect(lines).toContain('trace 4bf92f3577b34da6a3ce929d0e0e0002');
    expect(lines).toContain('  ✗ checkout  failure: error:charge  (300 ms, started 2025-11-22T10:00:02.000Z)');
    expect(lines).toContain('      start   POST /api/checkout  frontend 5.0.1  span a000000000000201  unset                   300 ms  traces/checkout.jsonl:3');
    expect(lines).toContain('  ✗ checkout  failure: missing_step:charge  (300 ms, started 2025-11-22T10:00:03.000Z)');
    expect(lines.filter((l) => l.startsWith('  ✓ checkout  success'))).toHaveLength(4);
    expect(lines.some((l) => l.startsWith('  ! no attempts for journey signup — check its start selector'))).toBe(true);
    expect(lines).toContain('summary: 8 traces (7 with journey spans), 6 attempts: 4 succeeded, 2 failed; 1 journey span in no attempt');
  });

  it('prints one JSON document with --format json', async () => {
    const r = await pulse([...test, '--traces', 'traces/checkout.jsonl', '--traces', 'traces/late-start.json', '--format', 'json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JourneyTestReport;
    expect(report.valid).toBe(true);
    expect(report.summary).toMatchObject({ traces: 8, attempts: 6, successes: 4, failures: 2 });
    const failing = report.traces.find((t) => t.traceId === '4bf92f3577b34da6a3ce929d0e0e0002')!.attempts[0]!;
    expect(failing).toMatchObject({ reasons: ['error:charge'], failingStep: { step: 'charge', service: 'payments', version: '2.8.1' }, startTimeUnixNano: '1763805602000000000' });
    expect(report.notes.map((n) => `${n.journey}:${n.kind}`)).toEqual(['signup:no_attempts']);
  });

  it('reads traces from standard input with -', async () => {
    const r = await pulse([...test, '--traces', '-', '--format', 'json'], readFileSync(join(fixtures, 'traces/checkout.jsonl'), 'utf8'));
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as JourneyTestReport).inputs).toEqual([{ file: '(stdin)', format: 'jsonl', requests: 6, spans: 19, rejectedSpans: 0 }]);
  });

  it('exits 1 with file:line:col for invalid definitions', async () => {
    const r = await pulse(['journeys', 'test', '--journeys', 'broken', '--traces', 'traces/checkout.jsonl']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').slice(0, 3).map((l) => l.slice(0, l.indexOf(': ')))).toEqual([
      'broken/checkout.yaml:6:3',
      'broken/checkout.yaml:11:11',
      'broken/checkout.yaml:18:19',
    ]);
    expect(r.stdout).toContain('broken: 3 errors; nothing was tested');
  });

  it('exits 2 naming file:line for a malformed trace file, with nothing on stdout', async () => {
    const r = await pulse([...test, '--traces', 'traces/malformed.jsonl']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('traces/malformed.jsonl:2:121: invalid JSON: ');
    expect(r.stderr).toContain('traces/malformed.jsonl:3: not an OTLP/JSON traces request');
  });

  it('exits 2 with usage for a wrong command line, and is listed in pulse help', async () => {
    const r = await pulse([...test]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--traces <file...> is required');
    const flag = await pulse([...test, '--traces', 'traces/checkout.jsonl', '--colour']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--colour'");
    const help = await pulse(['help']);
    expect(help.stdout).toMatch(/^ {2}journeys +Check journey definitions on their own \(validate\), or test them against recorded traces/m);
  });
});

describe('bin/pulse journeys validate', () => {
  it('checks the definitions alone: valid with their names (exit 0), or every problem at file:line:col (exit 1)', async () => {
    const ok = await pulse(['journeys', 'validate', '--journeys', 'definitions']);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n').at(-1)).toMatch(/^definitions: valid \(\d+ journeys?: [a-z0-9-, ]+\)$/);
    const bad = await pulse(['journeys', 'validate', '-j', 'broken']);
    expect(bad.code).toBe(1);
    expect(bad.stdout.split('\n').slice(0, 3).map((l) => l.slice(0, l.indexOf(': ')))).toEqual([
      'broken/checkout.yaml:6:3',
      'broken/checkout.yaml:11:11',
      'broken/checkout.yaml:18:19',
    ]);
    expect(bad.stdout.trim().split('\n').at(-1)).toBe('broken: 3 errors');
    const json = await pulse(['journeys', 'validate', '-j', 'broken', '--format', 'json']);
    const doc = JSON.parse(json.stdout) as { valid: boolean; issues: Array<{ line: number; severity: string }> };
    expect(doc.valid).toBe(false);
    expect(doc.issues.map((i) => [i.line, i.severity])).toEqual([
      [6, 'error'],
      [11, 'error'],
      [18, 'error'],
    ]);
    const usage = await pulse(['journeys', 'validate', '-j', 'definitions', '--traces', 'traces/checkout.jsonl']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--traces belongs to journeys test');
  });

  it('pulse validate given a journey file says what it is and which command checks it', async () => {
    const r = await pulse(['validate', '--config', 'broken/checkout.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain('broken/checkout.yaml:1:1: this is a journey definition (kind: Journey), not a Pulse config: check it with `pulse journeys validate --journeys broken/checkout.yaml`');
  });
});
