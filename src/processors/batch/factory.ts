import type { ProcessorFactory } from '../../core/component.js';
import { BatchProcessor } from './batch.js';
import { batchConfigSchema, type BatchConfig } from './config.js';

export const batchProcessorFactory: ProcessorFactory<BatchConfig> = {
  kind: 'processor',
  type: 'batch',
  description: 'Merges trace batches into larger ones (by size or timeout) and splits ones that are too large; a batch refused downstream is retried, or with wait_for_result the refusal reaches the sender',
  configSchema: batchConfigSchema,
  create: {
    traces: (settings, config, next) => new BatchProcessor(settings, config, next),
  },
};
