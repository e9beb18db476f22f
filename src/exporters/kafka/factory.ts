import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type KafkaExporterConfig } from './config.js';
import { createKafkaAlertsExporter } from './exporter.js';

/** `kafka`: alert events as CloudEvents on a Kafka topic, keyed by fingerprint, through a disk outbox. */
export const kafkaExporterFactory: ExporterFactory<KafkaExporterConfig> = {
  kind: 'exporter',
  type: 'kafka',
  description:
    'Publishes alert events as CloudEvents 1.0 (structured JSON) to a Kafka topic, keyed by alert fingerprint, through an idempotent producer and a disk outbox',
  configSchema,
  create: {
    alerts: (settings, config) => createKafkaAlertsExporter(settings, config),
  },
};
