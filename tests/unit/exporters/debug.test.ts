import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsumingComponent } from '../../../src/core/component.js';
import { configSchema } from '../../../src/exporters/debug/config.js';
import { debugExporterFactory } from '../../../src/exporters/debug/factory.js';
import { decodeTraceRequestJson } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { host, makeSettings, metric, tempDir, type TestSettings } from './settings.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let settings: TestSettings;
let exporters: Array<ConsumingComponent<'traces'>> = [];

beforeEach(async () => {
  dir = await tempDir();
  settings = makeSettings(dir.path, 'debug');
});

afterEach(async () => {
  await Promise.all(exporters.map((e) => e.shutdown()));
  exporters = [];
  await dir.remove();
});

async function exporter(over: Record<string, unknown>): Promise<ConsumingComponent<'traces'>> {
  const e = debugExporterFactory.create.traces!(settings, configSchema.parse(over));
  exporters.push(e);
  await e.start(host);
  return e;
}

describe('debug exporter', () => {
  it('defaults to basic verbosity without a file', () => {
    expect(configSchema.parse({})).toEqual({ verbosity: 'basic', write_timeout: 5000, max_buffered: 16 * 1024 * 1024 });
  });

  it('writes each batch as one OTLP/JSON line that decodes back to the same batch', async () => {
    const path = join(dir.path, 'sub', 'traces.jsonl');
    const e = await exporter({ path });
    const batches = [1, 2, 3].map((seed) => makeRealisticBatch({ services: 2, spansPerService: 10, seed }));
    for (const b of batches) await e.consume(b);
    await e.shutdown();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => decodeTraceRequestJson(l).batch)).toEqual([1, 2, 3].map((seed) => makeRealisticBatch({ services: 2, spansPerService: 10, seed })));
    expect(metric(settings, 'pulse_exporter_sent_items_total', { exporter: 'debug' })).toBe(60);
  });

  it('appends to an existing file', async () => {
    const path = join(dir.path, 'traces.jsonl');
    const a = await exporter({ path });
    await a.consume(makeRealisticBatch({ services: 1, spansPerService: 2, seed: 1 }));
    await a.shutdown();
    const b = await exporter({ path });
    await b.consume(makeRealisticBatch({ services: 1, spansPerService: 2, seed: 2 }));
    await b.shutdown();
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('logs one line per batch at basic, one per scope at normal, one per span at detailed', async () => {
    const batch = makeRealisticBatch({ services: 2, spansPerService: 5, seed: 3 });
    let scopes = 0;
    for (const rs of batch.resourceSpans) scopes += rs.scopeSpans.length;

    await (await exporter({ verbosity: 'basic' })).consume(batch);
    expect(settings.logs.filter((l) => l.msg === 'traces')).toEqual([expect.objectContaining({ spans: 10, resources: 2 })]);

    settings.logs.length = 0;
    await (await exporter({ verbosity: 'normal' })).consume(batch);
    const perScope = settings.logs.filter((l) => l.msg === 'traces');
    expect(perScope).toHaveLength(scopes);
    expect(perScope.every((l) => typeof l.service === 'string' && typeof l.names === 'string')).toBe(true);

    settings.logs.length = 0;
    await (await exporter({ verbosity: 'detailed' })).consume(batch);
    const spans = settings.logs.filter((l) => l.msg === 'span');
    expect(spans).toHaveLength(10);
    expect(spans[0]).toMatchObject({ traceId: expect.stringMatching(/^[0-9a-f]{32}$/), attributes: expect.any(Object) });
  });

  it('fails start with a clear error when the file cannot be opened', async () => {
    const blocker = join(dir.path, 'a-file');
    await writeFile(blocker, '');
    const e = debugExporterFactory.create.traces!(settings, configSchema.parse({ path: join(blocker, 'traces.jsonl') }));
    await expect(e.start(host)).rejects.toMatchObject({ code: 'PULSE_ERR_DEBUG_FILE' });
  });

  it('refuses data after shutdown, and shuts down idempotently', async () => {
    const e = await exporter({ path: join(dir.path, 't.jsonl') });
    await e.shutdown();
    await e.shutdown();
    await expect(e.consume(makeRealisticBatch({ services: 1, spansPerService: 1 }))).rejects.toMatchObject({ code: 'PULSE_ERR_SHUTTING_DOWN' });
  });
});
