/**
 * Small fake components for service and processor tests: a receiver you push batches into, a recording
 * exporter, and processors that mutate or filter. Every lifecycle call is written to a shared `events` list so
 * tests can assert order.
 */
import { z } from 'zod';
import { pino } from 'pino';
import type { ComponentRegistry } from '../../../src/components.js';
import type { ComponentConfig, PipelineConfig, PulseConfig } from '../../../src/config/model.js';
import type {
  Component,
  ConnectorComponent,
  ConnectorFactory,
  ConnectorOutputs,
  ConsumingComponent,
  CreateSettings,
  ExporterFactory,
  Host,
  ProcessorFactory,
  ReceiverFactory,
} from '../../../src/core/component.js';
import type { Consumer, Signal } from '../../../src/core/consumer.js';
import type { AttemptRecord } from '../../../src/journeys/model.js';
import type { ComponentKind } from '../../../src/core/component.js';
import { SpanKind, type Span, type TraceBatch } from '../../../src/core/model.js';

export const silentLogger = () => pino({ level: 'silent' });

/** A batch of `spans` spans named `${tag}-0…`, spread over `resources` resources (service.name = `svc-<i>`). */
export function makeBatch(spans: number, tag = 's', resources = 1): TraceBatch {
  const perResource = Math.ceil(spans / resources);
  const resourceSpans = [];
  for (let r = 0, made = 0; r < resources; r++) {
    const list: Span[] = [];
    for (let i = 0; i < perResource && made < spans; i++, made++) list.push(makeSpan(`${tag}-${made}`));
    resourceSpans.push({
      resource: { attributes: [{ key: 'service.name', value: `svc-${r}` }], droppedAttributesCount: 0 },
      scopeSpans: [{ scope: { name: 'test', version: '1', attributes: [], droppedAttributesCount: 0 }, spans: list, schemaUrl: '' }],
      schemaUrl: '',
    });
  }
  return { resourceSpans, spanCount: spans };
}

export function makeSpan(name: string): Span {
  return {
    traceId: 'T'.repeat(16),
    spanId: 'S'.repeat(8),
    traceState: '',
    parentSpanId: '',
    flags: 1,
    name,
    kind: SpanKind.SERVER,
    startTimeUnixNano: 1n,
    endTimeUnixNano: 2n,
    attributes: [{ key: 'k', value: 'v' }],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    statusCode: 0,
    statusMessage: '',
  };
}

export function spanNames(batch: TraceBatch): string[] {
  return batch.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)));
}

/** A promise with its settle functions, for downstreams that answer when the test says so. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const fakeSchema = z
  .object({
    fail_start: z.string().optional(),
    hang_shutdown: z.boolean().default(false),
    /** shutdown() takes this long to finish. */
    shutdown_ms: z.number().int().nonnegative().default(0),
    mutates: z.boolean().default(false),
    /** processors: drop every span at an odd index within its scope (a filter). */
    drop_odd: z.boolean().default(false),
  })
  .strict();
type FakeConfig = z.output<typeof fakeSchema>;

/** Lifecycle common to every fake. */
class FakeComponent implements Component {
  host: Host | undefined;
  running = false;
  /** What shutdown() was given. */
  shutdownDeadline: number | undefined;
  constructor(
    readonly settings: CreateSettings,
    readonly config: FakeConfig,
    readonly events: string[],
  ) {}
  start(host: Host): Promise<void> {
    this.events.push(`start ${this.settings.kind} ${this.settings.id}`);
    if (this.config.fail_start) return Promise.reject(new Error(this.config.fail_start));
    this.host = host;
    this.running = true;
    return Promise.resolve();
  }
  shutdown(deadline?: number): Promise<void> {
    this.shutdownDeadline = deadline;
    this.events.push(`shutdown ${this.settings.kind} ${this.settings.id}`);
    this.running = false;
    if (this.config.hang_shutdown) return new Promise<void>(() => undefined);
    return this.config.shutdown_ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, this.config.shutdown_ms)) : Promise.resolve();
  }
}

export class FakeReceiver extends FakeComponent {
  constructor(
    settings: CreateSettings,
    config: FakeConfig,
    events: string[],
    readonly next: Consumer<TraceBatch>,
  ) {
    super(settings, config, events);
  }
  /** What a real receiver does with a decoded request: hand it on and answer the sender with the result. */
  push(batch: TraceBatch): Promise<void> {
    if (!this.running) return Promise.reject(new Error(`receiver ${this.settings.id} is not running`));
    return this.next.consume(batch);
  }
}

