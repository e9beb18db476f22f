import type { ProcessorFactory } from '../../core/component.js';
import { memoryLimiterConfigSchema, type MemoryLimiterConfig } from './config.js';
import { MemoryLimiter } from './memory-limiter.js';

export const memoryLimiterProcessorFactory: ProcessorFactory<MemoryLimiterConfig> = {
  kind: 'processor',
  type: 'memory_limiter',
  description: 'Refuses data (retryable, resource exhausted) while resident memory is above the soft limit, so senders back off instead of Pulse running out of memory',
  configSchema: memoryLimiterConfigSchema,
  create: {
    traces: (settings, config, next) => new MemoryLimiter(settings, config, next),
  },
};
