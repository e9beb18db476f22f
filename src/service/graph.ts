/**
 * The pipeline graph: every component instance the config asks for, wired together, with ordered start and
 * deadline-bounded shutdown.
 *
 * Instances, as the OpenTelemetry Collector makes them:
 * - one exporter instance per exporter id and signal, shared by every pipeline of that signal that lists it (one
 *   queue, one connection); `debug` in an attempts and a journey_metrics pipeline is two instances;
 * - one processor instance per (pipeline, processor id): processors keep per-pipeline state (a `batch` buffer);
 * - one receiver instance per receiver id and signal (one listening socket), whose `next` fans out to every
 *   pipeline that lists it (see fanout.ts for the copy and error rules);
 * - one connector instance per connector id, whatever the number of pipelines it joins. Its `outputs` are, per
 *   output signal used, a fan-out to the entries of every pipeline listing it under `receivers`; the pipelines
 *   listing it under `exporters` hand their data to `connector.inputs[signal]`. Pipelines are therefore built
 *   downstream first (`pipelinesDownstreamFirst`), and a cycle through connectors is refused (`PULSE_ERR_CYCLE`).
 *
 * Lifecycle: `start()` starts components downstream first, across pipelines (start-order.ts): the exporters and
 * processors of the pipelines a connector feeds, then the connector, then the processors of the pipelines feeding
 * it, receivers last. If one fails, the ones already started are shut down in reverse and `start()` rejects with
 * `PULSE_ERR_START` naming the component. `shutdown(deadlineMs)` goes the other way — receivers stop accepting and
 * finish requests in flight, upstream processors flush, a connector flushes into the downstream pipelines (still
 * running), their processors flush, exporters drain — each awaited in turn (exporters next to each other in that
 * order side by side: they feed nothing), the whole bounded by the deadline:
 * each component is told the deadline (`Component.shutdown(deadline)`) and waited for until then, and whatever did
 * not finish is logged and reported.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ComponentRegistry } from '../components.js';
import type { ComponentConfig, PipelineConfig, PulseConfig } from '../config/model.js';
import type { Component, ComponentKind, ConnectorComponent, ConsumingComponent, CreateSettings, Host, ThreadLink } from '../core/component.js';
import { DerivedWorker } from './derived-worker/main-side.js';
import { planSplit } from './derived-worker/plan.js';
import type { Consumer, Signal, SignalData } from '../core/consumer.js';
import { PulseError, errorMessage } from '../core/errors.js';
import type { Handover } from '../core/handover.js';
import type { OverloadRefusals } from '../core/overload.js';
import type { MetricsRegistry } from '../core/telemetry.js';
import { fanout } from './fanout.js';
import { ObservedProcessor, countOutgoing, processorCounters } from './processor-metrics.js';
import { startOrder, type OrderNode } from './start-order.js';

export interface GraphSettings {
  /** The root logger; each component gets a child with `{ component: '<kind>/<id>' }` (and `pipeline`). */
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** Handed to every component (`CreateSettings.overload`); one per process, so it outlives reloads. */
  readonly overload?: OverloadRefusals;
  /**
   * Where exporters leave their in-memory queues for the next graph on a reload (`CreateSettings.handover`); one
   * per process. Absent in graphs built without one (tests, the worker side of a split graph).
   */
  readonly handover?: Handover;
}

/**
 * One half of a graph split across two threads (`service.derived_signals.thread: worker`, see derived-worker/).
 * Bridged connectors have a part on each side: on the main side they may have no output pipeline left, on the
 * worker side no input pipeline; both parts get `link` in their create settings (on the worker side, every
 * component does: the journey definitions arrive through it).
 */
