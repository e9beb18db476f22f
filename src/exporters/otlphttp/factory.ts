import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type OtlpHttpConfig } from './config.js';
import { createOtlpHttpTracesExporter } from './exporter.js';

/** `otlphttp`: forwards traces as OTLP over HTTP (protobuf or JSON), queued, retried, optionally on disk. */
export const otlphttpExporterFactory: ExporterFactory<OtlpHttpConfig> = {
  kind: 'exporter',
  type: 'otlphttp',
  description: 'Sends traces to an OTLP/HTTP endpoint (protobuf or JSON, gzip), with a bounded queue and retries',
  configSchema,
  create: {
    traces: (settings, config) => createOtlpHttpTracesExporter(settings, config),
  },
};
