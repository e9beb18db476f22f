import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type OtlpGrpcConfig } from './config.js';
import { createOtlpGrpcTracesExporter } from './exporter.js';

/** `otlp`: forwards traces as OTLP over gRPC (HTTP/2, gzip), queued, retried, optionally on disk. */
export const otlpExporterFactory: ExporterFactory<OtlpGrpcConfig> = {
  kind: 'exporter',
  type: 'otlp',
  description: 'Sends traces to an OTLP/gRPC endpoint (HTTP/2, gzip), with a bounded queue and retries',
  configSchema,
  create: {
    traces: (settings, config) => createOtlpGrpcTracesExporter(settings, config),
  },
};