export interface SplitOptions {
  readonly link: ThreadLink;
  readonly bridged: ReadonlySet<string>;
  /** Main side: the worker, a node that starts before and stops after every bridged connector. */
  readonly worker?: { readonly name: string; readonly component: Component };
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
    /**
     * Keys of the components that can take a handover (`Handover`): `exporter/<id>@<signal>:<type>`,
     * `connector/<id>:<type>`, `receiver/<id>@<signal>:<type>:<config JSON>`.
     */
    readonly handoverKeys: ReadonlySet<string>,
  ) {}

  /**
   * Creates (but does not start) every component the pipelines reference. Throws `PULSE_ERR_CREATE` naming the
   * component when a factory is missing, does not support the pipeline's signal, or throws; `PULSE_ERR_CYCLE`
   * when the pipelines form a cycle. Nothing is running when it throws.
   */
  static build(config: PulseConfig, registry: ComponentRegistry, settings: GraphSettings, split?: SplitOptions): PipelineGraph {
    const plan = split === undefined && config.service.derivedSignalsThread === 'worker' ? planSplit(config) : undefined;
    let builder: GraphBuilder;
    if (plan === undefined) builder = new GraphBuilder(config, registry, settings, split);
    else {
      const worker = new DerivedWorker(plan, settings);
      builder = new GraphBuilder(plan.main, registry, settings, { link: worker.link, bridged: plan.bridged, worker: { name: 'derived-signals worker', component: worker } });
    }
    const logger = settings.logger.child({ component: 'service' });
    return new PipelineGraph(builder.build(), [...config.service.pipelines.keys()], config.service.shutdownTimeoutMs, logger, builder.handoverKeys);
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
    const order = this.started.splice(0).reverse();
    for (let i = 0; i < order.length; ) {
      // Exporters next to each other in the order feed nothing, so they drain side by side, each until the
      // deadline: one exporter stuck on a dead endpoint no longer eats the time the others needed to send.
      let end = i + 1;
      if (order[i]!.kind === 'exporter') while (end < order.length && order[end]!.kind === 'exporter') end++;
      const group = order.slice(i, end);
      const outcomes = await Promise.all(group.map((node) => settleWithin(node.component, deadline)));
      group.forEach((node, k) => {
        const outcome = outcomes[k]!;
        if (outcome === 'done') return;
        if (outcome === 'timeout') {
          unfinished.push(node.name);
          this.logger.warn(`${node.name} did not finish shutting down within the ${deadlineMs} ms shutdown deadline; moving on`);
        } else {
          failed.push(node.name);
          this.logger.error({ err: outcome.error }, `${node.name} failed to shut down cleanly: ${errorMessage(outcome.error)}`);
        }
      });
      i = end;
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

/**
 * Shuts `component` down, telling it the deadline (so an exporter drains until then rather than for a time of its
 * own, and accounts for what is left before the process may exit), and waits for it until the deadline at most.
 */
async function settleWithin(component: Component, deadline: number): Promise<'done' | 'timeout' | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  let stopping: Promise<'done' | { error: unknown }>;
  try {
    stopping = component.shutdown(deadline).then(
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

/** A pipeline's entry: the consumer its receivers (or the connector feeding it) hand data to, and its first nodes. */
interface PipelineEntry {
  readonly consumer: Consumer<SignalData[Signal]>;
  readonly keys: readonly string[];
  /** The pipeline's position in the config, so fan-outs keep the order pipelines were written in. */
  readonly order: number;
}

/** Builds one graph; a class only to keep the shared build state out of argument lists. */
class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly edges: Array<readonly [string, string]> = [];
  /** `id\0signal` → the exporter instance for that signal. */
  private readonly exporters = new Map<string, { key: string; consumer: Consumer<SignalData[Signal]> }>();
  private readonly connectors = new Map<string, { key: string; component: ConnectorComponent }>();
  /** Receiver or connector id → signal → the entries of the pipelines that list it under `receivers`. */
  private readonly feeds = new Map<string, Map<Signal, PipelineEntry[]>>();
  /** Exporter and receiver id → the signals of the pipelines using it (an instance per signal; see names). */
  private readonly signalsOf = new Map<string, Set<Signal>>();
  readonly handoverKeys = new Set<string>();

  constructor(
    private readonly config: PulseConfig,
    private readonly registry: ComponentRegistry,
    private readonly settings: GraphSettings,
    private readonly split?: SplitOptions,
  ) {}

  /** Every component, in start order. */
  build(): GraphNode[] {
    const pipelines = [...this.config.service.pipelines.values()];
    for (const p of pipelines) {
      for (const id of [...p.receivers, ...p.exporters]) {
        let set = this.signalsOf.get(id);
        if (!set) this.signalsOf.set(id, (set = new Set()));
        set.add(p.signal);
      }
    }
    // Downstream pipelines first: a connector is created with the entries of the pipelines it feeds, before the
    // pipelines that feed it are built around its inputs.
    for (const p of pipelinesDownstreamFirst(pipelines, this.config.connectors)) this.addPipeline(p, pipelines.indexOf(p));
    for (const [id, bySignal] of this.feeds) {
      if (this.config.connectors.has(id)) {
        // The worker side of a bridged connector: fed from the main thread, not by a pipeline here.
        if (!this.connectors.has(id) && this.split?.link.side === 'worker' && this.split.bridged.has(id)) this.connector(id, undefined);
        // A connector that reads its input itself (slo with clickhouse.follow): fed by no pipeline.
        if (!this.connectors.has(id) && this.readsOwnInput(id)) this.connector(id, undefined);
        if (!this.connectors.has(id)) {
          const [signal, entries] = [...bySignal][0]!;
          const pipeline = pipelines[entries[0]!.order]!.id;
          throw new PulseError('PULSE_ERR_CREATE', `connector ${id} feeds pipeline ${pipeline} (${signal}) but no pipeline lists it under exporters, so it would never get data`);
        }
        continue;
      }
      for (const [signal, entries] of bySignal) this.addReceiver(id, signal, entries);
    }
    const worker = this.split?.worker;
    if (worker !== undefined) {
      const key = 'worker/derived';
      this.nodes.push({ key, kind: 'exporter', name: worker.name, component: worker.component });
      for (const [id, c] of this.connectors) if (this.split!.bridged.has(id)) this.edges.push([c.key, key]);
    }
    return startOrder(this.nodes, this.edges);
  }

  private addPipeline(pipeline: PipelineConfig, order: number): void {
    const { signal } = pipeline;
    const targets = pipeline.exporters.map((id) => (this.config.connectors.has(id) ? this.connectorInput(id, signal, pipeline.id) : this.exporter(id, signal)));
    let next = fanout(signal, targets.map((t) => t.consumer));
    let nextKeys: readonly string[] = targets.map((t) => t.key);
    let mutates = next.mutatesData;
    for (let i = pipeline.processors.length - 1; i >= 0; i--) {
      const id = pipeline.processors[i]!;
      const cc = this.componentConfig('processor', id);
      const name = `processor ${id} (pipeline ${pipeline.id})`;
      const counters = processorCounters(this.settings.metrics, id, pipeline.id);
      const created = this.create(name, () => {
        const create = this.factory('processor', cc).create[signal];
        if (!create) throw unsupported(name, signal);
        return create(this.createSettings('processor', id, { pipeline: pipeline.id }), cc.config, countOutgoing(signal, next, counters.outgoing));
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
    const consumer = mutates === next.mutatesData ? next : withMutates(next, mutates);
    for (const id of pipeline.receivers) {
      if (this.connectors.has(id)) {
        // Cannot happen after pipelinesDownstreamFirst; a guard against wiring a connector without this pipeline.
        throw new PulseError('PULSE_ERR_CREATE', `connector ${id} was created before pipeline ${pipeline.id}, which it feeds`);
      }
      let bySignal = this.feeds.get(id);
      if (!bySignal) this.feeds.set(id, (bySignal = new Map()));
      let entries = bySignal.get(signal);
      if (!entries) bySignal.set(signal, (entries = []));
      entries.push({ consumer, keys: nextKeys, order });
    }
  }

  /** Exporters: one instance per exporter id and signal, shared by every pipeline of that signal listing it. */
  private exporter(id: string, signal: Signal): { key: string; consumer: Consumer<SignalData[Signal]> } {
    const existing = this.exporters.get(`${id}\0${signal}`);
    if (existing) return existing;
    const cc = this.componentConfig('exporter', id);
    const name = this.instanceName('exporter', id, signal);
    const component = this.create(name, () => {
      const create = this.factory('exporter', cc).create[signal];
      if (!create) throw unsupported(name, signal);
      // Type and signal in the key: what a queue holds is only understood by an exporter of the same type.
      const handoverKey = `exporter/${id}@${signal}:${cc.type}`;
      this.handoverKeys.add(handoverKey);
      return create(this.createSettings('exporter', id, { signal, handoverKey }), cc.config);
    });
    const entry = { key: `exporter/${id}@${signal}`, consumer: component };
    this.nodes.push({ key: entry.key, kind: 'exporter', name, component });
    this.exporters.set(`${id}\0${signal}`, entry);
    return entry;
  }

  /**
   * The consumer a pipeline feeding connector `id` hands its `signal` data to. The connector (one instance per
   * id) is created on first use; by then every pipeline it feeds is built (downstream first), so its outputs are
   * complete: per output signal, a fan-out to the entries of the pipelines of that signal listing it as receiver.
   */
  private connectorInput(id: string, signal: Signal, pipeline: string): { key: string; consumer: Consumer<SignalData[Signal]> } {
    const created = this.connector(id, pipeline);
    const input = created.component.inputs[signal] as Consumer<SignalData[Signal]> | undefined;
    if (!input) throw new PulseError('PULSE_ERR_CREATE', `connector ${id} does not consume ${signal} (pipeline ${pipeline} lists it under exporters)`);
    return { key: created.key, consumer: input };
  }

  /** The instance of connector `id`, created on first use (`pipeline`: the one feeding it, for messages). */
  private readsOwnInput(id: string): boolean {
    const cc = this.componentConfig('connector', id);
    return this.factory('connector', cc).ownInput?.(cc.config) !== undefined;
  }

  private connector(id: string, pipeline: string | undefined): { key: string; component: ConnectorComponent } {
    let created = this.connectors.get(id);
    if (!created) {
      const cc = this.componentConfig('connector', id);
      const name = `connector ${id}`;
      const key = `connector/${id}`;
      const fed = [...(this.feeds.get(id) ?? new Map<Signal, PipelineEntry[]>())];
      // The main side of a bridged connector may feed nothing here: its derived outputs run in the worker.
      if (fed.length === 0 && !(this.split?.link.side === 'main' && this.split.bridged.has(id))) {
        throw new PulseError('PULSE_ERR_CREATE', `connector ${id} is fed by pipeline ${pipeline ?? '(none)'} but no pipeline lists it under receivers, so its output would go nowhere`);
      }
      const component = this.create(name, () => {
        const factory = this.factory('connector', cc);
        const outputs: { [S in Signal]?: Consumer<SignalData[S]> } = {};
        for (const [out, entries] of fed) {
          if (!factory.outputs.includes(out)) throw new PulseError('PULSE_ERR_CREATE', `${name} does not produce ${out} (it produces: ${factory.outputs.join(', ') || 'nothing'})`);
          (outputs as Record<Signal, Consumer<SignalData[Signal]>>)[out] = fanout(out, byOrder(entries).map((e) => e.consumer));
        }
        // A connector may hand its state to the same connector of the next config on a reload (the slo engine).
        const handoverKey = `connector/${id}:${cc.type}`;
        this.handoverKeys.add(handoverKey);
        return factory.create(this.createSettings('connector', id, { handoverKey }), cc.config, outputs);
      });
      created = { key, component };
      this.nodes.push({ key, kind: 'connector', name, component });
      for (const [, entries] of fed) for (const e of entries) for (const to of e.keys) this.edges.push([key, to]);
      this.connectors.set(id, created);
    }
    return created;
  }

  /** Receivers: one instance per receiver id and signal; its `next` fans out to every pipeline listing it. */
  private addReceiver(id: string, signal: Signal, entries: readonly PipelineEntry[]): void {
    const cc = this.componentConfig('receiver', id);
    const name = this.instanceName('receiver', id, signal);
    const ordered = byOrder(entries);
    const next = fanout(signal, ordered.map((e) => e.consumer));
    const component = this.create(name, () => {
      const create = this.factory('receiver', cc).create[signal];
      if (!create) throw unsupported(name, signal);
      // The receiver's whole config in the key: its listening sockets are kept across a reload only when unchanged.
      const handoverKey = `receiver/${id}@${signal}:${cc.type}:${JSON.stringify(cc.config)}`;
      this.handoverKeys.add(handoverKey);
      return create(this.createSettings('receiver', id, { signal, handoverKey }), cc.config, next);
    });
    const key = `receiver/${id}@${signal}`;
    this.nodes.push({ key, kind: 'receiver', name, component });
    for (const e of ordered) for (const to of e.keys) this.edges.push([key, to]);
  }

  /** `exporter debug`, or `exporter debug (attempts)` when the id serves pipelines of several signals. */
  private instanceName(kind: 'receiver' | 'exporter', id: string, signal: Signal): string {
    return (this.signalsOf.get(id)?.size ?? 1) > 1 ? `${kind} ${id} (${signal})` : `${kind} ${id}`;
  }

  private componentConfig(kind: ComponentKind, id: string): ComponentConfig {
    const cc = this.section(kind).get(id);
    if (!cc) throw new PulseError('PULSE_ERR_CREATE', `${kind} ${id} is used by a pipeline but not configured under ${kind}s:`);
    return cc;
  }

  private section(kind: ComponentKind): ReadonlyMap<string, ComponentConfig> {
    switch (kind) {
      case 'receiver':
        return this.config.receivers;
      case 'processor':
        return this.config.processors;
      case 'exporter':
        return this.config.exporters;
      case 'connector':
        return this.config.connectors;
    }
  }

  private factory<K extends ComponentKind>(kind: K, cc: ComponentConfig): FactoryOf<K> {
    const factories = this.registry[`${kind}s`] as Map<string, FactoryOf<K>>;
    const factory = factories.get(cc.type);
    if (!factory) {
      const known = [...factories.keys()].join(', ') || 'none';
      throw new PulseError('PULSE_ERR_CREATE', `${kind} ${cc.id}: unknown ${kind} type "${cc.type}" (known: ${known})`);
    }
    return factory;
  }

  /**
   * `dataDir` = `<service.data_dir>/<kind>/<id, '/' → '_'>`, with `@<signal>` appended for an instance of a signal
   * other than traces: an exporter used by pipelines of several signals has one instance (and one disk queue)
   * per signal, and the traces instance keeps the directory it had before other signals existed.
   */
  private createSettings(kind: ComponentKind, id: string, scope: { pipeline?: string; signal?: Signal; handoverKey?: string } = {}): CreateSettings {
    const bindings: Record<string, string> = { component: `${kind}/${id}` };
    if (scope.pipeline !== undefined) bindings.pipeline = scope.pipeline;
    if (scope.signal !== undefined && (this.signalsOf.get(id)?.size ?? 1) > 1) bindings.signal = scope.signal;
    const dirName = id.replaceAll('/', '_') + (scope.signal === undefined || scope.signal === 'traces' ? '' : `@${scope.signal}`);
    const split = this.split;
    const linked = split !== undefined && (split.link.side === 'worker' || (kind === 'connector' && split.bridged.has(id)));
    return {
      id,
      kind,
      logger: this.settings.logger.child(bindings),
      metrics: this.settings.metrics,
      dataDir: join(this.config.service.dataDir, kind, dirName),
      ...(linked && { thread: split.link }),
      ...(this.settings.overload && { overload: this.settings.overload }),
      ...(this.settings.handover && scope.handoverKey !== undefined && { handover: this.settings.handover.slot(scope.handoverKey) }),
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

type FactoryOf<K extends ComponentKind> = ComponentRegistry[`${K}s`] extends Map<string, infer F> ? F : never;

function byOrder(entries: readonly PipelineEntry[]): PipelineEntry[] {
  return [...entries].sort((a, b) => a.order - b.order);
}

/**
 * The pipelines in build order: every pipeline after the pipelines it feeds through connectors (pipeline A lists
 * connector c under exporters and pipeline B lists c under receivers: A feeds B), otherwise in config order.
 * Throws `PULSE_ERR_CYCLE` naming the loop when the links form a cycle (the loader refuses such configs first).
 */
function pipelinesDownstreamFirst(pipelines: readonly PipelineConfig[], connectors: ReadonlyMap<string, unknown>): PipelineConfig[] {
  const receiving = new Map<string, PipelineConfig[]>();
  for (const p of pipelines) {
    for (const id of p.receivers) {
      if (!connectors.has(id)) continue;
      let list = receiving.get(id);
      if (!list) receiving.set(id, (list = []));
      list.push(p);
    }
  }
  const out: PipelineConfig[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (p: PipelineConfig): void => {
    state.set(p.id, 'visiting');
    path.push(p.id);
    for (const id of p.exporters) {
      for (const q of receiving.get(id) ?? []) {
        const s = state.get(q.id);
        if (s === 'done') continue;
        if (s === 'visiting') {
          const loop = [...path.slice(path.indexOf(q.id)), `(${id})`, q.id].join(' → ');
          throw new PulseError('PULSE_ERR_CYCLE', `the pipelines form a cycle through connectors (${loop}), so data would go round forever; remove one of the links`);
        }
        path.push(`(${id})`);
        visit(q);
        path.pop();
      }
    }
    path.pop();
    state.set(p.id, 'done');
    out.push(p);
  };
  for (const p of pipelines) if (!state.has(p.id)) visit(p);
  return out;
}

function unsupported(name: string, signal: Signal): PulseError {
  return new PulseError('PULSE_ERR_CREATE', `${name} does not support ${signal} pipelines`);
}

function withMutates<T>(consumer: Consumer<T>, mutatesData: boolean): Consumer<T> {
  return { mutatesData, consume: (data) => consumer.consume(data) };
}
