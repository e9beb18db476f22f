import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type DebugConfig } from './config.js';
import { createDebugTracesExporter } from './exporter.js';

/** `debug`: logs traces, and optionally records them to a file as OTLP/JSON lines. */
export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description: 'Logs traces (basic, normal or detailed) and optionally appends them to a file as OTLP/JSON lines',
  configSchema,
  create: {
    traces: (settings, config) => createDebugTracesExporter(settings, config),
  },
};
