/** Test doubles for what the service hands an exporter: settings with a captured logger and a fresh registry. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { CreateSettings } from '../../../src/core/component.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';

export interface TestSettings extends CreateSettings {
  /** Every log line, parsed. */
  readonly logs: Array<Record<string, unknown> & { msg: string; level: number }>;
  readonly metrics: MetricsRegistry;
}

export function makeSettings(dataDir: string, id = 'test-exporter', metrics = new MetricsRegistry()): TestSettings {
  const logs: TestSettings['logs'] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as TestSettings['logs'][number]) });
  return { id, kind: 'exporter', logger, metrics, dataDir, logs };
}

/** A metric's value for one label set. */
export function metric(settings: TestSettings, name: string, labels: Record<string, string>): number {
  return settings.metrics.find(name)?.get(labels) ?? 0;
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'pulse-exporters-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export const host = { reportFatalError: (err: Error): void => void err };

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `check` is true (or throws after `timeoutMs`). */
export async function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
