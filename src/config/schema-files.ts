/**
 * The JSON Schema files committed under schemas/, each built from code. `bin/generate-schemas.mjs` writes them
 * (`npm run schema`) or checks they are current (`npm run schema:check`, part of `npm test`); a unit test does
 * the same check. To add a schema (journey files, …), add an entry here.
 */
import type { ComponentRegistry } from '../components.js';
import { buildConfigJsonSchema, type JsonSchema } from './json-schema.js';
import { buildJourneyJsonSchema } from '../journeys/definition/json-schema.js';
import { buildAlertEventDataJsonSchema, buildAlertEventJsonSchema } from '../exporters/kafka/event-schema.js';

export interface SchemaFile {
  /** Path relative to the repository root. */
  readonly file: string;
  readonly build: () => JsonSchema;
}

export function schemaFiles(registry: ComponentRegistry): SchemaFile[] {
  return [
    { file: 'schemas/pulse-config.schema.json', build: () => buildConfigJsonSchema(registry) },
    { file: 'schemas/journey.schema.json', build: buildJourneyJsonSchema },
    { file: 'schemas/alert-event.schema.json', build: buildAlertEventJsonSchema },
    { file: 'schemas/alert-event-data.schema.json', build: buildAlertEventDataJsonSchema },
  ];
}

/** The exact bytes written: 2-space JSON and a trailing newline, so diffs and the staleness check are stable. */
export function renderSchema(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
