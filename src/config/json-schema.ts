/**
 * The JSON Schema (draft-07) of a Pulse config file, generated from the same zod schemas the loader validates
 * with, so editors (yaml-language-server: `# yaml-language-server: $schema=../schemas/pulse-config.schema.json`)
 * complete and check exactly what Pulse accepts. `bin/generate-schemas.mjs` writes it to schemas/, and
 * `npm run schema:check` fails when the committed file is stale.
 *
 * Each component section (receivers, processors, exporters, connectors) is a map whose keys match
 * `^<type>(/<name>)?$` (one `patternProperties` entry per registered type, nothing else allowed); a component's
 * value is its factory's config schema as *input*
 * (`io: 'input'`: what the user writes, such as `10s`, not the parsed milliseconds), or empty (defaults).
 * Output is deterministic (types sorted, zod's own key order kept, as it follows the field order authors chose).
 * Objects are closed (`additionalProperties: false`) even where the zod schema is a plain `z.object`, because the
 * loader rejects unknown keys everywhere.
 *
 * Pipelines have one `patternProperties` entry per signal (`^traces(/<name>)?$`, …), whose lists accept exactly
 * the ids of types that can be there: `receivers` the receivers that support the signal and the connectors that
 * produce it, `processors` the processors that support it, `exporters` the exporters that support it and the
 * connectors that consume it. A list no type can fill accepts no item.
 *
 * Known gap: a `${env:…}` reference in a non-string field (`port: ${env:PORT}`) is valid for Pulse but an editor
 * checks the unexpanded text against the field's type and may flag it.
 */
import { z } from 'zod';
import type { ComponentRegistry } from '../components.js';
import type { ConnectorFactory, Factory } from '../core/component.js';
import { SIGNALS, type Signal } from '../core/consumer.js';
import { ID_NAME_PATTERN, pipelineSchema, serviceSchema } from './service-schema.js';

export type JsonSchema = Record<string, unknown>;

const NAME_SUFFIX = `(/${ID_NAME_PATTERN})?`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** `^otlp(/[A-Za-z0-9_.-]+)?$`, or `^(otlp|debug)(/…)?$` for several types. */
export function idPattern(types: readonly string[]): string {
  const alternatives = types.map(escapeRegExp);
  const head = alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join('|')})`;
  return `^${head}${NAME_SUFFIX}$`;
}

/**
 * zod's JSON Schema for one schema, without its own `$schema`, with any `definitions` (zod emits them for
 * recursive schemas) moved into `defs` under `<prefix>.<name>` and their `$ref`s rewritten, so the result can be
 * embedded anywhere in the combined document.
 */
function embeddable(schema: z.ZodType, prefix: string, defs: JsonSchema): JsonSchema {
  // `unrepresentable: 'any'`: a field zod cannot express (z.custom) becomes "anything" for the editor instead of
  // failing the whole generation; the loader still validates it.
  const js = z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete js.$schema;
  const own = js.definitions as Record<string, JsonSchema> | undefined;
  delete js.definitions;
  let selfReferencing = false;
  const rewrite = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(rewrite);
    } else if (v !== null && typeof v === 'object') {
      const o = v as JsonSchema;
      // zod leaves a plain z.object open (it strips unknown keys); the loader rejects them (zod-issues.ts
      // unknownKeyProblems), so the editor should too. Records and loose objects already say what they allow.
      if (o.type === 'object' && o.properties !== undefined && o.additionalProperties === undefined) o.additionalProperties = false;
      if (typeof o.$ref === 'string') {
        if (o.$ref === '#') selfReferencing = true;
        o.$ref = o.$ref === '#' ? `#/definitions/${prefix}` : o.$ref.replace(/^#\/definitions\//, `#/definitions/${prefix}.`);
      }
      Object.values(o).forEach(rewrite);
    }
  };
  rewrite(js);
  for (const [name, def] of Object.entries(own ?? {})) {
    rewrite(def);
    defs[`${prefix}.${name}`] = def;
  }
  if (!selfReferencing) return js;
  // A recursive root (`$ref: "#"`) becomes a definition of its own, referred to from where it is embedded.
  defs[prefix] = js;
  return { $ref: `#/definitions/${prefix}` };
}

