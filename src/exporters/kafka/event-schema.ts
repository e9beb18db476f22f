/**
 * The published shape of an alert event on Kafka: a CloudEvents 1.0 envelope (structured mode, JSON) whose `data`
 * is one Pulse alert event. This zod schema is the single source of truth for
 *
 * - the TypeScript type the converter (cloudevents.ts) must produce — a field added here and not filled there is a
 *   compile error;
 * - two JSON Schemas (draft-07), generated through src/config/schema-files.ts and kept fresh by
 *   `npm run schema:check`, which consumers of the topic validate against or generate types from:
 *   `schemas/alert-event-data.schema.json`, the schema of `data`, whose `$id` is the URI every event carries in
 *   `dataschema` (CloudEvents: "the schema that data adheres to"), and `schemas/alert-event.schema.json`, the
 *   whole event (envelope and `data`), with an `$id` of its own.
 *
 * Conventions (documented for consumers in docs/alerts.md):
 * - `data` keys are snake_case, like Pulse's config keys and the ClickHouse columns;
 * - times are RFC 3339 strings in UTC (`2025-06-01T12:00:05.123Z`); durations are given twice, as text (`1h`) and
 *   in milliseconds (`window_ms`);
 * - absent optional values are `null`, never missing: every key listed here is present in every event;
 * - ratios that cannot be computed (a lift when the window has no failures) are `null`;
 * - objects are open (`additionalProperties` allowed): fields may be added within a schema version, so consumers
 *   ignore keys they do not know. Renaming, removing or retyping a field is a new version (`v2`, new `dataschema`).
 */
import { z } from 'zod';
import type { JsonSchema } from '../../config/json-schema.js';

/**
 * Names the schema version of `data`: every event's `dataschema`, and the `$id` of the data schema. An identifier;
 * it need not resolve (see docs/alerts.md).
 */
export const ALERT_EVENT_DATASCHEMA = 'https://pulse.dev/schemas/alert-event/v1.json';
/** The `$id` of the schema of the whole event: the envelope, with `data` inlined. Not a `dataschema`. */
export const ALERT_CLOUDEVENT_SCHEMA_ID = 'https://pulse.dev/schemas/alert-cloudevent/v1.json';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
export const ALERT_EVENT_TYPES = ['dev.pulse.alert.firing', 'dev.pulse.alert.resolved'] as const;

const timestamp = (what: string) =>
  z.string().meta({ format: 'date-time' }).describe(`${what} (RFC 3339, UTC, millisecond precision)`);
const count = (what: string) => z.number().int().min(0).describe(what);
const ratio = (what: string) => z.number().nullable().describe(`${what}; null when it cannot be computed`);
const durationText = (what: string) => z.string().describe(`${what}, as a duration text such as 5m, 1h, 28d`);

const suspectSchema = z
  .looseObject({
    dimension: z
      .string()
      .describe('What the value is of: a segment key (customer.tier), service, service.version:<service>, failing_step, …'),
    value: z.string().describe('The over-represented value, e.g. enterprise, payments, 2.5.0'),
    attempts: count("Attempts in the alert's window having this value"),
    failures: count('How many of those attempts failed'),
    failure_ratio: ratio('failures / attempts for this value'),
    share_of_failures: ratio("This value's failures / all failures in the window"),
    lift: ratio("failure_ratio / the window's overall failure ratio (> 1: over-represented)"),
  })
  .describe('A dimension value over-represented among failed attempts; suspects are ranked, most likely cause first');

const burnRateSchema = z
  .looseObject({
    window: durationText('The window, as configured'),
    window_ms: count('The window in milliseconds'),
    burn_rate: ratio('Error rate in the window / (1 − objective target); 1 spends the budget exactly over the objective window'),
    threshold: z.number().describe('The burn-rate factor it was compared with'),
  })
  .describe('The burn rate over one window of the rule that fired');

const releaseSchema = z
  .looseObject({
    service: z.string().describe('The service whose new version regressed'),
    new_version: z.string().describe('service.version seen for the first time'),
    previous_version: z.string().describe('The version it replaced'),
    first_seen: timestamp('When the new version was first seen'),
    new_failure_ratio: ratio('Failure ratio of attempts through the new version'),
    previous_failure_ratio: ratio('Failure ratio of attempts through the previous version'),
  })
  .describe('Release details of a release_regression alert');

