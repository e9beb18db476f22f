/**
 * The `debug` exporter: logs what arrives at the configured verbosity and, with `path`, appends it to a JSON Lines
 * file. One class for every signal; what differs per signal (how a batch is logged, how it is written, how items
 * are counted) is a `SignalView`. Synchronous (no queue): consume() resolves once the data is logged and its
 * lines are handed to the bounded file writer.
 */
import type { Logger } from 'pino';
import type { ConsumingComponent, CreateSettings } from '../../core/component.js';
import { itemCount, type Signal, type SignalData } from '../../core/consumer.js';
import { RetryableError } from '../../core/errors.js';
import { serviceNameOf } from '../../core/model.js';
import { encodeTraceRequestJson } from '../../otlp/index.js';
import { exporterMetrics, type ExporterMetrics } from '../exporterhelper/metrics.js';
import type { DebugConfig } from './config.js';
import type { AlertEvent } from '../../alerts/model.js';
import { attemptJson, attemptLine, attemptsSummary, batchSummary, scopeSummaries, sliJson, sliLine, sliSummary, spanDetail } from './describe.js';
import { JsonLinesFile } from './jsonl-file.js';

type Verbosity = DebugConfig['verbosity'];

/** How one signal is logged and recorded. */
interface SignalView<S extends Signal> {
  log(data: SignalData[S], verbosity: Verbosity, logger: Logger): void;
  /** The text appended to the file for this data: whole lines, each ending with '\n' ('' when there is none). */
  lines(data: SignalData[S]): string;
}

/** One JSON object per item, one line each. */
function jsonLines<T>(items: readonly T[], toJson: (item: T) => unknown): string {
  let out = '';
  for (const item of items) out += JSON.stringify(toJson(item)) + '\n';
  return out;
}

const VIEWS: { [S in Signal]: SignalView<S> } = {
  traces: {
    log(batch, verbosity, logger) {
      switch (verbosity) {
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
    },
    // One ExportTraceServiceRequest per line: the Collector file exporter's format, replayable as is.
    lines: (batch) => encodeTraceRequestJson(batch) + '\n',
  },
  attempts: {
    log(records, verbosity, logger) {
      switch (verbosity) {
        case 'basic':
          logger.info(attemptsSummary(records), 'attempts');
          return;
        case 'normal':
          for (const r of records) logger.info(attemptLine(r), 'attempt');
          return;
        case 'detailed':
          for (const r of records) logger.info(attemptJson(r), 'attempt');
          return;
      }
    },
    lines: (records) => jsonLines(records, attemptJson),
  },
  journey_metrics: {
    log(rows, verbosity, logger) {
      switch (verbosity) {
        case 'basic':
          logger.info(sliSummary(rows), 'journey_metrics');
          return;
        case 'normal':
          for (const row of rows) logger.info(sliLine(row), 'journey_metric');
          return;
        case 'detailed':
          for (const row of rows) logger.info(sliJson(row), 'journey_metric');
          return;
      }
    },
    lines: (rows) => jsonLines(rows, sliJson),
  },
  alerts: {
    log(events, verbosity, logger) {
      switch (verbosity) {
        case 'basic':
          logger.info({ alerts: events.length, firing: events.filter((e) => e.status === 'firing').length }, 'alerts');
          return;
        case 'normal':
          for (const e of events) logger.info(alertLine(e), 'alert');
          return;
        case 'detailed':
          for (const e of events) logger.info(e, 'alert');
          return;
      }
    },
    lines: (events) => jsonLines(events, (e) => e),
  },
};

/** One alert event in one line: what, for whom, status. */
function alertLine(e: AlertEvent): Record<string, unknown> {
  return {
    journey: e.journey,
    kind: e.kind,
    severity: e.severity,
    status: e.status,
    segment: e.segment ? `${e.segment.key}=${e.segment.value}` : undefined,
    summary: e.summary,
    fingerprint: e.fingerprint,
  };
}

export class DebugExporter<S extends Signal> implements ConsumingComponent<S> {
  readonly mutatesData = false;
  private readonly metrics: ExporterMetrics;
  private readonly file: JsonLinesFile | undefined;
  private readonly view: SignalView<S>;
  private readonly count: (data: SignalData[S]) => number;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(
    signal: S,
    private readonly settings: CreateSettings,
    private readonly cfg: DebugConfig,
  ) {
    this.view = VIEWS[signal] as SignalView<S>;
    this.count = itemCount[signal];
    this.metrics = exporterMetrics(settings.metrics, settings.id);
    this.file = cfg.path !== undefined ? new JsonLinesFile(cfg.path, cfg.max_buffered, cfg.write_timeout, settings.logger) : undefined;
  }

  async start(): Promise<void> {
    await this.file?.open();
  }

  async consume(data: SignalData[S]): Promise<void> {
    if (this.stopped) {
      throw new RetryableError('PULSE_ERR_SHUTTING_DOWN', `exporter ${this.settings.id} is shutting down and accepts no more data`);
    }
    this.view.log(data, this.cfg.verbosity, this.settings.logger);
    if (this.file) {
      const text = this.view.lines(data);
      if (text !== '') await this.file.write(text);
    }
    this.metrics.sent.inc(this.count(data));
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    this.stopping ??= this.file?.close() ?? Promise.resolve();
    return this.stopping;
  }
}

export function createDebugExporter<S extends Signal>(signal: S, settings: CreateSettings, config: DebugConfig): DebugExporter<S> {
  return new DebugExporter(signal, settings, config);
}
