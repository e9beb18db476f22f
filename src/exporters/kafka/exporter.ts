/**
 * The `kafka` exporter for the `alerts` signal: each consume() turns its alert events into Kafka records
 * (CloudEvents, keyed by fingerprint) and queues them as one batch in the exporter helper's queue — on disk by
 * default, the outbox — from where one consumer sends them in order through the idempotent producer.
 */
import type { CreateSettings, Host } from '../../core/component.js';
import type { AlertEvent } from '../../alerts/model.js';
import { LogThrottle, createQueuedExporter, exporterMetrics, type QueuedExporter } from '../exporterhelper/index.js';
import { defaultSource } from './cloudevents.js';
import type { KafkaExporterConfig } from './config.js';
import { KafkaAlertProducer } from './producer.js';
import { mergeRecordBatches, recordBatchCodec, recordsSize, toRecords, type AlertRecordBatch } from './records.js';

export interface KafkaAlertsExporter {
  readonly mutatesData: false;
  start(host: Host): Promise<void>;
  /**
   * Queues the events (resolves once they are in the outbox). Rejects with `PULSE_ERR_QUEUE_FULL` (retryable) when
   * the outbox is full. An event that cannot be serialised is dropped and counted (`reason="permanent"`); when no
   * event of the call is left, it rejects with that `PULSE_ERR_KAFKA_BAD_EVENT` (permanent).
   */
  consume(events: AlertEvent[]): Promise<void>;
  /** See QueuedExporter.shutdown: unsent events stay in the outbox for the next start. Idempotent. */
  shutdown(deadline?: number): Promise<void>;
  /** Batches in the outbox (waiting or being sent). */
  readonly queueSize: number;
}

export function createKafkaAlertsExporter(settings: CreateSettings, config: KafkaExporterConfig): KafkaAlertsExporter {
  const source = config.source ?? defaultSource();
  const metrics = exporterMetrics(settings.metrics, settings.id);
  const throttle = new LogThrottle();
  const producer = new KafkaAlertProducer(config, settings.logger);
  const queued: QueuedExporter<AlertRecordBatch> = createQueuedExporter<AlertRecordBatch>({
    settings,
    config,
    send: (batch, signal) => producer.send(batch, signal),
    itemCount: (batch) => batch.length,
    sizeOf: recordsSize,
    codec: recordBatchCodec,
    merge: mergeRecordBatches,
    start: () => producer.start(),
    shutdown: () => producer.close(),
  });
  return {
    mutatesData: false,
    start: (host) => queued.start(host),
    async consume(events) {
      if (events.length === 0) return;
      const { records, bad } = toRecords(events, source);
      if (bad.length > 0) {
        metrics.failed.permanent.inc(bad.length);
        const suppressed = throttle.take('bad_event');
        if (suppressed !== undefined) settings.logger.error({ dropped: bad.length, err: bad[0]!.message, suppressed }, 'dropped alert events that cannot be written');
        if (records.length === 0) throw bad[0]!;
      }
      await queued.consume(records);
    },
    shutdown: (deadline) => queued.shutdown(deadline),
    get queueSize() {
      return queued.queueSize;
    },
  };
}
