/**
 * The config fragment every queued exporter embeds: per-attempt `timeout`, `retry_on_failure`, `sending_queue`
 * (in memory or on disk), `batch` and `shutdown_drain`. Names and defaults follow the OpenTelemetry Collector's
 * exporterhelper, so a Collector user can read a Pulse config without a manual.
 *
 * An exporter spreads the fields into its own schema and lets its factory choose the defaults that differ by
 * destination (a ClickHouse exporter persists its queue by default, an OTLP forwarder does not):
 *
 *     const configSchema = z.object({ endpoint: z.string(), ...exporterHelperFields({ persistentQueue: false }) })
 *       .superRefine(validateExporterHelper);
 *
 * Durations come out in milliseconds and sizes in bytes (see src/config/types.ts).
 */
import { z } from 'zod';
import { byteSize, duration } from '../../config/types.js';

/** Defaults a factory may choose; everything else is the same for every exporter. */
export interface ExporterHelperDefaults {
  /** Whether `sending_queue.persistent` defaults to true. Default false. */
  persistentQueue?: boolean;
  /** Default `sending_queue.num_consumers`. Default 4. */
  numConsumers?: number;
  /** Default `sending_queue.queue_size` (batches). Default 1000. */
  queueSize?: number;
  /** Default `sending_queue.max_bytes`. Default 256MiB. */
  maxBytes?: string;
  /** Default per-attempt `timeout`. Default 5s. */
  timeout?: string;
}

function retrySchema() {
  return z
    .object({
      enabled: z.boolean().default(true).describe('Retry failed sends (retryable errors only) with exponential backoff'),
      initial_interval: duration().prefault('5s').describe('Wait before the first retry'),
      max_interval: duration().prefault('30s').describe('Upper bound of the wait between two retries (before jitter)'),
      max_elapsed_time: duration()
        .prefault('300s')
        .describe('Give up (drop and count) once a batch has been retried this long; 0 retries forever'),
      multiplier: z.number().min(1).default(1.5).describe('Each wait is the previous one times this'),
      randomization_factor: z
        .number()
        .min(0)
        .max(1)
        .default(0.5)
        .describe('Jitter: each wait is drawn from [wait × (1 − f), wait × (1 + f)]'),
    })
    .describe('Retries of failed sends');
}

function storageSchema() {
  return z
    .object({
      directory: z
        .string()
        .min(1)
        .optional()
        .describe("Where queued batches are written; default: the component's own directory under service.data_dir"),
      fsync: z
        .boolean()
        .default(false)
        .describe(
          'fsync every queued batch (and its directory) before accepting it: survives power loss, costs a disk flush per batch. Without it a batch survives a process crash but not a kernel crash',
        ),
    })
    .describe('Disk storage of the persistent queue');
}

function sendingQueueSchema(d: ExporterHelperDefaults) {
  return z
    .object({
      enabled: z
        .boolean()
        .default(true)
        .describe('Queue batches and send them in the background; false sends inside consume() so errors reach the sender'),
      num_consumers: z
        .number()
        .int()
        .min(1)
        .max(1024)
        .default(d.numConsumers ?? 4)
        .describe('Batches sent concurrently (also the number of connections to the destination)'),
      queue_size: z
        .number()
        .int()
        .min(1)
        .default(d.queueSize ?? 1000)
        .describe('Most batches held (waiting or being sent); beyond it `when_full` applies'),
      max_bytes: byteSize()
        .prefault(d.maxBytes ?? '256MiB')
        .describe(
          'Most bytes held: in memory an estimate of the decoded size, on disk the file sizes; beyond it `when_full` applies',
        ),
      when_full: z
        .enum(['block', 'drop_newest'])
        .default('block')
        .describe(
          'block: refuse new data with a retryable error, so receivers push back to their senders (HTTP 429 / RESOURCE_EXHAUSTED); drop_newest: accept and drop it (counted)',
        ),
      persistent: z
        .boolean()
        .optional()
        .describe(
          `Keep the queue on disk so that batches survive restarts and outages; default ${d.persistentQueue === true ? 'true' : 'false'} (true when storage.directory is set)`,
        ),
      storage: storageSchema().prefault({}),
    })
    .transform(({ persistent, ...rest }, _ctx) => ({
      ...rest,
      persistent: persistent ?? (rest.storage.directory !== undefined ? true : (d.persistentQueue ?? false)),
    }))
    .describe('The bounded queue between consume() and the destination');
}

function batchSchema() {
  return z
    .object({
      enabled: z.boolean().default(false).describe('Merge queued batches before sending them'),
      min_size: z
        .number()
        .int()
        .min(1)
        .default(8192)
        .describe('Send once this many items (spans) are merged, or when flush_timeout passes'),
      max_size: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe('Never merge beyond this many items (a single larger batch is still sent whole); 0 = no limit'),
      flush_timeout: duration().prefault('200ms').describe('Longest wait for more batches once one is in hand'),
    })
    .describe('Merging of queued batches into larger sends');
}

/** The fields to spread into an exporter's `z.object({...})`. */
export function exporterHelperFields(defaults: ExporterHelperDefaults = {}) {
  return {
    timeout: duration()
      .prefault(defaults.timeout ?? '5s')
      .describe('Timeout of one send attempt (connect, upload, answer)'),
    retry_on_failure: retrySchema().prefault({}),
    sending_queue: sendingQueueSchema(defaults).prefault({}),
    batch: batchSchema().prefault({}),
    shutdown_drain: duration()
      .prefault('10s')
      .describe(
        'On shutdown without a deadline from the service (a loadbalancing backend leaving the ring), how long to keep sending what is queued before giving up (persistent: it stays on disk). A service shutdown drains until service.shutdown_timeout instead',
      ),
  };
}

/** The parsed fragment, as every exporter's config carries it. */
export type ExporterHelperConfig = z.output<z.ZodObject<ReturnType<typeof exporterHelperFields>>>;

/** Cross-field rules of the fragment; call it from the exporter schema's `superRefine`. */
export function validateExporterHelper(cfg: ExporterHelperConfig, ctx: z.RefinementCtx): void {
  if (cfg.sending_queue.persistent && !cfg.sending_queue.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['sending_queue', 'persistent'],
      message: 'a persistent queue needs sending_queue.enabled: true; enable the queue or set persistent: false',
    });
  }
  if (cfg.batch.max_size !== 0 && cfg.batch.max_size < cfg.batch.min_size) {
    ctx.addIssue({
      code: 'custom',
      path: ['batch', 'max_size'],
      message: `batch.max_size (${cfg.batch.max_size}) is below batch.min_size (${cfg.batch.min_size}); raise it or set 0 for no limit`,
    });
  }
  if (cfg.batch.enabled && !cfg.sending_queue.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['batch', 'enabled'],
      message: 'batch merges queued batches and needs sending_queue.enabled: true',
    });
  }
  if (cfg.retry_on_failure.max_interval < cfg.retry_on_failure.initial_interval) {
    ctx.addIssue({
      code: 'custom',
      path: ['retry_on_failure', 'max_interval'],
      message: 'retry_on_failure.max_interval is below initial_interval; raise it',
    });
  }
}
