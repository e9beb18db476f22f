/**
 * The files users and editors read (schemas/*.json, config/*.yaml) agree with the code: the committed schema is
 * what the generator produces now (fails when stale: run `npm run schema`), and the sample configs load with the
 * real components and fit the schema's structure.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../../src/components.js';
import { loadConfig } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/model.js';
import { renderSchema, schemaFiles } from '../../../src/config/schema-files.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string) => readFileSync(`${root}${file}`, 'utf8');
type Obj = Record<string, unknown>;

const SAMPLES = ['config/pulse.yaml', 'config/gateway.yaml', 'config/evaluator.yaml'];
const SECTIONS = ['receivers', 'processors', 'exporters', 'connectors'] as const;

describe('committed schemas', () => {
  for (const { file, build } of schemaFiles(defaultRegistry())) {
    it(`${file} is what the code generates (else: npm run schema)`, () => {
      let committed: string | undefined;
      try {
        committed = read(file);
      } catch {
        committed = undefined;
      }
      expect(committed, `${file} is missing: run npm run schema`).toBeDefined();
      expect(committed === renderSchema(build()), `${file} is stale: run npm run schema`).toBe(true);
    });
  }

  it('has a patternProperties entry for every registered component type, and the pipelines schema', () => {
    const schema = JSON.parse(read('schemas/pulse-config.schema.json')) as Obj;
    const props = schema.properties as Record<string, Obj>;
    const registry = defaultRegistry();
    for (const section of SECTIONS) {
      const patterns = Object.keys(props[section]!.patternProperties as Obj);
      for (const type of registry[section].keys()) expect(patterns).toContain(`^${type}(/[A-Za-z0-9_.-]+)?$`);
    }
    const service = props.service!.properties as Record<string, Obj>;
    expect(Object.keys(service.pipelines!.patternProperties as Obj)).toEqual([
      '^traces(/[A-Za-z0-9_.-]+)?$',
      '^attempts(/[A-Za-z0-9_.-]+)?$',
      '^journey_metrics(/[A-Za-z0-9_.-]+)?$',
      '^alerts(/[A-Za-z0-9_.-]+)?$',
    ]);
  });
});

describe('sample configs', () => {
  const schema = () => JSON.parse(read('schemas/pulse-config.schema.json')) as Obj;

  for (const file of SAMPLES) {
    it(`${file} loads with the real components, without warnings`, () => {
      const result = loadConfig(`${root}${file}`, defaultRegistry(), {});
      const issues = 'issues' in result ? result.issues : [];
      expect([...issues, ...result.warnings].map(formatIssue)).toEqual([]);
    });

    it(`${file} points editors at the schema and fits its structure`, () => {
      const text = read(file);
      expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/pulse-config.schema.json');
      const doc = parse(text) as Record<string, Record<string, Obj | null>>;
      const props = schema().properties as Record<string, Obj>;
      expect(Object.keys(doc).every((k) => k in props)).toBe(true);
      for (const section of SECTIONS) {
        const patterns = props[section]!.patternProperties as Record<string, Obj>;
        for (const [id, body] of Object.entries(doc[section] ?? {})) {
          const match = Object.entries(patterns).find(([re]) => new RegExp(re).test(id));
          expect(match, `${section}.${id} matches no patternProperties entry`).toBeDefined();
          const allowed = Object.keys((match![1].properties ?? {}) as Obj);
          for (const key of Object.keys(body ?? {})) expect(allowed, `${section}.${id}.${key}`).toContain(key);
        }
      }
    });
  }
});

describe('benchmark configs', () => {
  // What bench/e2e/run.mjs sets when it starts Pulse with them.
  const env = {
    PULSE_BENCH_HTTP: '127.0.0.1:14318',
    PULSE_BENCH_GRPC: '127.0.0.1:14317',
    PULSE_BENCH_METRICS: '127.0.0.1:18888',
    PULSE_BENCH_HEALTH: '127.0.0.1:13133',
    PULSE_BENCH_FORWARD: 'http://127.0.0.1:14319',
    PULSE_BENCH_CLICKHOUSE: 'http://127.0.0.1:18123',
    PULSE_BENCH_KAFKA: '127.0.0.1:19092',
    PULSE_BENCH_DATA_DIR: '/tmp/pulse-bench-config-test',
    PULSE_BENCH_JOURNEYS: `${root}bench/e2e/journeys`,
  };
  for (const file of ['bench/e2e/pulse.yaml', 'bench/e2e/pulse-forward.yaml']) {
    it(`${file} loads with the real components and the values the benchmark sets, without warnings`, () => {
      const result = loadConfig(`${root}${file}`, defaultRegistry(), env);
      const issues = 'issues' in result ? result.issues : [];
      expect([...issues, ...result.warnings].map(formatIssue)).toEqual([]);
    });
  }

  it('bench/e2e/pulse.yaml takes the settings the environment may change (tag_spans, forward compression)', () => {
    const result = loadConfig(`${root}bench/e2e/pulse.yaml`, defaultRegistry(), { ...env, PULSE_BENCH_TAG_SPANS: 'false', PULSE_BENCH_FORWARD_COMPRESSION: 'none' });
    if (!('config' in result)) throw new Error(result.issues.map(formatIssue).join('\n'));
    expect(result.config.connectors.get('journeys')?.config).toMatchObject({ tag_spans: false });
    expect(result.config.exporters.get('otlphttp')?.config).toMatchObject({ compression: 'none' });
  });

  it('bench/e2e/pulse-forward.yaml forwards like the reference Collector config: the same queue, no journeys', () => {
    type Doc = { connectors?: Obj; exporters: Record<string, Obj>; processors: Record<string, Obj> };
    const pulse = parse(read('bench/e2e/pulse-forward.yaml')) as Doc;
    const otelcol = parse(read('bench/e2e/otelcol.yaml')) as Doc;
    expect(Object.keys(pulse.connectors ?? {})).toEqual([]);
    expect(pulse.exporters.otlphttp!.sending_queue).toEqual(otelcol.exporters.otlp_http!.sending_queue);
    expect(pulse.processors.memory_limiter).toEqual(otelcol.processors.memory_limiter);
    // Pulse's gzip level 1 is its default; the Collector's config has to say it.
    expect(otelcol.exporters.otlp_http!.compression_params).toEqual({ level: 1 });
  });
});
