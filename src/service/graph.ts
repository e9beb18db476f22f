/**
 * The pipeline graph: every component instance the config asks for, wired together, with ordered start and
 * deadline-bounded shutdown.
 *
 * Instances, as the OpenTelemetry Collector makes them:
 * - one exporter instance per exporter id, shared by every pipeline that lists it (one queue, one connection);
 * - one processor instance per (pipeline, processor id): processors keep per-pipeline state (a `batch` buffer);
 * - one receiver instance per receiver id (one listening socket), whose `next` fans out to every pipeline that
 *   lists it (see fanout.ts for the copy and error rules).
 *
 * Lifecycle: `start()` starts components downstream first (exporters, processors from the exporter end, then
 * receivers; start-order.ts); if one fails, the ones already started are shut down in reverse and `start()`
 * rejects with `PULSE_ERR_START` naming the component. `shutdown(deadlineMs)` goes the other way — receivers
 * stop accepting and finish requests in flight, processors flush, exporters drain — each awaited in turn, the
 * whole bounded by the deadline: each component gets the time that is left, and whatever did not finish is logged
 * and reported.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ComponentRegistry } from '../components.js';
import type { ComponentConfig, PipelineConfig, PulseConfig } from '../config/model.js';
import type { Component, ComponentKind, ConsumingComponent, CreateSettings, Host } from '../core/component.js';
import type { Consumer, Signal, SignalData } from '../core/consumer.js';
import { PulseError, errorMessage } from '../core/errors.js';
import type { MetricsRegistry } from '../core/telemetry.js';
import { fanout } from './fanout.js';
import { ObservedProcessor, countOutgoing, processorCounters } from './processor-metrics.js';
import { startOrder, type OrderNode } from './start-order.js';

export interface GraphSettings {
  /** The root logger; each component gets a child with `{ component: '<kind>/<id>' }` (and `pipeline`). */
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
}

export interface ShutdownReport {
  /** Components that did not finish shutting down within the deadline (named as in logs). */
  readonly unfinished: readonly string[];
  /** Components whose shutdown rejected. */
  readonly failed: readonly string[];
}

export type GraphState = 'built' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

interface GraphNode extends OrderNode {
  /** How logs and errors name it: `receiver otlp`, `processor batch (pipeline traces)`. */
  readonly name: string;
  readonly component: Component;
}

export class PipelineGraph {
  private stateValue: GraphState = 'built';
  private readonly started: GraphNode[] = [];
  private starting: Promise<void> | undefined;
  private stopping: Promise<ShutdownReport> | undefined;

