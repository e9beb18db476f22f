/**
 * Config of the `journeys` connector:
 *
 * ```yaml
 * connectors:
 *   journeys:
 *     directory: config/journeys      # *.yaml / *.yml journey definitions (required)
 *     trace_wait: 10s                 # longest wait for an attempt's spans after its start span arrived
 *     settle_delay: 500ms             # wait after an attempt is complete, for late duplicates and optional steps
 *     max_pending_attempts: 100000    # attempts held at most; beyond, the oldest are decided early
 *     max_remembered_requests: 1000000  # requests remembered to recognise resends (0: off); ≤ 20 bytes each
 *     overload_extra_waits: 2         # more trace_waits for an incomplete attempt while Pulse refuses spans
 *     reload_poll_interval: 2s        # how often the directory is checked for changes (0: fs notifications only)
 *     tag_spans: true                 # add journey.name / journey.step to matching spans (false: forward as received)
 *     sli:
 *       window: 10s                   # SLI window length (event time)
 *       allowed_lateness: 12s         # emit a window this long after its end (default trace_wait + 2s)
 *       max_segment_values: 100       # distinct values per segment dimension; the rest fold into __other__
 * ```
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';

/** Added to `trace_wait` for the default `allowed_lateness`: attempts decided by timeout land before their window closes. */
const LATENESS_SLACK_MS = 2000;

const sliSchema = z
  .object({
    window: duration().prefault('10s').describe('Length of one SLI window, by event time (the start span time); a whole number of seconds'),
    allowed_lateness: duration()
      .optional()
      .describe(
        'How long after its end a window is emitted; attempts decided later are emitted as an extra partial row for their window. Default trace_wait + 2s',
      ),
    max_segment_values: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe('Distinct values kept per journey and segment dimension (first seen first kept); later values fold into __other__'),
  })
  .strict();

export const journeysConnectorConfigSchema = z
  .object({
    directory: z
      .string()
      .min(1)
      .describe('Directory of journey definitions (*.yaml, *.yml; several documents per file), relative to the working directory'),
    trace_wait: duration()
      .prefault('10s')
      .describe('How long an attempt waits for missing spans after its start span ARRIVED (and orphan steps for their start) before it is decided'),
    settle_delay: duration()
      .prefault('500ms')
      .describe('Once the start and every required step are present, wait this long (for duplicates and optional steps) before deciding'),
    max_pending_attempts: z
      .number()
      .int()
      .min(1)
      .default(100_000)
      .describe('Attempts (journey × trace) held while waiting; beyond it the oldest are decided early and counted'),
    max_remembered_requests: z
      .number()
      .int()
      .min(0)
      .default(1_000_000)
      .describe(
        'Requests with journey spans remembered (by a fingerprint, ≤ 20 bytes each) to recognise one its sender sends again after Pulse refused it: its spans are tagged and passed on but not counted again. Oldest forgotten first; 0 = off',
      ),
    overload_extra_waits: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe(
        'While Pulse refuses spans for overload, how many more trace_waits an incomplete attempt gets for senders to resend its missing spans; still incomplete with refusals going on after the last, it is abandoned (counted), not failed. 0: abandoned at the first trace_wait',
      ),
    reload_poll_interval: duration()
      .prefault('2s')
      .describe('How often the journeys directory is checked for changes (hot reload), besides file system notifications; 0 = notifications only'),
    sli: sliSchema.prefault({}).describe('SLI windows by journey × segment'),
    tag_spans: z
      .boolean()
      .default(true)
      .describe(
        'Add journey.name and journey.step to the spans that match a journey before passing them on. false passes every span on as it came (requests nothing else changes are forwarded byte for byte, which costs less CPU); matching, attempts and SLIs are the same',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.trace_wait <= 0) ctx.addIssue({ code: 'custom', path: ['trace_wait'], message: 'trace_wait must be above 0, for example 10s' });
    if (cfg.settle_delay >= cfg.trace_wait) {
      ctx.addIssue({
        code: 'custom',
        path: ['settle_delay'],
        message: `settle_delay (${cfg.settle_delay}ms) must be shorter than trace_wait (${cfg.trace_wait}ms), or complete attempts could never be decided early`,
      });
    }
    if (cfg.sli.window < 1000 || cfg.sli.window % 1000 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['sli', 'window'], message: `sli.window must be a whole number of seconds, at least 1s (got ${cfg.sli.window}ms)` });
    }
  })
  .transform((cfg) => ({
    ...cfg,
    sli: { ...cfg.sli, allowed_lateness: cfg.sli.allowed_lateness ?? cfg.trace_wait + LATENESS_SLACK_MS },
  }));

export type JourneysConnectorConfig = z.output<typeof journeysConnectorConfigSchema>;