export const alertEventDataSchema = z
  .looseObject({
    journey: z.string().describe('The journey (money moment) the alert is about, e.g. checkout'),
    kind: z
      .enum(['burn_rate', 'segment', 'heartbeat', 'release_regression'])
      .describe(
        'burn_rate: the whole journey burns its error budget too fast; segment: one segment value does; heartbeat: successes stopped or fell far under the floor/baseline; release_regression: a new service version fails more than the previous one',
      ),
    severity: z
      .enum(['page', 'ticket'])
      .describe('page: wake someone up; ticket: handle in working hours. An alert keeps the highest severity it was sent with until it resolves'),
    pagerduty_severity: z
      .enum(['critical', 'error', 'warning', 'info'])
      .describe('PagerDuty Events v2 severity: page burn_rate/heartbeat → critical, other page → error, ticket → warning, resolved → info'),
    status: z.enum(['firing', 'resolved']).describe('firing (first or repeated) or resolved'),
    fingerprint: z
      .string()
      .min(1)
      .describe('Stable identity of the alert (journey, kind, segment; service for release_regression): the same for all its events, and the Kafka message key'),
    starts_at: timestamp('When the alert started firing'),
    ends_at: timestamp('When the alert resolved').nullable(),
    repeat: z.boolean().describe('true for a firing event re-sent every repeat_interval, or at once when its severity rose from ticket to page; false for the first firing event and for resolved'),
    segment: z
      .looseObject({
        key: z.string().describe('Segment attribute, e.g. customer.tier'),
        value: z.string().describe('Its value, e.g. enterprise'),
      })
      .nullable()
      .describe('The segment the alert is about; null for whole-journey alerts'),
    objective: z
      .looseObject({
        target: z.number().min(0).max(1).describe('Share of attempts that must succeed, e.g. 0.995'),
        window: durationText('The objective (error budget) window'),
        window_ms: count('The objective window in milliseconds'),
      })
      .describe("The journey's objective"),
    error_budget_remaining: ratio('Share of the error budget left, estimated from the history Pulse holds (not the whole objective window; a segment alert: the segment value\'s own), ≤ 1; negative when overspent'),
    burn_rates: z.array(burnRateSchema).describe('Burn rate per window of the rule that fired (long window first); empty for heartbeat alerts'),
    attempts: count(
      "Attempts behind the alert: the lead rule's long window (burn_rate, segment: the segment value's), the heartbeat's per window, or a release_regression's new-version attempts over the release window",
    ),
    failures: count('How many of those attempts failed'),
    suspects: z.array(suspectSchema).describe('Ranked, most likely cause first; may be empty'),
    release: releaseSchema.nullable().describe('Set for release_regression alerts, else null'),
    exemplar_trace_ids: z.array(z.string()).describe('A few trace ids (hex) of failed attempts, for drill-down'),
    owner: z.string().describe("The journey's owner (team), as written in the journey file; empty when not set"),
    runbook: z.string().describe('Runbook URL from the journey file; empty when not set'),
    summary: z.string().describe('One human sentence, e.g. "checkout failing for customer.tier=enterprise: payments 2.5.0 (lift 9.1)"'),
  })
  .describe('The alert');

export const alertCloudEventSchema = z
  .looseObject({
    specversion: z.literal('1.0').describe('CloudEvents version'),
    id: z.string().min(1).describe('Unique per event (a UUID): deduplicate on it, a redelivered event keeps its id'),
    source: z
      .string()
      .min(1)
      .meta({ format: 'uri-reference' })
      .describe('The Pulse instance that produced the event (exporter setting `source`, default pulse://<hostname>)'),
    type: z.enum(ALERT_EVENT_TYPES).describe('dev.pulse.alert.firing (first and repeated) or dev.pulse.alert.resolved'),
    subject: z.string().describe('The journey'),
    time: timestamp('When the event was produced'),
    datacontenttype: z.literal('application/json'),
    dataschema: z
      .literal(ALERT_EVENT_DATASCHEMA)
      .describe('The schema data adheres to: the $id of schemas/alert-event-data.schema.json (an identifier; it need not resolve)'),
    data: alertEventDataSchema,
  })
  .describe('A Pulse alert event: a CloudEvents 1.0 event in structured mode (JSON)');

export type AlertCloudEvent = z.output<typeof alertCloudEventSchema>;
export type AlertEventData = z.output<typeof alertEventDataSchema>;

/** `schemas/alert-event.schema.json`, the whole event (listed in src/config/schema-files.ts). */
export function buildAlertEventJsonSchema(): JsonSchema {
  return draft7(alertCloudEventSchema, ALERT_CLOUDEVENT_SCHEMA_ID, 'Pulse alert event (CloudEvents 1.0, structured mode), v1');
}

/** `schemas/alert-event-data.schema.json`, the schema `dataschema` names: `data` alone (listed in src/config/schema-files.ts). */
export function buildAlertEventDataJsonSchema(): JsonSchema {
  return draft7(alertEventDataSchema, ALERT_EVENT_DATASCHEMA, 'Pulse alert event data (the data of a dev.pulse.alert.* CloudEvent), v1');
}

/** `schema` as a draft-07 JSON Schema of its output, with `$id` and `title` right after `$schema`. */
function draft7(schema: z.ZodType, $id: string, title: string): JsonSchema {
  const { $schema, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) as JsonSchema;
  return { $schema, $id, title, ...rest };
}