export class RecordingExporter extends FakeComponent implements ConsumingComponent<'traces'> {
  readonly received: TraceBatch[] = [];
  /** When set, consume() rejects with it. */
  refuseWith: Error | undefined;
  get mutatesData(): boolean {
    return this.config.mutates;
  }
  /** What the previous config's instance handed over at a reload (the handover protocol of the real exporters). */
  inherited: readonly unknown[] = [];
  /** Dropped as a handover nobody took (`Handover.settle`). */
  droppedHandover = 0;
  consume(batch: TraceBatch): Promise<void> {
    if (this.refuseWith) return Promise.reject(this.refuseWith);
    if (this.config.mutates) for (const rs of batch.resourceSpans) rs.resource.attributes.push({ key: 'touched.by', value: this.settings.id });
    this.received.push(batch);
    return Promise.resolve();
  }
  override async start(host: Host): Promise<void> {
    await super.start(host);
    // After an await, as a real exporter takes it (once its own start resolved).
    this.inherited = this.settings.handover?.take() ?? [];
  }
  override shutdown(deadline?: number): Promise<void> {
    const handover = this.settings.handover;
    if (this.running && handover?.continues() === true) {
      const items = [...this.inherited, ...this.received];
      handover.put(items, items.length, (n) => (this.droppedHandover += n));
      this.events.push(`hand over exporter ${this.settings.id}`);
    }
    return super.shutdown(deadline);
  }
}

/** A processor that (optionally) tags every span's name and (optionally) drops odd-numbered spans. */
export class FakeProcessor extends FakeComponent implements ConsumingComponent<'traces'> {
  constructor(
    settings: CreateSettings,
    config: FakeConfig,
    events: string[],
    private readonly next: Consumer<TraceBatch>,
  ) {
    super(settings, config, events);
  }
  get mutatesData(): boolean {
    return this.config.mutates || this.config.drop_odd;
  }
  consume(batch: TraceBatch): Promise<void> {
    if (this.config.mutates) for (const rs of batch.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) s.name += '+';
    if (this.config.drop_odd) {
      let count = 0;
      for (const rs of batch.resourceSpans)
        for (const ss of rs.scopeSpans) {
          ss.spans = ss.spans.filter((_, i) => i % 2 === 0);
          count += ss.spans.length;
        }
      batch.spanCount = count;
    }
    return this.next.consume(batch);
  }
}

/** Records attempts (the `rec` exporter in an attempts pipeline). */
export class RecordingAttemptsExporter extends FakeComponent implements ConsumingComponent<'attempts'> {
  readonly mutatesData = false;
  readonly received: AttemptRecord[] = [];
  consume(records: AttemptRecord[]): Promise<void> {
    if (!this.running) return Promise.reject(new Error(`exporter ${this.settings.id} is not running`));
    this.received.push(...records);
    return Promise.resolve();
  }
}

/** One attempt record per span name, for the fake connector. */
export function fakeAttempt(journey: string): AttemptRecord {
  return {
    journey,
    traceId: 'T'.repeat(16),
    startSpanId: 'S'.repeat(8),
    startTimeUnixNano: 1n,
    durationMs: 1,
    outcome: 'success',
    reasons: [],
    signals: [],
    segments: {},
    services: [],
    failingStep: undefined,
    spans: [],
    decidedBy: 'complete',
    decidedAtMs: 0,
  };
}

/**
 * The `split` connector: traces in; out, the same traces (when a traces pipeline receives from it) and one
 * attempt per span, named after the span (when an attempts pipeline does). At shutdown it flushes one more
 * attempt named `flushed`, as the journeys connector flushes pending attempts, and records whether the
 * downstream consumer still accepted it.
 */
export class FakeConnector extends FakeComponent implements ConnectorComponent {
  readonly inputs: ConnectorComponent['inputs'];
  flushResult: 'accepted' | 'refused' | undefined;
  constructor(
    settings: CreateSettings,
    config: FakeConfig,
    events: string[],
    readonly outputs: ConnectorOutputs,
  ) {
    super(settings, config, events);
    this.inputs = {
      traces: {
        mutatesData: config.mutates,
        consume: async (batch) => {
          if (!this.running) throw new Error(`connector ${settings.id} is not running`);
          const attempts = spanNames(batch).map((name) => fakeAttempt(name));
          await Promise.all([this.outputs.traces?.consume(batch), this.outputs.attempts?.consume(attempts)]);
        },
      },
    };
  }
  override async shutdown(): Promise<void> {
    await super.shutdown();
    if (!this.outputs.attempts) return;
    this.flushResult = await this.outputs.attempts.consume([fakeAttempt('flushed')]).then(
      () => 'accepted' as const,
      () => 'refused' as const,
    );
  }
}