/** Allows an empty value (`otlp:` with nothing after it), which the loader reads as "all defaults". */
function orEmpty(js: JsonSchema): JsonSchema {
  if (js.type === 'object') return { ...js, type: ['object', 'null'] };
  return { anyOf: [js, { type: 'null' }] };
}

function componentSection(kind: string, factories: ReadonlyMap<string, Factory>, defs: JsonSchema): JsonSchema {
  const patternProperties: JsonSchema = {};
  for (const type of [...factories.keys()].sort()) {
    const factory = factories.get(type)!;
    const js = embeddable(factory.configSchema, `${kind}.${type}`, defs);
    patternProperties[idPattern([type])] = { ...orEmpty(js), description: factory.description };
  }
  const known = [...factories.keys()].sort().join(', ') || 'none';
  const hint = kind === 'connector' ? '; a connector is listed under exporters of the pipelines that feed it and under receivers of the pipelines it feeds' : '';
  return {
    description: `${kind[0]!.toUpperCase()}${kind.slice(1)}s by id: \`type\` or \`type/name\` (types: ${known})${hint}`,
    type: ['object', 'null'],
    patternProperties,
    additionalProperties: false,
  };
}

/** The types that may be listed in one list of a pipeline of `signal`. */
function typesFor(registry: ComponentRegistry, list: 'receivers' | 'processors' | 'exporters', signal: Signal): string[] {
  const own = [...(registry[list] as ReadonlyMap<string, Factory>).entries()]
    .filter(([, f]) => f.kind !== 'connector' && f.create[signal] !== undefined)
    .map(([type]) => type);
  const side = (c: ConnectorFactory) => (list === 'receivers' ? c.outputs : list === 'exporters' ? c.inputs : []);
  const connectors = [...registry.connectors.entries()].filter(([, c]) => side(c).includes(signal)).map(([type]) => type);
  return [...new Set([...own, ...connectors])].sort();
}

function pipelineOf(registry: ComponentRegistry, signal: Signal, defs: JsonSchema): JsonSchema {
  const pipeline = embeddable(pipelineSchema, `pipeline.${signal}`, defs);
  pipeline.description = `${/^[aeiou]/.test(signal) ? 'An' : 'A'} ${signal} pipeline: receivers → processors (in order) → exporters; connectors may be listed under receivers (they produce ${signal}) or exporters (they consume ${signal})`;
  const properties = pipeline.properties as Record<string, JsonSchema>;
  for (const list of ['receivers', 'processors', 'exporters'] as const) {
    const prop = properties[list];
    if (!prop) continue;
    const types = typesFor(registry, list, signal);
    if (types.length > 0) prop.items = { ...(prop.items as JsonSchema), pattern: idPattern(types) };
    else prop.maxItems = 0;
  }
  return pipeline;
}

function serviceSection(registry: ComponentRegistry, defs: JsonSchema): JsonSchema {
  const service = embeddable(serviceSchema, 'service', defs);
  const patternProperties: JsonSchema = {};
  for (const signal of SIGNALS) patternProperties[idPattern([signal])] = pipelineOf(registry, signal, defs);
  const serviceProps = service.properties as Record<string, JsonSchema>;
  serviceProps.pipelines = {
    description: `Pipelines by id: \`<signal>\` or \`<signal>/<name>\` (signals: ${SIGNALS.join(', ')})`,
    type: ['object', 'null'],
    patternProperties,
    additionalProperties: false,
  };
  return service;
}

/** The draft-07 JSON Schema of a config file for the components in `registry`. */
export function buildConfigJsonSchema(registry: ComponentRegistry): JsonSchema {
  const defs: JsonSchema = {};
  const schema: JsonSchema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Pulse configuration',
    description:
      'A Pulse config file: components (receivers, processors, exporters, connectors) and the pipelines (service) that connect them. ' +
      'Values may use ${env:NAME} and ${env:NAME:-default}; $$ is a literal $.',
    type: 'object',
    properties: {
      receivers: componentSection('receiver', registry.receivers, defs),
      processors: componentSection('processor', registry.processors, defs),
      exporters: componentSection('exporter', registry.exporters, defs),
      connectors: componentSection('connector', registry.connectors, defs),
      service: serviceSection(registry, defs),
    },
    required: ['service'],
    additionalProperties: false,
  };
  if (Object.keys(defs).length > 0) schema.definitions = defs;
  return schema;
}
