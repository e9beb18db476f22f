/**
 * Config of the `memory_limiter` processor, named like the OpenTelemetry Collector's. Either an absolute limit:
 *
 * ```yaml
 * processors:
 *   memory_limiter:
 *     check_interval: 1s
 *     limit_mib: 1500          # hard limit on the process's resident memory
 *     spike_limit_mib: 300     # headroom: refusing starts at limit − spike (default 20 % of the limit)
 * ```
 *
 * or a share of the memory available to the process (the cgroup limit when running in a container, else the
 * machine's total): `limit_percentage: 80`, `spike_limit_percentage: 16`. With neither, `limit_percentage: 80`.
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';

const DEFAULT_LIMIT_PERCENTAGE = 80;
/** The spike limit defaults to this share of the limit, as in the Collector. */
const DEFAULT_SPIKE_SHARE = 0.2;

export const memoryLimiterConfigSchema = z
  .object({
    check_interval: duration()
      .prefault('1s')
      .describe('How often resident memory is measured; the state (accepting/refusing) changes only at a check'),
    limit_mib: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Hard limit on the process resident memory, in MiB (1 MiB = 1048576 bytes). Use this or limit_percentage'),
    spike_limit_mib: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Expected growth between two checks, in MiB; data is refused from limit_mib − spike_limit_mib on. Default 20% of limit_mib'),
    limit_percentage: z
      .number()
      .gt(0)
      .max(100)
      .optional()
      .describe(`Hard limit as a percentage of the memory available (cgroup limit, else total memory). Default ${DEFAULT_LIMIT_PERCENTAGE} when limit_mib is not set`),
    spike_limit_percentage: z
      .number()
      .min(0)
      .max(100)
      .optional()
      .describe('Spike limit as a percentage of the memory available; default 20% of limit_percentage'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.check_interval <= 0) {
      ctx.addIssue({ code: 'custom', path: ['check_interval'], message: 'check_interval must be above 0, for example 1s' });
    }
    if (cfg.limit_mib !== undefined && cfg.limit_percentage !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['limit_percentage'], message: 'set either limit_mib or limit_percentage, not both' });
    }
    if (cfg.limit_mib !== undefined) {
      if (cfg.spike_limit_percentage !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['spike_limit_percentage'], message: 'with limit_mib, write the spike limit as spike_limit_mib' });
      }
      if (cfg.spike_limit_mib !== undefined && cfg.spike_limit_mib >= cfg.limit_mib) {
        ctx.addIssue({
          code: 'custom',
          path: ['spike_limit_mib'],
          message: `spike_limit_mib (${cfg.spike_limit_mib}) must be below limit_mib (${cfg.limit_mib}); data is refused from limit − spike on`,
        });
      }
    } else {
      if (cfg.spike_limit_mib !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['spike_limit_mib'], message: 'spike_limit_mib needs limit_mib; with limit_percentage use spike_limit_percentage' });
      }
      const limit = cfg.limit_percentage ?? DEFAULT_LIMIT_PERCENTAGE;
      if (cfg.spike_limit_percentage !== undefined && cfg.spike_limit_percentage >= limit) {
        ctx.addIssue({
          code: 'custom',
          path: ['spike_limit_percentage'],
          message: `spike_limit_percentage (${cfg.spike_limit_percentage}) must be below limit_percentage (${limit})`,
        });
      }
    }
  })
  .transform((cfg): MemoryLimiterConfig => {
    if (cfg.limit_mib !== undefined) {
      return {
        check_interval: cfg.check_interval,
        mode: 'mib',
        limit_mib: cfg.limit_mib,
        spike_limit_mib: cfg.spike_limit_mib ?? Math.floor(cfg.limit_mib * DEFAULT_SPIKE_SHARE),
      };
    }
    const limit = cfg.limit_percentage ?? DEFAULT_LIMIT_PERCENTAGE;
    return {
      check_interval: cfg.check_interval,
      mode: 'percentage',
      limit_percentage: limit,
      spike_limit_percentage: cfg.spike_limit_percentage ?? limit * DEFAULT_SPIKE_SHARE,
    };
  });

/** The parsed config: durations in ms, exactly one way of stating the limit. */
export type MemoryLimiterConfig =
  | { readonly check_interval: number; readonly mode: 'mib'; readonly limit_mib: number; readonly spike_limit_mib: number }
  | {
      readonly check_interval: number;
      readonly mode: 'percentage';
      readonly limit_percentage: number;
      readonly spike_limit_percentage: number;
    };

const MIB = 1024 * 1024;

/** The hard and soft limits in bytes; `availableBytes` is only read in percentage mode. */
export function limitsInBytes(config: MemoryLimiterConfig, availableBytes: number): { hard: number; soft: number } {
  if (config.mode === 'mib') return { hard: config.limit_mib * MIB, soft: (config.limit_mib - config.spike_limit_mib) * MIB };
  const hard = Math.floor((availableBytes * config.limit_percentage) / 100);
  return { hard, soft: hard - Math.floor((availableBytes * config.spike_limit_percentage) / 100) };
}