  private constructor(
    /** In start order. */
    private readonly nodes: readonly GraphNode[],
    readonly pipelines: readonly string[],
    private readonly shutdownTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Creates (but does not start) every component the pipelines reference. Throws `PULSE_ERR_CREATE` naming the
   * component when a factory is missing, does not support the pipeline's signal, or throws; `PULSE_ERR_CYCLE`
   * when the pipelines form a cycle. Nothing is running when it throws.
   */
  static build(config: PulseConfig, registry: ComponentRegistry, settings: GraphSettings): PipelineGraph {
    const nodes = new GraphBuilder(config, registry, settings).build();
    const logger = settings.logger.child({ component: 'service' });
    return new PipelineGraph(nodes, [...config.service.pipelines.keys()], config.service.shutdownTimeoutMs, logger);
  }

  get state(): GraphState {
    return this.stateValue;
  }

  /** Component names in start order (shutdown runs the reverse). */
  get componentNames(): string[] {
    return this.nodes.map((n) => n.name);
  }

  /**
   * Starts every component, downstream first. `host.reportFatalError` receives errors prefixed with the
   * component's name; reports arriving after shutdown began are logged, not forwarded.
   */
  start(host: Host): Promise<void> {
    if (this.stateValue !== 'built') return Promise.reject(new PulseError('PULSE_ERR_START', `a pipeline graph starts once; this one is ${this.stateValue}`));
    this.stateValue = 'starting';
    this.starting = this.startAll(host);
    return this.starting;
  }

  private async startAll(host: Host): Promise<void> {
    for (const node of this.nodes) {
      // shutdown() waits for this loop to settle, then stops what it started.
      if (this.stopping) throw new PulseError('PULSE_ERR_START', 'shutdown was requested while the pipelines were starting');
      try {
        await node.component.start(this.hostFor(node, host));
      } catch (err) {
        const cause = new PulseError('PULSE_ERR_START', `${node.name}: ${errorMessage(err)}`, { cause: err });
        if (this.stopping) throw cause;
        this.stateValue = 'failed';
        this.logger.error({ err: cause }, `${node.name} failed to start; stopping the ${this.started.length} component(s) already started`);
        await this.stopStarted(this.shutdownTimeoutMs);
        throw cause;
      }
      this.started.push(node);
    }
    if (!this.stopping) this.stateValue = 'running';
  }

  /**
   * Shuts down what was started, receivers first, within `deadlineMs` (default: `service.shutdownTimeoutMs`).
   * Idempotent: later calls return the first call's result. Never rejects. Called during `start()`, it lets
   * the component being started finish starting, stops the rest from starting, and shuts down what started.
   */
  shutdown(deadlineMs: number = this.shutdownTimeoutMs): Promise<ShutdownReport> {
    if (!this.stopping) {
      if (this.stateValue !== 'failed') this.stateValue = 'stopping';
      const starting = this.starting;
      this.stopping = (async () => {
        const begin = Date.now();
        if (starting) await starting.catch(() => undefined);
        const report = await this.stopStarted(Math.max(0, deadlineMs - (Date.now() - begin)));
        if (this.stateValue !== 'failed') this.stateValue = 'stopped';
        return report;
      })();
    }
    return this.stopping;
  }

  private async stopStarted(deadlineMs: number): Promise<ShutdownReport> {
    const deadline = Date.now() + deadlineMs;
    const unfinished: string[] = [];
    const failed: string[] = [];
    // splice: a component is stopped once, even if a start failure and a shutdown() both come through here.
    for (const node of this.started.splice(0).reverse()) {
      const outcome = await settleWithin(node.component, Math.max(0, deadline - Date.now()));
      if (outcome === 'done') continue;
      if (outcome === 'timeout') {
        unfinished.push(node.name);
        this.logger.warn(`${node.name} did not finish shutting down within the ${deadlineMs} ms shutdown deadline; moving on`);
      } else {
        failed.push(node.name);
        this.logger.error({ err: outcome.error }, `${node.name} failed to shut down cleanly: ${errorMessage(outcome.error)}`);
      }
    }
    return { unfinished, failed };
  }

  private hostFor(node: GraphNode, host: Host): Host {
    return {
      reportFatalError: (err: Error) => {
        if (this.stopping || this.stateValue === 'failed') {
          this.logger.warn({ err }, `${node.name} reported an error while shutting down: ${err.message}`);
          return;
        }
        host.reportFatalError(new PulseError('PULSE_ERR_FATAL', `${node.name}: ${err.message}`, { cause: err }));
      },
    };
  }
}

async function settleWithin(component: Component, ms: number): Promise<'done' | 'timeout' | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
  });
  let stopping: Promise<'done' | { error: unknown }>;
  try {
    stopping = component.shutdown().then(
      () => 'done' as const,
      (error: unknown) => ({ error }),
    );
  } catch (error) {
    stopping = Promise.resolve({ error });
  }
  try {
    return await Promise.race([stopping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Builds one graph; a class only to keep the shared build state out of argument lists. */
class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly edges: Array<readonly [string, string]> = [];
  private readonly exporters = new Map<string, { key: string; consumer: Consumer<SignalData[Signal]> }>();
  /** Receiver id → the entry consumer and first node keys of each pipeline listing it, in pipeline order. */
  private readonly receiverTargets = new Map<string, { signal: Signal; entries: Array<{ consumer: Consumer<SignalData[Signal]>; keys: string[] }> }>();

  constructor(
    private readonly config: PulseConfig,
    private readonly registry: ComponentRegistry,
    private readonly settings: GraphSettings,
  ) {}

  /** Every component, in start order. */
  build(): GraphNode[] {
    for (const pipeline of this.config.service.pipelines.values()) this.addPipeline(pipeline);
    for (const [id, target] of this.receiverTargets) this.addReceiver(id, target.signal, target.entries);
    return startOrder(this.nodes, this.edges);
  }

  private addPipeline(pipeline: PipelineConfig): void {
    const { signal } = pipeline;
    const exporterKeys = pipeline.exporters.map((id) => this.exporter(id, signal).key);
    let next = fanout(signal, pipeline.exporters.map((id) => this.exporters.get(id)!.consumer));
    let nextKeys = exporterKeys;
    let mutates = next.mutatesData;
    for (let i = pipeline.processors.length - 1; i >= 0; i--) {
      const id = pipeline.processors[i]!;
      const cc = this.componentConfig('processor', id);
      const name = `processor ${id} (pipeline ${pipeline.id})`;
      const counters = processorCounters(this.settings.metrics, id, pipeline.id);
      const created = this.create(name, () => {
        const create = this.factory('processor', cc).create[signal];
        if (!create) throw unsupported(name, signal);
        return create(this.createSettings('processor', id, pipeline.id), cc.config, countOutgoing(signal, next, counters.outgoing));
      }) as ConsumingComponent<Signal>;
      const processor = new ObservedProcessor(signal, created, counters);
      const key = `processor/${id}@${pipeline.id}`;
      this.nodes.push({ key, kind: 'processor', name, component: processor });
      for (const to of nextKeys) this.edges.push([key, to]);
      mutates ||= processor.mutatesData;
      next = processor;
      nextKeys = [key];
    }
    // A processor that hands its input on unchanged lets a mutating one after it change the caller's object, so
    // the pipeline as a whole mutates when any part of it does (the Collector's "capabilities" node).
    const entry = mutates === next.mutatesData ? next : withMutates(next, mutates);
    for (const id of pipeline.receivers) {
      let target = this.receiverTargets.get(id);
      if (!target) this.receiverTargets.set(id, (target = { signal, entries: [] }));
      target.entries.push({ consumer: entry, keys: nextKeys });
    }
  }

  private exporter(id: string, signal: Signal): { key: string; consumer: Consumer<SignalData[Signal]> } {
    const existing = this.exporters.get(id);
    if (existing) return existing;
    const cc = this.componentConfig('exporter', id);
    const name = `exporter ${id}`;
    const component = this.create(name, () => {
      const create = this.factory('exporter', cc).create[signal];
      if (!create) throw unsupported(name, signal);
      return create(this.createSettings('exporter', id), cc.config);
    });
    const entry = { key: `exporter/${id}`, consumer: component };
    this.nodes.push({ key: entry.key, kind: 'exporter', name, component });
    this.exporters.set(id, entry);
    return entry;
  }

  private addReceiver(id: string, signal: Signal, entries: Array<{ consumer: Consumer<SignalData[Signal]>; keys: string[] }>): void {
    const cc = this.componentConfig('receiver', id);
    const name = `receiver ${id}`;
    const next = fanout(signal, entries.map((e) => e.consumer));
    const component = this.create(name, () => {
      const create = this.factory('receiver', cc).create[signal];
      if (!create) throw unsupported(name, signal);
      return create(this.createSettings('receiver', id), cc.config, next);
    });
    const key = `receiver/${id}`;
    this.nodes.push({ key, kind: 'receiver', name, component });
    for (const e of entries) for (const to of e.keys) this.edges.push([key, to]);
  }

  private componentConfig(kind: ComponentKind, id: string): ComponentConfig {
    const section = kind === 'receiver' ? this.config.receivers : kind === 'processor' ? this.config.processors : this.config.exporters;
    const cc = section.get(id);
    if (!cc) throw new PulseError('PULSE_ERR_CREATE', `${kind} ${id} is used by a pipeline but not configured under ${kind}s:`);
    return cc;
  }

  private factory<K extends ComponentKind>(kind: K, cc: ComponentConfig): FactoryOf<K> {
    const factories = (kind === 'receiver' ? this.registry.receivers : kind === 'processor' ? this.registry.processors : this.registry.exporters) as Map<
      string,
      FactoryOf<K>
    >;
    const factory = factories.get(cc.type);
    if (!factory) {
      const known = [...factories.keys()].join(', ') || 'none';
      throw new PulseError('PULSE_ERR_CREATE', `${kind} ${cc.id}: unknown ${kind} type "${cc.type}" (known: ${known})`);
    }
    return factory;
  }

  private createSettings(kind: ComponentKind, id: string, pipeline?: string): CreateSettings {
    const bindings: Record<string, string> = { component: `${kind}/${id}` };
    if (pipeline !== undefined) bindings.pipeline = pipeline;
    return {
      id,
      kind,
      logger: this.settings.logger.child(bindings),
      metrics: this.settings.metrics,
      dataDir: join(this.config.service.dataDir, kind, id.replaceAll('/', '_')),
    };
  }

  private create<T>(name: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (err instanceof PulseError && err.code === 'PULSE_ERR_CREATE') throw err;
      throw new PulseError('PULSE_ERR_CREATE', `${name}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

type FactoryOf<K extends ComponentKind> = K extends 'receiver'
  ? ComponentRegistry['receivers'] extends Map<string, infer F> ? F : never
  : K extends 'processor'
    ? ComponentRegistry['processors'] extends Map<string, infer F> ? F : never
    : ComponentRegistry['exporters'] extends Map<string, infer F> ? F : never;

function unsupported(name: string, signal: Signal): PulseError {
  return new PulseError('PULSE_ERR_CREATE', `${name} does not support ${signal} pipelines`);
}

function withMutates<T>(consumer: Consumer<T>, mutatesData: boolean): Consumer<T> {
  return { mutatesData, consume: (data) => consumer.consume(data) };
}
