/**
 * The running service: the telemetry endpoints plus one pipeline graph, with ordered start, graceful shutdown
 * and reload. It installs no process handlers (signals, uncaught errors): `runStart()` (run.ts) does that for
 * the CLI, so tests can run a Service inside the test process.
 *
 * Operations are serialised: a reload waits for a start, a shutdown waits for a reload in progress (readiness
 * turns 503 at once, though). Reload is stop-then-start — the old graph drains completely before the new one
 * binds its ports, because both would need the same listening addresses — so the pipelines are down for the
 * gap between the two; the gap is logged. Components the new graph has too hand over what they hold rather than
 * drain or drop it (core/handover.ts): exporters their in-memory queues, connectors their state, and unchanged
 * receivers their listening sockets, holding requests through the gap. A config that fails to build is refused without touching the running graph;
 * a graph that fails to start is replaced by the previous config again.
 */
import type { Logger } from 'pino';
import type { ComponentRegistry } from '../components.js';
import { formatIssue, type ConfigIssue, type PulseConfig } from '../config/model.js';
import type { HostPort } from '../config/types.js';
import type { Host } from '../core/component.js';
import { PulseError, errorMessage } from '../core/errors.js';
import { Handover } from '../core/handover.js';
import { OverloadRefusals } from '../core/overload.js';
import { MetricsRegistry, type Counter } from '../core/telemetry.js';
import { PipelineGraph, type GraphSettings, type ShutdownReport } from './graph.js';
import { TelemetryServer, type Readiness } from './telemetry-server.js';

/** What src/config/load.ts returns (warnings: unused components and the like; logged, not fatal). */
export type LoadResult =
  | { readonly config: PulseConfig; readonly warnings?: readonly ConfigIssue[] }
  | { readonly issues: readonly ConfigIssue[]; readonly warnings?: readonly ConfigIssue[] };
/** Reads and validates a config file (src/config/load.ts, bound to a registry). */
export type ConfigLoader = (path: string) => LoadResult | Promise<LoadResult>;

export interface ServiceOptions {
  readonly registry: ComponentRegistry;
  /** The root logger. */
  readonly logger: Logger;
  /** Default: a new registry. */
  readonly metrics?: MetricsRegistry;
  /** Reported as `pulse_build_info{version}`. */
  readonly version?: string;
  /** Used by `reloadFromFile()`. */
  readonly loadConfig?: ConfigLoader;
  /**
   * Called (after logging) when a component reports an error it cannot recover from. The Service does not stop
   * by itself: the owner decides (runStart shuts down and exits 1).
   */
  readonly onFatalError?: (err: Error) => void;
}

export type ReloadOutcome =
  /** The new config runs. */
  | { readonly status: 'reloaded'; readonly gapMs: number }
  /** The file did not validate; the running graph was not touched. */
  | { readonly status: 'invalid'; readonly issues: readonly ConfigIssue[] }
  /** A component could not be created from the new config; the running graph was not touched. */
  | { readonly status: 'not-built'; readonly error: Error }
  /** The new graph failed to start; the previous config runs again. */
  | { readonly status: 'rolled-back'; readonly error: Error; readonly gapMs: number }
  /** Neither the new nor the previous config could start: no pipeline runs (reported as fatal). */
  | { readonly status: 'failed'; readonly error: Error }
  /** The service is not running (not started yet, or shutting down). */
  | { readonly status: 'not-running' };

type State = 'idle' | 'starting' | 'running' | 'reloading' | 'stopping' | 'stopped' | 'failed';

export class Service {
  private state: State = 'idle';
  private current: PulseConfig | undefined;
  private graph: PipelineGraph | undefined;
  private telemetry: TelemetryServer | undefined;
  private ops: Promise<unknown> = Promise.resolve();
  private stopping: Promise<ShutdownReport> | undefined;
  private readonly metrics: MetricsRegistry;
  /**
   * What every graph is built with, the first and each reload's: one count of requests the receivers refused for
   * overload for the whole process, so the journeys connector of a new graph reads on from it.
   */
  private readonly graphSettings: GraphSettings;
  private readonly log: Logger;
  private readonly reloads: Counter;

  constructor(private readonly options: ServiceOptions) {
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.graphSettings = { logger: options.logger, metrics: this.metrics, overload: new OverloadRefusals(), handover: new Handover() };
    this.log = options.logger.child({ component: 'service' });
    this.reloads = this.metrics.counter('pulse_service_reloads_total', 'Configuration reloads, by result (reloaded, invalid, not_built, rolled_back, failed).');
  }

