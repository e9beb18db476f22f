import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runStart } from '../../../src/service/run.js';
import { fakeRegistry, makeBatch } from './fakes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-run-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function configText(exporter: string): string {
  return `receivers:
  fake:
exporters:
  ${exporter}:
service:
  pipelines:
    traces:
      receivers: [fake]
      exporters: [${exporter}]
  telemetry:
    health: { address: 127.0.0.1:0 }
    metrics: { address: 127.0.0.1:0 }
  shutdown_timeout: 2s
  data_dir: ${join(dir, 'data')}
`;
}

/** A logger whose JSON lines the test can read. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('runStart', () => {
  it('prints every config issue as file:line:col and returns 1 without starting anything', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, configText('rec').replace('exporters: [rec]', 'exporters: [rec, nope]'));
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    const fakes = fakeRegistry();
    expect(await runStart({ configPath: path, registry: fakes.registry, logger: pino({ level: 'silent' }) })).toBe(1);
    expect(stderr.join('')).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:\\d+: .*nope`, 'm'));
    expect(fakes.events).toEqual([]);
  });

  it('runs until SIGTERM, reloads on SIGHUP, keeps running on an invalid reload, and exits 0', async () => {
    const path = join(dir, 'pulse.yaml');
    writeFileSync(path, configText('rec/old'));
    const fakes = fakeRegistry();
    const { logger, lines } = capturingLogger();
    const exit = runStart({ configPath: path, registry: fakes.registry, logger });
    await until(() => lines.some((l) => l.msg === 'Pulse started'), 'the started line');
    const started = lines.find((l) => l.msg === 'Pulse started')!;
    expect(started).toMatchObject({ pipelines: ['traces'], health: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect((await fetch(`http://${started.health as string}/readyz`)).status).toBe(200);

    writeFileSync(path, configText('rec/new'));
    process.emit('SIGHUP', 'SIGHUP');
    await until(() => fakes.exporters.get('rec/new')?.running === true, 'the new exporter');
    expect(fakes.exporters.get('rec/old')!.running).toBe(false);

    writeFileSync(path, configText('rec/new').replace('[fake]', '[missing]'));
    process.emit('SIGHUP', 'SIGHUP');
    await until(() => lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), 'the refused reload');
    expect(lines.some((l) => typeof l.msg === 'string' && l.msg.includes(`${path}:8:`))).toBe(true);
    await fakes.receivers.get('fake')!.push(makeBatch(1));
    expect(fakes.exporters.get('rec/new')!.received).toHaveLength(1);

    process.emit('SIGTERM', 'SIGTERM');
    expect(await exit).toBe(0);
    expect(fakes.exporters.get('rec/new')!.running).toBe(false);
    expect(process.listenerCount('SIGHUP')).toBe(0);
  });

  it('shuts down and returns 1 when a component reports a fatal error', async () => {
    const path = join(dir, 'pulse.yaml');
    writeFileSync(path, configText('rec'));
    const fakes = fakeRegistry();
    const { logger, lines } = capturingLogger();
    const exit = runStart({ configPath: path, registry: fakes.registry, logger });
    await until(() => lines.some((l) => l.msg === 'Pulse started'), 'the started line');
    fakes.receivers.get('fake')!.host!.reportFatalError(new Error('socket died'));
    expect(await exit).toBe(1);
    expect(fakes.events.slice(-2)).toEqual(['shutdown receiver fake', 'shutdown exporter rec']);
    expect(lines.some((l) => l.level === 60 && typeof l.msg === 'string' && l.msg.includes('receiver fake: socket died'))).toBe(true);
  });

  it('returns 1 when a component fails to start', async () => {
    const path = join(dir, 'pulse.yaml');
    writeFileSync(path, configText('rec').replace('  fake:\n', '  fake:\n    fail_start: listen EADDRINUSE 0.0.0.0:4318\n'));
    const fakes = fakeRegistry();
    const { logger, lines } = capturingLogger();
    expect(await runStart({ configPath: path, registry: fakes.registry, logger })).toBe(1);
    expect(lines.some((l) => typeof l.msg === 'string' && l.msg.includes('PULSE_ERR_START: receiver fake: listen EADDRINUSE'))).toBe(true);
  });
});
