/**
 * The metrics every exporter reports, with the `exporter` label (the component id) bound once at creation so the
 * send path only adds to numbers. Other exporters (debug, and later ClickHouse/Kafka) use the same names, so one
 * dashboard covers them all.
 */
import type { BoundCounter, MetricsRegistry } from '../../core/telemetry.js';

/** Why items did not reach the destination; the `reason` label of `pulse_exporter_send_failed_items_total`. */
export type SendFailureReason = 'permanent' | 'retries_exhausted' | 'shutdown' | 'rejected_by_destination';

export interface ExporterMetrics {
  readonly sent: BoundCounter;
  readonly failed: { readonly [R in SendFailureReason]: BoundCounter };
  readonly enqueueFailed: BoundCounter;
  readonly retries: BoundCounter;
  readonly corruptFiles: BoundCounter;
}

export const METRIC = {
  sent: 'pulse_exporter_sent_items_total',
  failed: 'pulse_exporter_send_failed_items_total',
  enqueueFailed: 'pulse_exporter_enqueue_failed_items_total',
  retries: 'pulse_exporter_retries_total',
  queueSize: 'pulse_exporter_queue_size',
  queueCapacity: 'pulse_exporter_queue_capacity',
  queueBytes: 'pulse_exporter_queue_bytes',
  corruptFiles: 'pulse_exporter_queue_corrupt_files_total',
} as const;

export function exporterMetrics(registry: MetricsRegistry, exporter: string): ExporterMetrics {
  const failed = registry.counter(
    METRIC.failed,
    'Items (spans) that did not reach the destination, by reason: permanent (bad data), retries_exhausted, shutdown (in-memory queue left at shutdown), rejected_by_destination (partial success)',
  );
  return {
    sent: registry.counter(METRIC.sent, 'Items (spans) the destination accepted').with({ exporter }),
    failed: {
      permanent: failed.with({ exporter, reason: 'permanent' }),
      retries_exhausted: failed.with({ exporter, reason: 'retries_exhausted' }),
      shutdown: failed.with({ exporter, reason: 'shutdown' }),
      rejected_by_destination: failed.with({ exporter, reason: 'rejected_by_destination' }),
    },
    enqueueFailed: registry
      .counter(METRIC.enqueueFailed, 'Items (spans) refused or dropped because the sending queue was full')
      .with({ exporter }),
    retries: registry.counter(METRIC.retries, 'Send attempts that failed and were retried').with({ exporter }),
    corruptFiles: registry
      .counter(METRIC.corruptFiles, 'Persistent-queue files that could not be read back and were deleted')
      .with({ exporter }),
  };
}
