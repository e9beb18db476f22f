/** The exporter helper's public API; see README.md in this folder. */
export { exporterHelperFields, validateExporterHelper, type ExporterHelperConfig, type ExporterHelperDefaults } from './config.js';
export {
  HANDOVER_GRACE_MS,
  createQueuedExporter,
  drainUntil,
  type ItemCodec,
  type QueuedExporter,
  type QueuedExporterOptions,
} from './queued-exporter.js';
export type { SendFn, SendResult } from './sender.js';
export { exporterMetrics, METRIC, type ExporterMetrics, type SendFailureReason } from './metrics.js';
export { LogThrottle } from '../../core/log-throttle.js';
export { clientTlsSchema, isTlsFailure, loadClientTls, tlsHint, type ClientTlsConfig, type LoadedTls } from './tls.js';
export {
  createQueuedTracesExporter,
  tracePartialSuccess,
  traceItemFunctions,
  traceBatchCodec,
  mergeTraceBatches,
  traceItemCount,
  traceBatchSizeEstimate,
  type TraceClient,
} from './traces.js';
export { REPLACEMENT_CHARACTER, stringifyWellFormed, wellFormed } from './well-formed.js';
