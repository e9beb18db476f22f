/**
 * The components this build of Pulse knows, by kind and type. The config loader resolves `type` and `type/name`
 * ids against a registry, and the generated JSON Schema lists exactly these types; tests pass their own small
 * registries. Adding a component = one line here (and `npm run schema`).
 */
import type { ConnectorFactory, ExporterFactory, ProcessorFactory, ReceiverFactory } from './core/component.js';
import { otlpReceiverFactory } from './receivers/otlp/factory.js';
import { loadBalancingExporterFactory } from './exporters/loadbalancing/factory.js';
import { otlpExporterFactory } from './exporters/otlp/factory.js';
import { otlphttpExporterFactory } from './exporters/otlphttp/factory.js';
import { debugExporterFactory } from './exporters/debug/factory.js';
import { clickhouseExporterFactory } from './exporters/clickhouse/factory.js';
import { kafkaExporterFactory } from './exporters/kafka/factory.js';
import { batchProcessorFactory } from './processors/batch/factory.js';
import { memoryLimiterProcessorFactory } from './processors/memory_limiter/factory.js';
import { journeysConnectorFactory } from './connectors/journeys/factory.js';
import { sloConnectorFactory } from './connectors/slo/factory.js';

export interface ComponentRegistry {
  readonly receivers: Map<string, ReceiverFactory>;
  readonly processors: Map<string, ProcessorFactory>;
  readonly exporters: Map<string, ExporterFactory>;
  /** Components that join pipelines: an exporter of some pipelines and a receiver of others. */
  readonly connectors: Map<string, ConnectorFactory>;
}

/**
 * A factory typed with its own config (`ReceiverFactory<OtlpReceiverConfig>`) is not assignable to
 * `ReceiverFactory<unknown>` (its `create` takes a narrower config). The registry only ever hands a factory the
 * output of that same factory's `configSchema`, so erasing the config type here is sound.
 */
function byType<F extends ReceiverFactory | ProcessorFactory | ExporterFactory | ConnectorFactory>(
  ...factories: ReadonlyArray<{ readonly type: string; readonly kind: F['kind'] }>
): Map<string, F> {
  return new Map(factories.map((f) => [f.type, f as unknown as F]));
}

/** A fresh registry of every built-in component. */
export function defaultRegistry(): ComponentRegistry {
  return {
    receivers: byType<ReceiverFactory>(otlpReceiverFactory),
    processors: byType<ProcessorFactory>(memoryLimiterProcessorFactory, batchProcessorFactory),
    exporters: byType<ExporterFactory>(
      debugExporterFactory,
      otlpExporterFactory,
      otlphttpExporterFactory,
      loadBalancingExporterFactory,
      kafkaExporterFactory,
      clickhouseExporterFactory,
    ),
    connectors: byType<ConnectorFactory>(journeysConnectorFactory, sloConnectorFactory),
  };
}
