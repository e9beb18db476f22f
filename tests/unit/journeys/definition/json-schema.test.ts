/**
 * The editor schema (schemas/journey.schema.json) says yes exactly where the loader does, for the values whose
 * rules JSON Schema can express: span kinds (any case, `SPAN_KIND_` prefix) and the objective's target (a fraction
 * strictly between 0 and 1, or a percentage strictly between 0% and 100%).
 */
import { describe, expect, it } from 'vitest';
import { buildJourneyJsonSchema } from '../../../../src/journeys/definition/json-schema.js';
import { loadJourneyTexts } from '../../../../src/journeys/definition/load.js';

type Schema = Record<string, unknown>;

function at(schema: Schema, ...path: string[]): Schema {
  let node: unknown = schema;
  for (const key of path) node = (node as Schema)[key];
  if (node === undefined) throw new Error(`no ${path.join('.')} in the schema`);
  return node as Schema;
}

/** What a JSON Schema validator decides for the keywords these fields use (anyOf, type, enum, const, pattern, bounds). */
function schemaAccepts(schema: Schema, value: unknown): boolean {
  if (Array.isArray(schema.anyOf) && !(schema.anyOf as Schema[]).some((s) => schemaAccepts(s, value))) return false;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.includes(typeof value)) return false;
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return false;
  if ('const' in schema && schema.const !== value) return false;
  if (typeof schema.pattern === 'string' && typeof value === 'string' && !new RegExp(schema.pattern).test(value)) return false;
  if (typeof schema.exclusiveMinimum === 'number' && typeof value === 'number' && !(value > schema.exclusiveMinimum)) return false;
  if (typeof schema.exclusiveMaximum === 'number' && typeof value === 'number' && !(value < schema.exclusiveMaximum)) return false;
  return true;
}

const json = (v: unknown) => JSON.stringify(v);

function loaderAccepts(lines: string[]): boolean {
  const text = ['apiVersion: pulse/v1', 'kind: Journey', 'metadata: { name: checkout }', 'spec:', ...lines, ''].join('\n');
  return !('issues' in loadJourneyTexts([{ file: 'j.yaml', text }]));
}

const schema = buildJourneyJsonSchema();
const spec = at(schema, 'properties', 'spec', 'properties');

describe('the journey JSON Schema agrees with the loader', () => {
  const kinds = [
    'server', 'Server', 'SERVER', 'sErVeR', 'SPAN_KIND_SERVER', 'span_kind_server', 'Span_Kind_Client', 'SPAN_KIND_CONSUMER',
    'internal', 'PRODUCER', 'SPAN_\u212AIND_CLIENT',
    'srever', 'SPAN_KIND_', 'SPAN_KIND_UNSPECIFIED', 'unspecified', 'KIND_SERVER', 'span-kind-server', ' server', 'server ', '',
  ];
  for (const kind of kinds) {
    it(`span kind ${json(kind)}: start and step`, () => {
      const loaded = loaderAccepts(['  start:', '    span: x', `    kind: ${json(kind)}`]);
      expect(schemaAccepts(at(spec, 'start', 'properties', 'kind'), kind)).toBe(loaded);
      const step = at(spec, 'steps', 'items', 'properties', 'kind');
      expect(schemaAccepts(step, kind)).toBe(loaderAccepts(['  start: { span: x }', '  steps:', '    - name: a', '      span: y', `      kind: ${json(kind)}`]));
    });
  }

  it('offers the usual span kind spellings for completion', () => {
    const offered = (at(spec, 'start', 'properties', 'kind').anyOf as Schema[]).flatMap((s) => (s.enum as string[] | undefined) ?? []);
    expect(offered).toEqual(expect.arrayContaining(['server', 'Server', 'SERVER', 'SPAN_KIND_SERVER', 'consumer', 'SPAN_KIND_CONSUMER']));
  });

  const targets: unknown[] = [
    0.995, 0.5, 0.0001, 0.9999999, 0, 1, -0.5, 99.5, 100, 1.5,
    '99.5%', '99%', '5%', '0.1%', '0.05%', '00.5%', '099.9%', ' 99.5 % ', '1%', '99.999%',
    '100%', '0%', '0.0%', '000%', '100.0%', '0100%', '150%', '99.5', '0.995', 'abc', '%', '.5%', '99.%', '1e1%', '-5%',
  ];
  for (const target of targets) {
    it(`objective target ${json(target)}`, () => {
      const loaded = loaderAccepts(['  start: { span: x }', '  objective:', `    target: ${json(target)}`]);
      expect(schemaAccepts(at(spec, 'objective', 'properties', 'target'), target)).toBe(loaded);
    });
  }
});
