import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Component, ConsumingComponent } from '../../../src/core/component.js';
import { configSchema } from '../../../src/exporters/debug/config.js';
import { debugExporterFactory } from '../../../src/exporters/debug/factory.js';
import { hexToId } from '../../../src/core/model.js';
import type { AttemptRecord, SliWindow } from '../../../src/journeys/model.js';
import { decodeTraceRequestJson } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { host, makeSettings, metric, tempDir, type TestSettings } from './settings.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let settings: TestSettings;
let exporters: Component[] = [];

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

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

function attempt(over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    journey: 'checkout',
    traceId: hexToId(TRACE)!,
    startSpanId: hexToId(SPAN)!,
    startTimeUnixNano: 1_700_000_000_123_456_789n,
    durationMs: 412.5,
    outcome: 'success',
    reasons: [],
    signals: [],
    segments: { 'customer.tier': 'enterprise', release: '1.4.2' },
    services: [{ service: 'frontend', version: '1.4.2' }],
    failingStep: undefined,
    spans: [{ step: 'start', spanId: hexToId(SPAN)!, service: 'frontend', version: '1.4.2', statusCode: 0, durationMs: 412.5 }],
    decidedBy: 'complete',
    decidedAtMs: 1_700_000_001_000,
    ...over,
  };
}

const failed = attempt({
  outcome: 'failure',
  reasons: ['missing_step:charge', 'slow'],
  signals: ['duplicate_calls:confirm'],
  failingStep: { step: 'charge', service: 'payments', version: '2.0.0' },
});

function sliRow(over: Partial<SliWindow> = {}): SliWindow {
  return {
    journey: 'checkout',
    windowStartMs: Date.UTC(2026, 0, 2, 3, 4, 10),
    windowSeconds: 10,
    segmentKey: 'customer.tier',
    segmentValue: 'enterprise',
    attempts: 3,
    successes: 2,
    failures: 1,
    abandoned: 0,
    failuresByReason: { slow: 1 },
    latencyBoundsMs: [10, 100, 1000],
    latencyCounts: [0, 1, 2, 0],
    latencySumMs: 1300,
    ...over,
  };
}

describe('debug exporter: attempts', () => {
  async function attemptsExporter(over: Record<string, unknown>): Promise<ConsumingComponent<'attempts'>> {
    const e = debugExporterFactory.create.attempts!(settings, configSchema.parse(over));
    exporters.push(e);
    await e.start(host);
    return e;
  }

  it('logs counts at basic, one line per attempt at normal, the whole record at detailed', async () => {
    await (await attemptsExporter({ verbosity: 'basic' })).consume([attempt(), failed, attempt()]);
    expect(settings.logs.filter((l) => l.msg === 'attempts')).toEqual([expect.objectContaining({ attempts: 3, successes: 2, failures: 1 })]);

    settings.logs.length = 0;
    await (await attemptsExporter({ verbosity: 'normal' })).consume([attempt(), failed]);
    const lines = settings.logs.filter((l) => l.msg === 'attempt');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      journey: 'checkout',
      traceId: TRACE,
      outcome: 'failure',
      reasons: ['missing_step:charge', 'slow'],
      signals: ['duplicate_calls:confirm'],
      segments: { 'customer.tier': 'enterprise', release: '1.4.2' },
      durationMs: 412.5,
    });

    settings.logs.length = 0;
    await (await attemptsExporter({ verbosity: 'detailed' })).consume([failed]);
    expect(settings.logs.filter((l) => l.msg === 'attempt')).toEqual([
      expect.objectContaining({
        traceId: TRACE,
        startSpanId: SPAN,
        startTimeUnixNano: '1700000000123456789',
        failingStep: { step: 'charge', service: 'payments', version: '2.0.0' },
        spans: [expect.objectContaining({ spanId: SPAN, step: 'start' })],
        decidedBy: 'complete',
      }),
    ]);
    expect(metric(settings, 'pulse_exporter_sent_items_total', { exporter: 'debug' })).toBe(6);
  });

  it('writes one JSON object per attempt, with hex ids and the start time as a decimal string', async () => {
    const path = join(dir.path, 'attempts.jsonl');
    const e = await attemptsExporter({ path });
    await e.consume([attempt(), failed]);
    await e.consume([]);
    await e.shutdown();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toMatchObject({ journey: 'checkout', traceId: TRACE, startSpanId: SPAN, startTimeUnixNano: '1700000000123456789', outcome: 'success' });
    expect(parsed[1]).toMatchObject({ outcome: 'failure', reasons: ['missing_step:charge', 'slow'], failingStep: { step: 'charge' } });
    expect(BigInt(parsed[0]!.startTimeUnixNano as string)).toBe(1_700_000_000_123_456_789n);
  });
});

describe('debug exporter: journey metrics', () => {
  async function metricsExporter(over: Record<string, unknown>): Promise<ConsumingComponent<'journey_metrics'>> {
    const e = debugExporterFactory.create.journey_metrics!(settings, configSchema.parse(over));
    exporters.push(e);
    await e.start(host);
    return e;
  }

  it('logs the row count at basic, one line per row at normal, the whole row at detailed', async () => {
    const rows = [sliRow(), sliRow({ segmentKey: '', segmentValue: '', attempts: 4, successes: 4, failures: 0, failuresByReason: {} }), sliRow({ attempts: 0, successes: 0, failures: 0 })];
    await (await metricsExporter({ verbosity: 'basic' })).consume(rows);
    expect(settings.logs.filter((l) => l.msg === 'journey_metrics')).toEqual([expect.objectContaining({ rows: 3 })]);

    settings.logs.length = 0;
    await (await metricsExporter({ verbosity: 'normal' })).consume(rows);
    expect(settings.logs.filter((l) => l.msg === 'journey_metric').map(({ journey, windowStart, segment, attempts, successRatio }) => ({ journey, windowStart, segment, attempts, successRatio }))).toEqual([
      { journey: 'checkout', windowStart: '2026-01-02T03:04:10.000Z', segment: 'customer.tier=enterprise', attempts: 3, successRatio: 0.6667 },
      { journey: 'checkout', windowStart: '2026-01-02T03:04:10.000Z', segment: 'all', attempts: 4, successRatio: 1 },
      { journey: 'checkout', windowStart: '2026-01-02T03:04:10.000Z', segment: 'customer.tier=enterprise', attempts: 0, successRatio: null },
    ]);

    settings.logs.length = 0;
    await (await metricsExporter({ verbosity: 'detailed' })).consume([sliRow()]);
    expect(settings.logs.filter((l) => l.msg === 'journey_metric')).toEqual([expect.objectContaining({ ...sliRow() })]);
  });

  it('writes one JSON object per row', async () => {
    const path = join(dir.path, 'metrics.jsonl');
    const e = await metricsExporter({ path });
    await e.consume([sliRow(), sliRow({ segmentValue: 'free' })]);
    await e.shutdown();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([sliRow(), sliRow({ segmentValue: 'free' })]);
  });
});
