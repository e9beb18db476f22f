/**
 * The worker thread that runs the derived pipelines (attempts, journey_metrics, alerts), seen from the main
 * thread's graph as one component. It starts before the bridged connectors that feed it and stops after them:
 *
 * - start: loads the journey directories the worker's components read (the same shared `JourneyStore` the main
 *   side's journeys connector uses, so both agree on generations), spawns the thread (thread.ts) with the worker
 *   half of the config, relays every snapshot, and resolves once the worker's graph has started. A component
 *   that fails to start there fails this start, with its own message.
 * - running: the worker's metrics join this process's `/metrics` (fetched at each scrape); its log lines go to
 *   stderr like the main thread's, with `thread: derived`. If the thread dies, that is a fatal error of this
 *   component: Pulse logs it and shuts down (exit 1) rather than forward traces while deriving nothing.
 * - shutdown: after the bridged connectors stopped (their last captures are posted), the worker shuts its graph
 *   down (assembly flushes, exporters drain) and exits; if it does not finish in time it is terminated.
 */
import { Worker } from 'node:worker_threads';
import type { Component, Host } from '../../core/component.js';
import { PulseError, errorMessage } from '../../core/errors.js';
import type { MetricFamily } from '../../core/telemetry.js';
import { DEFAULT_POLL_INTERVAL_MS, JourneyStore } from '../../journeys/store.js';
import { snapshotChannel, snapshotMessage } from '../../connectors/shared/relayed-source.js';
import type { GraphSettings, ShutdownReport } from '../graph.js';
import { CONTROL, PortLink, type Envelope } from './link.js';
import type { SplitPlan } from './plan.js';

/** What the worker is told at spawn (`workerData`). */
export interface WorkerInit {
  readonly config: SplitPlan['worker'];
  readonly bridged: readonly string[];
  readonly logLevel: string;
}

/** Control messages, main → worker. */
export type ToWorker = { readonly type: 'start' } | { readonly type: 'metrics'; readonly id: number } | { readonly type: 'shutdown'; readonly deadlineMs: number };

/** Control messages, worker → main. */
export type FromWorker =
  | { readonly type: 'started' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'metrics'; readonly id: number; readonly families: MetricFamily[] }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'stopped'; readonly report: ShutdownReport };

/** After the worker's graph stopped, how long the thread may take to exit before it is terminated. */
const EXIT_GRACE_MS = 2000;

export class DerivedWorker implements Component {
  readonly link = new PortLink('main');
  private worker: Worker | undefined;
  private readonly stores: JourneyStore[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private readonly metricsWaiting = new Map<number, (families: MetricFamily[]) => void>();
  private nextMetricsId = 0;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private exited: Promise<void> = Promise.resolve();
  private onStarted: ((outcome: FromWorker & { type: 'started' | 'failed' }) => void) | undefined;
  private onStopped: ((report: ShutdownReport) => void) | undefined;
  private host: Host | undefined;

  constructor(
    private readonly plan: SplitPlan,
    private readonly settings: GraphSettings,
  ) {}

  async start(host: Host): Promise<void> {
    this.host = host;
    const logger = this.settings.logger;
    for (const directory of this.plan.journeyDirectories) {
      const store = JourneyStore.acquire(directory, { logger, metrics: this.settings.metrics, pollIntervalMs: pollIntervalFor(this.plan, directory) });
      this.stores.push(store);
      await store.start();
      const channel = snapshotChannel(directory);
      this.link.post(channel, snapshotMessage(store.current()));
      this.unsubscribe.push(store.onChange((snapshot) => this.link.post(channel, snapshotMessage(snapshot))));
    }

    warnIfPendingAttemptsOutgrowHeap(this.plan, logger);
    const init: WorkerInit = { config: this.plan.worker, bridged: [...this.plan.bridged], logLevel: this.plan.worker.service.telemetry.logs.level };
    // The heap limit also sets how far V8 lets the heap grow between full collections: with Node's default limit
    // (~4 GiB here) up to 4× what is live, below 2 GiB less (1.6× at 1 GiB). At 100k spans/s that keeps the
    // worker's heap ~120 MiB smaller for ~4% more CPU (6–10% near saturation; docs/operations.md).
    const maxOldGenerationSizeMb = Math.floor(this.plan.worker.service.derivedSignalsMaxHeapBytes / 2 ** 20);
    const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: init, resourceLimits: { maxOldGenerationSizeMb } });
    this.worker = worker;
    this.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const started = new Promise<FromWorker & { type: 'started' | 'failed' }>((resolve) => (this.onStarted = resolve));
    worker.on('message', (m: Envelope) => (m.to === CONTROL ? this.control(m.body as FromWorker) : this.link.deliver(m)));
    worker.on('error', (err) => this.died(`failed: ${errorMessage(err)}${outOfMemoryHint(err, maxOldGenerationSizeMb)}`));
    worker.on('exit', (code) => this.died(`exited (code ${code})`));
    this.link.attach(worker);
    this.post({ type: 'start' });

