import type { ExporterFactory } from '../../core/component.js';
import { configSchema, type LoadBalancingConfig } from './config.js';
import { LoadBalancingExporter } from './exporter.js';

/** `loadbalancing`: every span of a trace to the same one of several OTLP/gRPC backends (by trace id). */
export const loadBalancingExporterFactory: ExporterFactory<LoadBalancingConfig> = {
  kind: 'exporter',
  type: 'loadbalancing',
  description: 'Sends each trace, whole, to one of several OTLP/gRPC backends picked by trace id (static list or DNS), so that journey attempts assemble on one gateway',
  configSchema,
  create: {
    traces: (settings, config) => new LoadBalancingExporter(settings, config),
  },
};
