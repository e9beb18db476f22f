/**
 * Config of the `slo` connector:
 *
 * ```yaml
 * connectors:
 *   slo:
 *     directory: config/journeys        # the same journey definitions as the journeys connector (required)
 *     evaluation_interval: 10s
 *     sli_delay: auto                   # or a duration: how far behind the clock SLI rows arrive
 *     history: { max: 7d, max_series: 2000 }
 *     recent_attempts: 20000            # per journey, for suspects and exemplars
 *     exemplars: 5
 *     max_suspects: 5
 *     max_pending_events: 10000
 *     clickhouse:                       # optional: rebuild windows and alert states at start
 *       endpoint: http://127.0.0.1:8123
 *       database: pulse
 *       follow: { interval: 5s }        # optional: read every gateway's rows from there instead of pipelines
 * ```
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';

const positive = (description: string, fallback: string) =>
  duration()
    .refine((ms) => ms > 0, { message: 'must be longer than 0' })
    .prefault(fallback)
    .describe(description);

const identifier = (description: string, fallback: string) =>
  z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be a plain identifier: letters, digits and _' })
    .default(fallback)
    .describe(description);

const followSchema = z
  .object({
    interval: positive('How often the tables are read (default 5s)', '5s'),
    lookback: positive(
      'SLI windows that started this recently are read again at every poll, so that partial rows written later (by a slower gateway, after an exporter retry) still count (default 10m)',
      '10m',
    ),
    attempts_delay: duration()
      .prefault('15s')
      .describe('Attempts are read once their decided_at is this old, so that every gateway has written them (default 15s)'),
    max_attempts: z
      .number()
      .int()
      .min(0)
      .default(50_000)
      .describe('Attempts read per poll at most, the most recent first (default 50000; 0 = read none: no suspects, exemplars or release regressions)'),
  })
  .strict()
  .describe(
    'Evaluate the SLI rows and attempts that every gateway writes to ClickHouse (one evaluator for a scaled-out gateway tier): no pipeline may feed this connector then',
  );

const clickhouseSchema = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL of the ClickHouse HTTP interface, like http://127.0.0.1:8123' })
      .describe('ClickHouse HTTP interface, e.g. http://127.0.0.1:8123'),
    database: identifier('Database of the journey tables (default pulse)', 'pulse'),
    username: z.string().default('default').describe('ClickHouse user (default "default")'),
    password: z.string().default('').describe('ClickHouse password (use ${env:VAR} to keep it out of the file)'),
    timeout: positive('Timeout of each history query (default 10s)', '10s'),
    sli_table: identifier('Table of SLI rows (default journey_sli)', 'journey_sli'),
    alerts_table: identifier('Table of alert events (default journey_alerts)', 'journey_alerts'),
    attempts_table: identifier('Table of attempts, read with follow (default journey_attempts)', 'journey_attempts'),
    follow: followSchema.optional(),
  })
  .strict()
  .describe(
    'Rebuild SLI windows (journey_sli) and the state of firing alerts (journey_alerts) from ClickHouse at start (best effort); with follow, keep reading the rows every gateway writes there instead of taking pipelines',
  );

export const sloConnectorConfigSchema = z
  .object({
    directory: z
      .string()
      .min(1)
      .describe('Directory of journey definitions (objective and alert rules); the same directory as the journeys connector'),
    evaluation_interval: positive('How often every alert rule is evaluated (default 10s)', '10s'),
    reload_poll_interval: duration()
      .prefault('2s')
      .describe('How often the journeys directory is checked for changes (hot reload), when this connector loads it first; 0 = notifications only'),
    sli_delay: z
      .union([z.literal('auto'), duration()])
      .default('auto')
      .describe(
        'How far behind the clock SLI rows arrive (the journeys connector emits a window sli.allowed_lateness after its end): auto measures it from the rows (30s assumed until the first rows), or a fixed duration',
      ),
    history: z
      .object({
        max: positive('Most SLI history kept in memory (default 7d); rules reading longer windows see only this much', '7d'),
        max_series: z
          .number()
          .int()
          .min(1)
          .default(2000)
          .describe('Segment series (journey × segment key × value) kept at most (default 2000; up to ~95 KB each when busy for days); rows of further values are counted and not kept'),
      })
      .strict()
      .prefault({})
      .describe('Bounds of the SLI history held in memory'),
    recent_attempts: z
      .number()
      .int()
      .min(100)
      .default(20_000)
      .describe('Attempt summaries kept per journey for suspects and exemplars (the most recent; default 20000)'),
    exemplars: z.number().int().min(0).max(100).default(5).describe('Trace ids of failed attempts per alert event (default 5)'),
    max_suspects: z.number().int().min(0).max(50).default(5).describe('Suspects per alert event (default 5)'),
    max_pending_events: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe('Alert events held while the alerts output refuses them (default 10000); beyond it the oldest are dropped and counted'),
    clickhouse: clickhouseSchema.optional(),
  })
  .strict();

export type SloConnectorConfig = z.output<typeof sloConnectorConfigSchema>;
export type SloClickHouseConfig = z.output<typeof clickhouseSchema>;
export type SloFollowConfig = z.output<typeof followSchema>;