    const outcome = await started;
    if (outcome.type === 'failed') {
      await this.stop(this.plan.worker.service.shutdownTimeoutMs);
      throw new PulseError('PULSE_ERR_START', outcome.message);
    }
    this.unsubscribe.push(this.settings.metrics.addExternal(() => this.metrics()));
  }

  /** The worker's graph gets the time left until `deadline` (the main graph's), so its exporters drain until then. */
  shutdown(deadline?: number): Promise<void> {
    this.stopped ??= this.stop(deadline === undefined ? this.plan.worker.service.shutdownTimeoutMs : Math.max(0, deadline - Date.now()));
    return this.stopped;
  }

  private async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    for (const off of this.unsubscribe.splice(0)) off();
    const worker = this.worker;
    if (worker !== undefined) {
      const report = new Promise<ShutdownReport | undefined>((resolve) => {
        this.onStopped = resolve;
        void this.exited.then(() => resolve(undefined));
      });
      this.post({ type: 'shutdown', deadlineMs });
      const r = await report;
      if (r !== undefined && r.unfinished.length + r.failed.length > 0) {
        this.settings.logger.warn({ component: 'service', unfinished: r.unfinished, failed: r.failed }, 'derived-signals worker: some components did not stop cleanly');
      }
      const timer = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS);
      timer.unref();
      await this.exited;
      clearTimeout(timer);
    }
    for (const store of this.stores.splice(0)) store.release();
    for (const resolve of this.metricsWaiting.values()) resolve([]);
    this.metricsWaiting.clear();
  }

  private metrics(): Promise<MetricFamily[]> {
    if (this.stopping || this.worker === undefined) return Promise.resolve([]);
    const id = this.nextMetricsId++;
    return new Promise<MetricFamily[]>((resolve) => {
      this.metricsWaiting.set(id, resolve);
      this.post({ type: 'metrics', id });
    });
  }

  private post(message: ToWorker): void {
    this.link.post(CONTROL, message);
  }

  private control(m: FromWorker): void {
    switch (m.type) {
      case 'started':
      case 'failed':
        this.onStarted?.(m);
        this.onStarted = undefined;
        return;
      case 'metrics': {
        const resolve = this.metricsWaiting.get(m.id);
        this.metricsWaiting.delete(m.id);
        resolve?.(m.families);
        return;
      }
      case 'fatal':
        this.host?.reportFatalError(new PulseError('PULSE_ERR_FATAL', m.message));
        return;
      case 'stopped':
        this.onStopped?.(m.report);
        this.onStopped = undefined;
        return;
    }
  }

  /** The thread failed or exited without being asked to (the graph prefixes what is reported with this component's name). */
  private died(what: string): void {
    if (this.onStarted) {
      this.onStarted({ type: 'failed', message: `its thread ${what} while starting` });
      this.onStarted = undefined;
      return;
    }
    if (this.stopping) return;
    this.stopping = true;
    this.host?.reportFatalError(
      new PulseError('PULSE_ERR_FATAL', `its thread ${what}: attempts, SLIs and alerts are no longer derived; Pulse stops so that it can be restarted`),
    );
  }
}

/** Heap a pending attempt takes in the worker, roughly (`bench/journeys.bench.ts`, docs/operations.md). */
const BYTES_PER_PENDING_ATTEMPT = 1024;

/**
 * The journeys connectors split across the threads (bridged) assemble in the worker, up to `max_pending_attempts`
 * each; at ~1 KiB apiece, more than half of `max_heap` for those alone leaves too little for the rest (decided
 * keys, SLO history, exporter queues) at peak. Said once at start, before the worker runs out at the worst moment.
 */
function warnIfPendingAttemptsOutgrowHeap(plan: SplitPlan, logger: GraphSettings['logger']): void {
  const heap = plan.worker.service.derivedSignalsMaxHeapBytes;
  let attempts = 0;
  for (const id of plan.bridged) {
    const cc = plan.worker.connectors.get(id);
    const max = (cc?.config as { max_pending_attempts?: unknown } | undefined)?.max_pending_attempts;
    if (cc?.type === 'journeys' && typeof max === 'number') attempts += max;
  }
  if (attempts * BYTES_PER_PENDING_ATTEMPT <= heap / 2) return;
  const mib = (n: number) => Math.round(n / 2 ** 20);
  logger.warn(
    { component: 'service', max_pending_attempts: attempts, max_heap_bytes: heap },
    `derived-signals worker: the journeys connectors may hold ${attempts} pending attempts (~${mib(attempts * BYTES_PER_PENDING_ATTEMPT)} MiB at ~1 KiB each), more than half of service.derived_signals.max_heap (${mib(heap)} MiB); raise max_heap or lower max_pending_attempts, or the worker may run out of heap under load`,
  );
}

/** What to do when the worker ran out of heap (Node ends it with ERR_WORKER_OUT_OF_MEMORY). */
function outOfMemoryHint(err: unknown, limitMb: number): string {
  if ((err as { code?: unknown } | null)?.code !== 'ERR_WORKER_OUT_OF_MEMORY') return '';
  return ` (its heap limit, service.derived_signals.max_heap, is ${limitMb} MiB: raise it, or lower the journeys connectors' max_pending_attempts, ~1 KiB each)`;
}

/** The `reload_poll_interval` of the connector reading `directory`, else the store's default. */
function pollIntervalFor(plan: SplitPlan, directory: string): number {
  for (const cc of plan.main.connectors.values()) {
    const c = cc.config as { directory?: unknown; reload_poll_interval?: unknown };
    if (c.directory === directory && typeof c.reload_poll_interval === 'number') return c.reload_poll_interval;
  }
  return DEFAULT_POLL_INTERVAL_MS;
}
