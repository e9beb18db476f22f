/**
 * Config of the `clickhouse` exporter: journey attempts, SLI windows and alert events into ClickHouse tables,
 * through a persistent (on-disk) queue by default, with deterministic row ids so that a re-sent batch never counts
 * twice (see README.md).
 *
 * ```yaml
 * exporters:
 *   clickhouse:
 *     endpoint: http://clickhouse:8123
 *     database: pulse
 *     username: default
 *     password: ${env:CLICKHOUSE_PASSWORD}
 *     create_schema: true
 *     ttl_days: 90
 * ```
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';
import { exporterHelperFields, validateExporterHelper } from '../exporterhelper/config.js';

/** ClickHouse identifiers Pulse writes into SQL unquoted-safe: letters, digits, underscore, not starting with a digit. */
const IDENTIFIER_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function identifier(what: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .describe(`${what} (letters, digits and _; default ${fallback})`)
    .superRefine((v, ctx) => {
      if (!IDENTIFIER_RE.test(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${v}" is not a plain ClickHouse name: use letters, digits and _ (not starting with a digit), like ${fallback}`,
        });
      }
    });
}

/**
 * The helper's `batch` fragment with defaults that suit ClickHouse: every INSERT makes a data part on the server,
 * so merging queued batches into a few large inserts per second is the recommended way to write, and on by default.
 */
function batchSchema() {
  return z
    .object({
      enabled: z.boolean().default(true).describe('Merge queued batches into larger INSERTs (ClickHouse prefers few large inserts)'),
      min_size: z.number().int().min(1).default(10_000).describe('Send once this many rows are merged, or when flush_timeout passes'),
      max_size: z
        .number()
        .int()
        .min(0)
        .default(100_000)
        .describe('Never merge beyond this many rows (a single larger batch is still sent whole); 0 = no limit'),
      flush_timeout: duration().prefault('1s').describe('Longest wait for more batches once one is in hand'),
    })
    .describe('Merging of queued batches into larger INSERTs');
}

/**
 * The helper's `retry_on_failure` fragment, except that a batch is retried until it lands
 * (`max_elapsed_time: 0`): the queue is on disk and bounded, so an outage costs disk, and a full queue pushes back
 * instead of rows being dropped after a fixed time.
 */
function retrySchema() {
  return z
    .object({
      enabled: z.boolean().default(true).describe('Retry failed inserts (retryable errors only) with exponential backoff'),
      initial_interval: duration().prefault('5s').describe('Wait before the first retry'),
      max_interval: duration().prefault('30s').describe('Upper bound of the wait between two retries (before jitter)'),
      max_elapsed_time: duration()
        .prefault('0s')
        .describe('Give up (drop and count) once a batch has been retried this long; 0 (default) retries until it lands'),
      multiplier: z.number().min(1).default(1.5).describe('Each wait is the previous one times this'),
      randomization_factor: z.number().min(0).max(1).default(0.5).describe('Jitter: each wait is drawn from [wait × (1 − f), wait × (1 + f)]'),
    })
    .describe('Retries of failed inserts');
}

function tlsSchema() {
  return z
    .object({
      ca_file: z.string().min(1).optional().describe('PEM file of the CA(s) that sign the server certificate (https endpoints); default: the system CAs'),
      cert_file: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS (needs key_file and ca_file)'),
      key_file: z.string().min(1).optional().describe('PEM private key of cert_file'),
    })
    .superRefine((t, ctx) => {
      if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
        ctx.addIssue({ code: 'custom', path: [t.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'mutual TLS needs both cert_file and key_file' });
      }
      if (t.cert_file !== undefined && t.ca_file === undefined) {
        ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'mutual TLS with ClickHouse also needs ca_file (the CA of the server certificate)' });
      }
    })
    .describe('TLS towards ClickHouse (https:// endpoints)');
}

export const configSchema = z
  .object({
    endpoint: z
      .string()
      .superRefine((v, ctx) => {
        const problem = endpointProblem(v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('ClickHouse HTTP interface, e.g. http://clickhouse:8123 or https://host:8443 (no path: set database instead)'),
    database: identifier('Database of the tables', 'pulse'),
    username: z.string().default('default').describe('ClickHouse user'),
    password: z.string().default('').describe('Password of the user; use ${env:VAR}'),
    create_schema: z
      .boolean()
      .default(true)
      .describe(
        'At start, create the database and tables when missing and add columns a table lacks; false: only check, and fail start with the SQL to run',
      ),
    ttl_days: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Rows older than this many days are deleted by ClickHouse (TTL, set when Pulse creates a table; ClickHouse 19.6+, ignored with a warning on older servers); 0 = keep forever'),
    tables: z
      .object({
        attempts: identifier('Table of journey attempts', 'journey_attempts'),
        journey_metrics: identifier('Table of SLI window rows', 'journey_sli'),
        alerts: identifier('Table of alert events', 'journey_alerts'),
      })
      .prefault({})
      .describe('Table names, per signal'),
    tls: tlsSchema().prefault({}),
    ...exporterHelperFields({ persistentQueue: true, numConsumers: 2, queueSize: 10_000, maxBytes: '1GiB', timeout: '10s' }),
    retry_on_failure: retrySchema().prefault({}),
    batch: batchSchema().prefault({}),
  })
  .superRefine((cfg, ctx) => {
    validateExporterHelper(cfg, ctx);
    if (cfg.endpoint === undefined) {
      ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'set endpoint: the ClickHouse HTTP interface, e.g. http://clickhouse:8123' });
    }
    const { attempts, journey_metrics, alerts } = cfg.tables;
    if (new Set([attempts, journey_metrics, alerts]).size < 3) {
      ctx.addIssue({ code: 'custom', path: ['tables'], message: 'the attempts, journey_metrics and alerts tables need three different names' });
    }
  })
  .describe('Writes journey attempts, SLI windows and alert events to ClickHouse, durably and without double counting');

export type ClickHouseConfig = z.output<typeof configSchema>;

/** Why `text` is not a usable endpoint, or `undefined` when it is. */
function endpointProblem(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `"${text}" is not a URL: write the ClickHouse HTTP interface, e.g. http://clickhouse:8123`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `"${text}" is not an http:// or https:// URL (ClickHouse's HTTP interface, port 8123 or 8443)`;
  if (u.username !== '' || u.password !== '') return 'put credentials in username/password, not in the endpoint URL';
  if (u.pathname !== '/' && u.pathname !== '') return `"${text}" has a path (${u.pathname}): give the server URL only and set database instead`;
  if (u.search !== '' || u.hash !== '') return `"${text}" has a query string or fragment; give the server URL only`;
  return undefined;
}