/** Fake factories (receiver `fake`, processor `fakeproc`, exporter `rec`, connector `split`) and their instances. */
export function fakeRegistry() {
  const events: string[] = [];
  const receivers = new Map<string, FakeReceiver>();
  const processors: FakeProcessor[] = [];
  const exporters = new Map<string, RecordingExporter>();
  const attemptExporters = new Map<string, RecordingAttemptsExporter>();
  const connectors = new Map<string, FakeConnector>();
  const connectorOutputs: Signal[][] = [];
  const settings: CreateSettings[] = [];
  const receiverFactory: ReceiverFactory<FakeConfig> = {
    kind: 'receiver',
    type: 'fake',
    description: 'test receiver',
    configSchema: fakeSchema,
    create: {
      traces: (s, c, next) => {
        settings.push(s);
        const r = new FakeReceiver(s, c, events, next);
        receivers.set(s.id, r);
        return r;
      },
    },
  };
  const processorFactory: ProcessorFactory<FakeConfig> = {
    kind: 'processor',
    type: 'fakeproc',
    description: 'test processor',
    configSchema: fakeSchema,
    create: {
      traces: (s, c, next) => {
        settings.push(s);
        const p = new FakeProcessor(s, c, events, next);
        processors.push(p);
        return p;
      },
      // Any signal: a pass-through, enough to see processors wired and counted in attempts pipelines.
      attempts: (s, c, next) => {
        settings.push(s);
        return Object.assign(new FakeComponent(s, c, events), { mutatesData: false, consume: (d: AttemptRecord[]) => next.consume(d) });
      },
    },
  };
  const exporterFactory: ExporterFactory<FakeConfig> = {
    kind: 'exporter',
    type: 'rec',
    description: 'test exporter',
    configSchema: fakeSchema,
    create: {
      traces: (s, c) => {
        settings.push(s);
        const e = new RecordingExporter(s, c, events);
        exporters.set(s.id, e);
        return e;
      },
      attempts: (s, c) => {
        settings.push(s);
        const e = new RecordingAttemptsExporter(s, c, events);
        attemptExporters.set(s.id, e);
        return e;
      },
    },
  };
  const connectorFactory: ConnectorFactory<FakeConfig> = {
    kind: 'connector',
    type: 'split',
    description: 'test connector',
    configSchema: fakeSchema,
    inputs: ['traces'],
    outputs: ['traces', 'attempts'],
    create: (s, c, outputs) => {
      settings.push(s);
      connectorOutputs.push(Object.keys(outputs) as Signal[]);
      const conn = new FakeConnector(s, c, events, outputs);
      connectors.set(s.id, conn);
      return conn;
    },
  };
  const registry: ComponentRegistry = {
    receivers: new Map([['fake', receiverFactory as unknown as ReceiverFactory]]),
    processors: new Map([['fakeproc', processorFactory as unknown as ProcessorFactory]]),
    exporters: new Map([['rec', exporterFactory as unknown as ExporterFactory]]),
    connectors: new Map([['split', connectorFactory as unknown as ConnectorFactory]]),
  };
  return { registry, events, receivers, processors, exporters, attemptExporters, connectors, connectorOutputs, settings };
}

export interface ConfigSpec {
  receivers?: Record<string, Partial<FakeConfig>>;
  processors?: Record<string, Partial<FakeConfig>>;
  exporters?: Record<string, Partial<FakeConfig>>;
  connectors?: Record<string, Partial<FakeConfig>>;
  /** The signal is the id up to a '/': `traces`, `attempts/x`. */
  pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
  shutdownTimeoutMs?: number;
  dataDir?: string;
  /** Telemetry endpoints; default: both off. */
  health?: string;
  metrics?: string;
  level?: 'info' | 'debug' | 'silent';
}

/** A validated PulseConfig as the loader would produce it, for the fake component types. */
export function makeConfig(spec: ConfigSpec): PulseConfig {
  const section = (kind: ComponentKind, entries: Record<string, Partial<FakeConfig>> = {}) =>
    new Map<string, ComponentConfig>(
      Object.entries(entries).map(([id, cfg]) => {
        const [type = id, name = ''] = id.split('/');
        return [id, { id, kind, type, name, config: fakeSchema.parse(cfg) }];
      }),
    );
  const pipelines = new Map<string, PipelineConfig>(
    Object.entries(spec.pipelines).map(([id, p]) => [
      id,
      { id, signal: id.split('/')[0] as Signal, receivers: p.receivers, processors: p.processors ?? [], exporters: p.exporters },
    ]),
  );
  const address = (text: string | undefined) => {
    if (text === undefined) return undefined;
    const [host = '', port = '0'] = text.split(/:(?=\d+$)/);
    return { address: { host, port: Number(port) } };
  };
  return {
    path: '/tmp/pulse-test.yaml',
    receivers: section('receiver', spec.receivers),
    processors: section('processor', spec.processors),
    exporters: section('exporter', spec.exporters),
    connectors: section('connector', spec.connectors),
    service: {
      pipelines,
      telemetry: { logs: { level: spec.level ?? 'silent' }, metrics: address(spec.metrics), health: address(spec.health) },
      shutdownTimeoutMs: spec.shutdownTimeoutMs ?? 5000,
      dataDir: spec.dataDir ?? '/tmp/pulse-data',
      derivedSignalsThread: 'main',
      derivedSignalsMaxHeapBytes: 2 ** 30,
    },
  };
}
