/**
 * `main()` in-process, with fake components and a fake service: command dispatch, exit codes, output streams.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main, type CliDeps } from '../../../src/cli.js';
import { fakeRegistry } from '../config/fake-registry.js';

const dir = mkdtempSync(join(tmpdir(), 'pulse-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, ...lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const good = file('good.yaml', 'receivers:', '  otlp:', '  otlp/spare:', 'exporters:', '  debug:', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debug]');
const bad = file('bad.yaml', 'receivers:', '  otlp:', 'exporters:', '  debug: { verbosity: loud }', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debugg]');

async function run(argv: string[], runStart: CliDeps['runStart'] = () => Promise.resolve(0)) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), registry: fakeRegistry, runStart });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('pulse validate', () => {
  it('prints warnings and a summary and exits 0 for a valid config', async () => {
    const r = await run(['validate', '--config', good]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `${good}:3:3: warning: receiver "otlp/spare" is defined but no pipeline uses it; it will not be started\n` +
        `${good}: valid (1 pipeline, 3 components, 1 warning)`,
    );
    expect(r.err).toBe('');
  });

  it('prints every problem as file:line:col and exits 1', async () => {
    const r = await run(['validate', '-c', bad]);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')).toEqual([
      `${bad}:4:23: exporters.debug.verbosity: must be one of "basic", "normal", "detailed", got the string "loud"`,
      `${bad}:9:19: exporter "debugg" is not defined in exporters: (did you mean "debug"?)`,
      `${bad}: 2 errors`,
    ]);
  });

  it('reports problems in the files a component points at (journeys) after the config file’s own', async () => {
    const lines = (directory: string) => [
      'receivers:',
      '  otlp:',
      '  otlp/spare:',
      'exporters:',
      '  debug:',
      'connectors:',
      `  journeys: { directory: ${directory} }`,
      'service:',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [journeys] }',
      '    attempts: { receivers: [journeys], exporters: [debug] }',
    ];
    const broken = file('journeys-broken.yaml', ...lines('broken'));
    const r = await run(['validate', '--config', broken]);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')).toEqual([
      `${broken}:3:3: warning: receiver "otlp/spare" is defined but no pipeline uses it; it will not be started`,
      'broken/checkout.yaml:3:9: warning: metadata.owner is empty',
      'broken/checkout.yaml:7:5: spec.start.service is required',
      'broken/signup.yaml:2:1: kind: must be "Journey"',
      `${broken}: 2 errors, 2 warnings`,
    ]);
    const fine = file('journeys-good.yaml', ...lines('journeys'));
    expect((await run(['validate', '--config', fine])).out).toBe(
      `${fine}:3:3: warning: receiver "otlp/spare" is defined but no pipeline uses it; it will not be started\n` +
        `${fine}: valid (2 pipelines, 4 components, 1 warning)`,
    );
  });

  it('reports a missing file and exits 1', async () => {
    const r = await run(['validate', '--config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('nope.yaml: cannot read the config file: no such file');
  });
});

describe('pulse start', () => {
  it('validates first: an invalid config is printed to stderr, exit 1, and the service never runs', async () => {
    const runStart = vi.fn(() => Promise.resolve(0));
    const r = await run(['start', '--config', bad], runStart);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:9:19: exporter "debugg"`);
    expect(r.err).toContain('not starting');
    expect(runStart).not.toHaveBeenCalled();
  });

  it('runs the service with the config path and registry, and exits with its code', async () => {
    const runStart = vi.fn<CliDeps['runStart']>(() => Promise.resolve(3));
    const r = await run(['start', '--config', good], runStart);
    expect(r.code).toBe(3);
    expect(runStart).toHaveBeenCalledWith({ configPath: good, registry: expect.objectContaining({ receivers: expect.any(Map) }) });
  });
});

describe('command line errors and help', () => {
  it('exits 2 with usage on stderr for an unknown command, an unknown flag, a stray argument or no command', async () => {
    for (const argv of [['frobnicate'], ['validate', '--conifg', 'x'], ['validate', 'x.yaml'], [], ['--bogus']]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toContain('Usage: pulse <command>');
      expect(r.out).toBe('');
    }
  });

  it('prints usage for help, --help and a command’s --help', async () => {
    for (const argv of [['help'], ['--help'], ['-h']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: pulse <command> \[options\]\n\nCommands:\n {2}start/);
    }
    const r = await run(['validate', '--help']);
    expect(r.out).toMatch(/^Usage: pulse validate \[--config <file>\]/);
    expect((await run(['help', 'nope'])).code).toBe(2);
  });
});
