/**
 * Config of the `batch` processor, named like the OpenTelemetry Collector's:
 *
 * ```yaml
 * processors:
 *   batch:
 *     send_batch_size: 8192      # spans: send as soon as this many are pending
 *     send_batch_max_size: 0     # spans: split anything larger (0 = no upper bound)
 *     timeout: 200ms             # send at most this long after the first pending span arrived
 *     max_pending_spans: 81920   # bound on spans held (pending + being sent); default 10 × send_batch_size
 *     wait_for_result: false     # true: answer a sender only once its spans were accepted downstream
 * ```
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';

export const batchConfigSchema = z
  .object({
    send_batch_size: z
      .number()
      .int()
      .min(1)
      .default(8192)
      .describe('Send a merged batch as soon as this many spans are pending'),
    send_batch_max_size: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Largest batch sent, in spans; larger ones are split. 0 = no upper bound. When set, at least send_batch_size'),
    timeout: duration()
      .prefault('200ms')
      .describe('Send what is pending at most this long after its first span arrived; 0 sends every batch at once (still split by send_batch_max_size)'),
    max_pending_spans: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'Most spans held at once (waiting plus being sent downstream); beyond it data is refused with a retryable resource-exhausted error so receivers push back. Default 10 × send_batch_size',
      ),
    wait_for_result: z
      .boolean()
      .default(false)
      .describe(
        'false: a request is accepted once buffered; a merged batch refused downstream is kept and retried with backoff (dropped and counted only if refused permanently, or still refused at shutdown). true: a request is answered only once its spans were accepted downstream, so refusals reach the sender; a sender waiting for each answer then gets at most one request through per timeout under light traffic',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.send_batch_max_size !== 0 && cfg.send_batch_max_size < cfg.send_batch_size) {
      ctx.addIssue({
        code: 'custom',
        path: ['send_batch_max_size'],
        message: `send_batch_max_size (${cfg.send_batch_max_size}) is below send_batch_size (${cfg.send_batch_size}); raise it or set 0 for no upper bound`,
      });
    }
    if (cfg.max_pending_spans !== undefined && cfg.max_pending_spans < cfg.send_batch_size) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_pending_spans'],
        message: `max_pending_spans (${cfg.max_pending_spans}) is below send_batch_size (${cfg.send_batch_size}), so a full batch could never form; raise it`,
      });
    }
  })
  .transform((cfg) => ({ ...cfg, max_pending_spans: cfg.max_pending_spans ?? cfg.send_batch_size * 10 }));

export type BatchConfig = z.output<typeof batchConfigSchema>;
