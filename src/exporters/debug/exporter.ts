/**
 * The `debug` exporter: logs batches at the configured verbosity and, with `path`, appends each batch as one
 * OTLP/JSON line. Synchronous (no queue): consume() resolves once the batch is logged and its line handed to the
 * bounded file writer.
 */
import type { ConsumingComponent, CreateSettings } from '../../core/component.js';
import { RetryableError } from '../../core/errors.js';
import { serviceNameOf, type TraceBatch } from '../../core/model.js';
import { encodeTraceRequestJson } from '../../otlp/index.js';
import { exporterMetrics, type ExporterMetrics } from '../exporterhelper/metrics.js';
import type { DebugConfig } from './config.js';
import { batchSummary, scopeSummaries, spanDetail } from './describe.js';
import { JsonLinesFile } from './jsonl-file.js';

export class DebugExporter implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;
  private readonly metrics: ExporterMetrics;
  private readonly file: JsonLinesFile | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly settings: CreateSettings,
    private readonly cfg: DebugConfig,
  ) {
    this.metrics = exporterMetrics(settings.metrics, settings.id);
    this.file = cfg.path !== undefined ? new JsonLinesFile(cfg.path, cfg.max_buffered, cfg.write_timeout, settings.logger) : undefined;
  }

  async start(): Promise<void> {
    await this.file?.open();
  }

  async consume(batch: TraceBatch): Promise<void> {
    if (this.stopped) {
      throw new RetryableError('PULSE_ERR_SHUTTING_DOWN', `exporter ${this.settings.id} is shutting down and accepts no more data`);
    }
    this.log(batch);
    if (this.file) await this.file.write(encodeTraceRequestJson(batch) + '\n');
    this.metrics.sent.inc(batch.spanCount);
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    this.stopping ??= this.file?.close() ?? Promise.resolve();
    return this.stopping;
  }

  private log(batch: TraceBatch): void {
    const logger = this.settings.logger;
    switch (this.cfg.verbosity) {
      case 'basic':
        logger.info(batchSummary(batch), 'traces');
        return;
      case 'normal':
        for (const s of scopeSummaries(batch)) logger.info(s, 'traces');
        return;
      case 'detailed':
        for (const rs of batch.resourceSpans) {
          const service = serviceNameOf(rs.resource);
          for (const ss of rs.scopeSpans) for (const span of ss.spans) logger.info(spanDetail(span, service, ss.scope.name), 'span');
        }
        return;
    }
  }
}

export function createDebugTracesExporter(settings: CreateSettings, config: DebugConfig): DebugExporter {
  return new DebugExporter(settings, config);
}
