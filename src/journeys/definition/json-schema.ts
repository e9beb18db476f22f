/**
 * The JSON Schema (draft-07) of one journey document, generated from schema.ts so that editors
 * (yaml-language-server: `# yaml-language-server: $schema=../../schemas/journey.schema.json`) complete and check
 * exactly what Pulse accepts. It describes the input as written (`2s`, `99.5%`), not the parsed values.
 * src/config/schema-files.ts lists it; `npm run schema` writes `schemas/journey.schema.json`.
 *
 * Where JSON Schema can say it, the schema accepts exactly what the loader does — `kind` in any case and with the
 * `SPAN_KIND_` prefix (a pattern; editors suggest the usual spellings), `target` as a fraction strictly between 0
 * and 1 or a percentage strictly between 0% and 100% (tests/unit/journeys/definition/json-schema.test.ts compares
 * them). Checks it cannot express are still made by the loader: regex safety, duplicate names, rules that can never
 * take effect.
 */
import { z } from 'zod';
import type { JsonSchema } from '../../config/json-schema.js';
import { journeyDocumentSchema } from './schema.js';

export function buildJourneyJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(journeyDocumentSchema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'Pulse journey',
    ...rest,
  };
}
