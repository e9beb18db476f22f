import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { buildConfigJsonSchema, idPattern, type JsonSchema } from '../../../src/config/json-schema.js';
import type { ComponentRegistry } from '../../../src/components.js';
import { fakeRegistry } from './fake-registry.js';

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: string[]): Obj => path.reduce<Obj>((acc, k) => acc[k] as Obj, o as Obj);

describe('buildConfigJsonSchema', () => {
  const schema = buildConfigJsonSchema(fakeRegistry());

  it('is a draft-07 schema of a map with exactly the five sections', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(get(schema, 'properties'))).toEqual(['receivers', 'processors', 'exporters', 'connectors', 'service']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['service']);
  });

  it('has one patternProperties entry per component type, allowing type/name ids and nothing else', () => {
    const exporters = get(schema, 'properties', 'exporters');
    expect(Object.keys(exporters.patternProperties as Obj)).toEqual(['^debug(/[A-Za-z0-9_.-]+)?$', '^otlphttp(/[A-Za-z0-9_.-]+)?$']);
    expect(exporters.additionalProperties).toBe(false);
    const re = new RegExp(idPattern(['otlphttp']));
    expect(['otlphttp', 'otlphttp/next-hop.1'].every((id) => re.test(id))).toBe(true);
    expect(['otlphttpx', 'otlphttp/', 'otlphttp/a b', 'x/otlphttp'].some((id) => re.test(id))).toBe(false);
  });

  it('describes each component with its input shape: descriptions, defaults as written, empty allowed', () => {
    const batch = get(schema, 'properties', 'processors', 'patternProperties', '^batch(/[A-Za-z0-9_.-]+)?$');
    expect(batch.description).toBe('Batches spans');
    expect(batch.type).toEqual(['object', 'null']);
    expect(batch.additionalProperties).toBe(false);
    // A duration is text (`200ms`), or the bare number 0.
    expect(get(batch, 'properties', 'timeout')).toMatchObject({
      anyOf: [{ type: 'string' }, { const: 0 }],
      default: '200ms',
      description: 'Longest wait before sending a partial batch',
    });
    // Embedded component schemas do not repeat "$schema" (only the root has it).
    expect(JSON.stringify(schema).split('"$schema"').length).toBe(2);
  });

  it('describes pipelines by signal, with component ids restricted to known types', () => {
    const pipelines = get(schema, 'properties', 'service', 'properties', 'pipelines');
    const traces = get(pipelines, 'patternProperties', '^traces(/[A-Za-z0-9_.-]+)?$');
    expect(traces.required).toEqual(['receivers', 'exporters']);
    expect(get(traces, 'properties', 'exporters', 'items').pattern).toBe('^(debug|forward|journeys|otlphttp)(/[A-Za-z0-9_.-]+)?$');
    expect(pipelines.additionalProperties).toBe(false);
    expect(Object.keys(pipelines.patternProperties as Obj)).toEqual([
      '^traces(/[A-Za-z0-9_.-]+)?$',
      '^attempts(/[A-Za-z0-9_.-]+)?$',
      '^journey_metrics(/[A-Za-z0-9_.-]+)?$',
      '^alerts(/[A-Za-z0-9_.-]+)?$',
    ]);
    const telemetry = JSON.stringify(get(schema, 'properties', 'service', 'properties', 'telemetry'));
    expect(telemetry).toContain('"enabled"');
    expect(telemetry).toContain('0.0.0.0:8888');
  });

  it('has a connectors section like the other component sections', () => {
    const connectors = get(schema, 'properties', 'connectors');
    expect(Object.keys(connectors.patternProperties as Obj)).toEqual(['^forward(/[A-Za-z0-9_.-]+)?$', '^journeys(/[A-Za-z0-9_.-]+)?$']);
    expect(connectors.additionalProperties).toBe(false);
    const journeys = get(connectors, 'patternProperties', '^journeys(/[A-Za-z0-9_.-]+)?$');
    expect(journeys.description).toBe('Journeys');
    expect(get(journeys, 'properties', 'directory')).toMatchObject({ type: 'string', default: 'journeys' });
  });

  it('lets each pipeline list exactly the types that fit its signal, connectors by what they consume and produce', () => {
    const pipeline = (signal: string) => get(schema, 'properties', 'service', 'properties', 'pipelines', 'patternProperties', `^${signal}(/[A-Za-z0-9_.-]+)?$`, 'properties');
    const pattern = (signal: string, list: string) => get(pipeline(signal), list, 'items').pattern;
    expect(pattern('traces', 'receivers')).toBe('^(forward|journeys|otlp)(/[A-Za-z0-9_.-]+)?$');
    expect(pattern('traces', 'exporters')).toBe('^(debug|forward|journeys|otlphttp)(/[A-Za-z0-9_.-]+)?$');
    expect(pattern('attempts', 'receivers')).toBe('^journeys(/[A-Za-z0-9_.-]+)?$');
    expect(pattern('attempts', 'exporters')).toBe('^debug(/[A-Za-z0-9_.-]+)?$');
    expect(pattern('journey_metrics', 'exporters')).toBe('^debug(/[A-Za-z0-9_.-]+)?$');
    // No processor handles attempts in this registry: the list accepts no item.
    expect(get(pipeline('attempts'), 'processors')).toMatchObject({ maxItems: 0 });
  });

  it('moves the definitions of recursive schemas to the root, with their references rewritten', () => {
    interface Tree {
      name: string;
      children?: Tree[] | undefined;
    }
    const tree: z.ZodType<Tree> = z.lazy(() => z.strictObject({ name: z.string(), children: z.array(tree).optional() }));
    const registry: ComponentRegistry = {
      ...fakeRegistry(),
      processors: new Map([['tree', { kind: 'processor', type: 'tree', description: 'Recursive', configSchema: z.strictObject({ root: tree }), create: {} }]]),
    };
    const js = buildConfigJsonSchema(registry);
    const refs = JSON.stringify(js).match(/"\$ref":"[^"]*"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    const defs = (js.definitions ?? {}) as JsonSchema;
    for (const ref of refs) {
      const name = /#\/definitions\/(.*)"$/.exec(ref)?.[1];
      expect(name !== undefined && name in defs, ref).toBe(true);
    }
  });
});

describe('buildConfigJsonSchema: closed objects', () => {
  it('closes plain z.object schemas like the loader does, and leaves records open', () => {
    const registry: ComponentRegistry = {
      ...fakeRegistry(),
      exporters: new Map([
        [
          'plain',
          {
            kind: 'exporter',
            type: 'plain',
            description: 'Plain object',
            configSchema: z.object({ nested: z.object({ a: z.number() }).optional(), headers: z.record(z.string(), z.string()).optional() }),
            create: {},
          },
        ],
      ]),
    };
    const plain = get(buildConfigJsonSchema(registry), 'properties', 'exporters', 'patternProperties', '^plain(/[A-Za-z0-9_.-]+)?$');
    expect(plain.additionalProperties).toBe(false);
    expect(get(plain, 'properties', 'nested').additionalProperties).toBe(false);
    expect(get(plain, 'properties', 'headers').additionalProperties).toEqual({ type: 'string' });
  });
});
