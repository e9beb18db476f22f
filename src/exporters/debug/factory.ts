import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type DebugConfig } from './config.js';
import { createDebugExporter } from './exporter.js';

/** `debug`: logs traces, journey attempts, journey metrics and alerts, and optionally records them as JSON lines. */
export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description:
    'Logs traces, journey attempts, journey metrics and alerts (basic, normal or detailed) and optionally appends them to a file as JSON lines (traces as OTLP/JSON)',
  configSchema,
  create: {
    traces: (settings, config) => createDebugExporter('traces', settings, config),
    attempts: (settings, config) => createDebugExporter('attempts', settings, config),
    journey_metrics: (settings, config) => createDebugExporter('journey_metrics', settings, config),
    alerts: (settings, config) => createDebugExporter('alerts', settings, config),
  },
};
