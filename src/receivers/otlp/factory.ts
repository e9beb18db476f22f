import type { ReceiverFactory } from '../../core/component.js';
import { otlpReceiverConfigSchema, type OtlpReceiverConfig } from './config.js';
import { OtlpReceiver } from './receiver.js';

export const otlpReceiverFactory: ReceiverFactory<OtlpReceiverConfig> = {
  type: 'otlp',
  kind: 'receiver',
  description: 'Receives OTLP traces over gRPC (:4317) and HTTP (:4318, protobuf and JSON)',
  configSchema: otlpReceiverConfigSchema,
  create: {
    traces: (settings, config, next) => new OtlpReceiver(settings, config, next),
  },
};