  /** The config that runs now. */
  get config(): PulseConfig | undefined {
    return this.current;
  }

  get metricsRegistry(): MetricsRegistry {
    return this.metrics;
  }

  /** Bound addresses of the telemetry endpoints (real ports when configured with port 0). */
  get healthAddress(): HostPort | undefined {
    return this.telemetry?.healthAddress;
  }

  get metricsAddress(): HostPort | undefined {
    return this.telemetry?.metricsAddress;
  }

  /** Component names of the running graph, in start order. */
  get componentNames(): string[] {
    return this.graph?.componentNames ?? [];
  }

  /** What /readyz answers: ready when every pipeline has started and nothing is stopping or reloading. */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    switch (this.state) {
      case 'running':
        return this.graph?.state === 'running' ? { ready: true } : { ready: false, reason: `pipelines are ${this.graph?.state ?? 'missing'}` };
      case 'idle':
      case 'starting':
        return { ready: false, reason: 'starting' };
      case 'reloading':
        return { ready: false, reason: 'reloading the configuration' };
      case 'stopping':
      case 'stopped':
        return { ready: false, reason: 'shutting down' };
      case 'failed':
        return { ready: false, reason: 'no pipeline runs: the last reload failed and the previous configuration could not be restarted' };
    }
  }

  /**
   * Builds the graph, starts the telemetry endpoints, then the pipelines. Rejects (after stopping whatever it
   * started) with `PULSE_ERR_CREATE`, `PULSE_ERR_CYCLE` or `PULSE_ERR_START` naming the component.
   */
  start(config: PulseConfig): Promise<void> {
    return this.serialised(async () => {
      if (this.state !== 'idle') throw new PulseError('PULSE_ERR_START', `the service starts once; it is ${this.state}`);
      this.state = 'starting';
      try {
        const graph = PipelineGraph.build(config, this.options.registry, this.graphSettings);
        const { metrics, health } = config.service.telemetry;
        this.telemetry = new TelemetryServer({
          health: health?.address,
          metrics: metrics?.address,
          registry: this.metrics,
          readiness: () => this.readiness(),
          version: this.options.version ?? 'unknown',
          logger: this.log,
        });
        await this.telemetry.start();
        this.graph = graph;
        await graph.start(this.host());
        this.current = config;
        if (this.stopping) return;
        this.state = 'running';
      } catch (err) {
        this.state = 'stopped';
        this.graph = undefined;
        await this.telemetry?.shutdown();
        throw err;
      }
    });
  }

  /** Reads the config file again with `loadConfig` and reloads it; issues are logged and change nothing. */
  reloadFromFile(path: string | undefined = this.current?.path): Promise<ReloadOutcome> {
    const load = this.options.loadConfig;
    if (!load || path === undefined) {
      return Promise.reject(new PulseError('PULSE_ERR_RELOAD', 'reloadFromFile needs ServiceOptions.loadConfig and a config path'));
    }
    return this.serialised(async () => {
      if (this.state !== 'running' || this.stopping) return { status: 'not-running' } as const;
      this.log.info(`reload requested: reading ${path}`);
      let loaded: LoadResult;
      try {
        loaded = await load(path);
      } catch (err) {
        loaded = { issues: [{ file: path, line: 1, col: 1, message: errorMessage(err) }] };
      }
      for (const w of loaded.warnings ?? []) this.log.warn(`configuration: ${formatIssue(w)}`);
      if ('issues' in loaded) {
        for (const issue of loaded.issues) this.log.error(`invalid configuration: ${formatIssue(issue)}`);
        this.log.error(`reload refused: ${loaded.issues.length} problem(s) in ${path}; the running pipelines are unchanged`);
        this.reloads.inc({ result: 'invalid' });
        return { status: 'invalid', issues: loaded.issues } as const;
      }
      return this.swap(loaded.config);
    });
  }

  /** Replaces the running graph with one built from `config` (see the module comment for what can happen). */
  reload(config: PulseConfig): Promise<ReloadOutcome> {
    return this.serialised(() => (this.state !== 'running' || this.stopping ? Promise.resolve({ status: 'not-running' } as const) : this.swap(config)));
  }

  /**
   * Stops the pipelines (receivers first, within `service.shutdownTimeoutMs`), then the telemetry endpoints.
   * Idempotent; waits for a start or reload in progress. Never rejects.
   */
  shutdown(): Promise<ShutdownReport> {
    this.stopping ??= this.serialised(async () => {
      const graph = this.graph;
      let report: ShutdownReport = { unfinished: [], failed: [] };
      if (graph) {
        this.state = 'stopping';
        // A shutdown hands nothing over: every component drains (even if a failed reload left an expectation).
        this.graphSettings.handover?.expect(undefined);
        const deadline = this.current?.service.shutdownTimeoutMs;
        this.log.info(`shutting down: stopping receivers, flushing processors and exporters (deadline ${deadline ?? 'default'} ms)`);
        report = await graph.shutdown(deadline);
      }
      await this.telemetry?.shutdown();
      this.state = 'stopped';
      return report;
    }).catch((err: unknown) => {
      this.log.error({ err }, `shutdown failed: ${errorMessage(err)}`);
      return { unfinished: [], failed: ['service'] };
    });
    return this.stopping;
  }

  private async swap(next: PulseConfig): Promise<ReloadOutcome> {
    const previous = this.current!;
    let graph: PipelineGraph;
    try {
      graph = PipelineGraph.build(next, this.options.registry, this.graphSettings);
    } catch (err) {
      this.log.error({ err }, `reload refused: ${errorMessage(err)}; the running pipelines are unchanged`);
      this.reloads.inc({ result: 'not_built' });
      return { status: 'not-built', error: asError(err) };
    }
    this.state = 'reloading';
    const began = Date.now();
    this.log.info('reloading: draining the running pipelines before starting the new ones');
    // Exporters that the new graph has too (same id, type and signal) leave their in-memory queues to it instead of
    // draining them: a destination that is down then does not hold the reload until the deadline, nor lose the rest.
    const handover = this.graphSettings.handover!;
    handover.expect(graph.handoverKeys);
    await this.graph!.shutdown(previous.service.shutdownTimeoutMs);
    try {
      await graph.start(this.host());
    } catch (err) {
      // Awaited here, so that the previous config's exporters, started again, take back what was handed over first.
      return await this.rollBack(previous, asError(err), began);
    } finally {
      handover.settle(this.log);
    }
    this.graph = graph;
    this.current = next;
    this.state = 'running';
    const gapMs = Date.now() - began;
    this.applyTelemetryChanges(previous, next);
    this.log.info(`configuration reloaded: pipelines ${graph.pipelines.join(', ')} run; data was not accepted for ${gapMs} ms`);
    this.reloads.inc({ result: 'reloaded' });
    return { status: 'reloaded', gapMs };
  }

  private async rollBack(previous: PulseConfig, error: Error, began: number): Promise<ReloadOutcome> {
    this.log.error({ err: error }, `RELOAD FAILED: the new configuration did not start (${error.message}); restarting the previous configuration`);
    try {
      const graph = PipelineGraph.build(previous, this.options.registry, this.graphSettings);
      this.graph = graph;
      await graph.start(this.host());
    } catch (err) {
      this.graph = undefined;
      this.state = 'failed';
      const fatal = new PulseError('PULSE_ERR_RELOAD', `reload failed and the previous configuration could not be restarted: ${errorMessage(err)}`, {
        cause: err,
      });
      this.reloads.inc({ result: 'failed' });
      this.reportFatal(fatal);
      return { status: 'failed', error: fatal };
    }
    this.state = 'running';
    const gapMs = Date.now() - began;
    this.log.error(`RELOAD FAILED: running the previous configuration again after a ${gapMs} ms gap; fix the error above and reload again`);
    this.reloads.inc({ result: 'rolled_back' });
    return { status: 'rolled-back', error, gapMs };
  }

  /** Log level applies at once; telemetry addresses only at the next start (the endpoints keep serving). */
  private applyTelemetryChanges(previous: PulseConfig, next: PulseConfig): void {
    const before = previous.service.telemetry;
    const after = next.service.telemetry;
    if (before.logs.level !== after.logs.level) {
      this.options.logger.level = after.logs.level;
      this.log.info(`log level is now ${after.logs.level}`);
    }
    if (!sameAddress(before.health?.address, after.health?.address) || !sameAddress(before.metrics?.address, after.metrics?.address)) {
      this.log.warn('service.telemetry health/metrics addresses changed: they apply at the next restart of Pulse, not on reload');
    }
  }

  private host(): Host {
    return { reportFatalError: (err) => this.reportFatal(err) };
  }

  private reportFatal(err: Error): void {
    this.log.fatal({ err }, `fatal error: ${err.message}`);
    this.options.onFatalError?.(err);
  }

  private serialised<T>(op: () => Promise<T>): Promise<T> {
    const run = this.ops.then(op);
    this.ops = run.catch(() => undefined);
    return run;
  }
}

function sameAddress(a: HostPort | undefined, b: HostPort | undefined): boolean {
  return a?.host === b?.host && a?.port === b?.port;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
