/**
 * The real executable, as a user runs it: `node bin/pulse …` on the dist/ built by vitest's global setup, with
 * the real components.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/pulse');
const dir = mkdtempSync(join(tmpdir(), 'pulse-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pulse(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function file(name: string, ...lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('bin/pulse', () => {
  it('validate: a valid config exits 0 with a summary', async () => {
    const cfg = file('ok.yaml', 'receivers:', '  otlp:', '    protocols:', '      http:', 'exporters:', '  debug:', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debug]');
    const r = await pulse('validate', '--config', cfg);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${cfg}: valid (1 pipeline, 2 components)\n`);
    expect(r.code).toBe(0);
  });

  it('validate: a broken config exits 1 with file:line:col for each problem', async () => {
    const cfg = file(
      'broken.yaml',
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      grpc:',
      '        endpoint: nowhere',
      'exporters:',
      '  debug:',
      '    verbosity: loud',
      'service:',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      exporters: [debug, otlphttp/next]',
    );
    const r = await pulse('validate', '--config', cfg);
    expect(r.code).toBe(1);
    for (const at of ['5:19', '8:16', '13:26']) expect(r.stdout).toContain(`${cfg}:${at}: `);
    expect(r.stdout).toContain('exporter "otlphttp/next" is not defined in exporters:');
  });

  it('start: an invalid config is refused before anything starts (exit 1, problems on stderr)', async () => {
    const cfg = file('start.yaml', 'receivers:', '  otlp:', 'exporters:', '  debug:', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debgu]');
    const r = await pulse('start', '--config', cfg);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${cfg}:9:19: exporter "debgu" is not defined in exporters: (did you mean "debug"?)`);
  });

  it('--version and -v print the package.json version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = await pulse(flag);
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('an unknown command exits 2 with usage on stderr', async () => {
    const r = await pulse('deploy');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('pulse: unknown command "deploy"');
    expect(r.stderr).toContain('Usage: pulse <command> [options]');
  });
});
