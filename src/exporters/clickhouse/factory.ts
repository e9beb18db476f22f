import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type ClickHouseConfig } from './config.js';
import { createClickHouseExporter } from './exporter.js';
import { encodeAlerts, encodeAttempts, encodeSliWindows } from './rows.js';

/** `clickhouse`: journey attempts, SLI windows and alert events into ClickHouse tables; durable, never double-counted. */
export const clickhouseExporterFactory: ExporterFactory<ClickHouseConfig> = {
  kind: 'exporter',
  type: 'clickhouse',
  description:
    'Writes journey attempts, SLI windows and alert events to ClickHouse (journey_attempts, journey_sli, journey_alerts) through a persistent queue, with row ids that make re-sent batches count once',
  configSchema,
  create: {
    attempts: (settings, config) => createClickHouseExporter('attempts', settings, config, encodeAttempts),
    journey_metrics: (settings, config) => createClickHouseExporter('journey_metrics', settings, config, (rows) => encodeSliWindows(rows)),
    alerts: (settings, config) => createClickHouseExporter('alerts', settings, config, (events) => encodeAlerts(events)),
  },
};
