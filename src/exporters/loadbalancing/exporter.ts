/**
 * The `loadbalancing` exporter: every span of a trace goes to the same backend, so that a tier of Pulse gateways
 * behind it can each assemble whole journey attempts. One `otlp` exporter (queue, retries, connection) per backend;
 * the backends come from a fixed list or from a DNS name resolved again every `interval`; a hash ring picks the
 * backend of each trace id (ring.ts).
 *
 * consume() splits a batch by backend, keeping resources and scopes (shared, not copied: exporters only read), and
 * hands each part to its backend's exporter; a batch whose spans all go to one backend is handed on as it is, so a
 * request Pulse did not change is still forwarded as it came. It resolves when every part was accepted (queued) and
 * rejects with the first refusal: the sender then resends the whole request, and the backends that had accepted
 * their part get it twice (at-least-once, as with a fan-out).
 *
 * With `sending_queue.persistent`, each backend's queue is a directory of its own; the queue of a backend that left
 * the ring, or that a restart found no longer in it, is sent again through the current ring (stranded.ts).
 */
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import type { ConsumingComponent, CreateSettings, Host } from '../../core/component.js';
import { errorMessage, RetryableError } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import type { BoundCounter, BoundGauge } from '../../core/telemetry.js';
import type { QueuedExporter } from '../exporterhelper/queued-exporter.js';
import { createOtlpGrpcTracesExporter } from '../otlp/exporter.js';
import type { LoadBalancingConfig } from './config.js';
import { METRIC, exporterMetrics } from '../exporterhelper/metrics.js';
import type { HandoverSlot } from '../../core/handover.js';
import { HashRing } from './ring.js';
import { splitByBackend } from './split.js';
import { StrandedQueues } from './stranded.js';

/** How long a stranded queue waits before it is tried again after the ring refused it. */
const STRANDED_RETRY_MS = 5000;

/** For tests: DNS answers of their own, a shorter retry of stranded queues. */
export interface LoadBalancingDeps {
  readonly lookup?: (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;
  readonly strandedRetryMs?: number;
}

interface Backend {
  readonly endpoint: string;
  readonly exporter: QueuedExporter<TraceBatch>;
}

export class LoadBalancingExporter implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;

  private ring = new HashRing([]);
  /** The ring's backends, in the ring's endpoint order. */
  private active: Backend[] = [];
  /** Backends that left the ring and are draining their queues, by endpoint. */
  private readonly leaving = new Map<string, Promise<void>>();
  /** With persistent queues: where each backend's queue directory is, and the mover of those left behind. */
  private readonly queueBase: string | undefined;
  private readonly stranded: StrandedQueues | undefined;
  private host: Host | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The resolution in progress, so that shutdown waits for it and two never overlap. */
  private resolving: Promise<void> | undefined;
  private lastResolveFailed = false;

  /** On a reload: what the backends' in-memory queues handed over, routed again by the next config's instance. */
  private handedOver: { items: TraceBatch[]; count: number } = { items: [], count: 0 };
  private readonly backendsGauge: BoundGauge;
  private readonly resolutions: { success: BoundCounter; failure: BoundCounter };

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: LoadBalancingConfig,
    private readonly deps: LoadBalancingDeps = {},
  ) {
    const labels = { exporter: settings.id };
    this.backendsGauge = settings.metrics.gauge('pulse_exporter_loadbalancing_backends', 'Backends in the loadbalancing exporter\u2019s ring.').with(labels);
    const resolutions = settings.metrics.counter('pulse_exporter_loadbalancing_resolutions_total', 'Resolutions of the loadbalancing exporter\u2019s backends, by outcome.');
    this.resolutions = { success: resolutions.with({ ...labels, outcome: 'success' }), failure: resolutions.with({ ...labels, outcome: 'failure' }) };
    const queue = config.protocol.otlp.sending_queue;
    if (queue.enabled && queue.persistent) {
      this.queueBase = queue.storage.directory ?? settings.dataDir;
      const stranded = new StrandedQueues({
        logger: settings.logger,
        consume: (batch) => this.consume(batch),
        retryMs: deps.strandedRetryMs ?? STRANDED_RETRY_MS,
        moved: settings.metrics
          .counter('pulse_exporter_loadbalancing_moved_items_total', 'Spans of queues left by backends no longer in the ring, sent again through the ring.')
          .with(labels),
        corruptFiles: settings.metrics.counter(METRIC.corruptFiles, 'Persistent-queue files that could not be read back and were deleted').with(labels),
      });
      this.stranded = stranded;
      settings.metrics
        .gauge('pulse_exporter_loadbalancing_stranded_queues', 'Queues of backends no longer in the ring still being sent through it.')
        .observe((set) => set(labels, stranded.moving));
    }
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    const { static: fixed, dns } = this.config.resolver;
    if (fixed) {
      await this.setBackends(fixed.hostnames);
      this.resolutions.success.inc();
      await this.moveStranded();
      await this.routeHandedOver();
      return;
    }
    await this.resolve();
    await this.moveStranded();
    await this.routeHandedOver();
    const schedule = (): void => {
      this.timer = setTimeout(() => {
        this.resolving = this.resolve().finally(() => {
          this.resolving = undefined;
          if (!this.stopped) schedule();
        });
      }, dns!.interval);
      this.timer.unref();
    };
    schedule();
  }

  consume(batch: TraceBatch): Promise<void> {
    const backends = this.active;
    if (backends.length === 0) {
      return Promise.reject(
        new RetryableError(
          'PULSE_ERR_LOADBALANCING_NO_BACKENDS',
          `exporter ${this.settings.id} has no backends${this.config.resolver.dns ? ` (${this.config.resolver.dns.hostname} resolved to no address yet)` : ''}; retry later`,
        ),
      );
    }
    if (backends.length === 1) return backends[0]!.exporter.consume(batch);
    const parts = splitByBackend(batch, this.ring);
    if (parts === undefined) return Promise.resolve();
    if (typeof parts === 'number') return backends[parts]!.exporter.consume(batch);
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p !== undefined) sends.push(backends[i]!.exporter.consume({ resourceSpans: p.resourceSpans, spanCount: p.spanCount }));
    }
    return Promise.all(sends).then(() => undefined);
  }

  /** Every backend's exporter drains until `deadline` (the service's); without one, for its `shutdown_drain`. */
  async shutdown(deadline?: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.resolving;
    // What is not moved yet stays on disk, and is moved at the next start.
    await this.stranded?.close();
    const backends = this.active;
    this.active = [];
    this.backendsGauge.set(0);
    await Promise.all([...backends.map((b) => b.exporter.shutdown(deadline)), ...this.leaving.values()]);
    // A reload to a config with this exporter: the backends handed their queues here (backendSlot); the new
    // instance routes them through its ring, which may differ.
    const { items, count } = this.handedOver;
    if (items.length > 0) {
      const failed = exporterMetrics(this.settings.metrics, this.settings.id).failed.shutdown;
      this.settings.handover?.put(items, count, (n) => failed.inc(n));
    }
  }

  /**
   * The handover slot of a backend's exporter: it hands over whenever this exporter does (a reload to a config that
   * has it), into this exporter's collection rather than a slot of its own; it never takes (routing is done here).
   */
  private backendSlot(): HandoverSlot | undefined {
    const own = this.settings.handover;
    if (own === undefined) return undefined;
    return {
      continues: () => own.continues(),
      put: (items, count) => {
        for (const item of items) this.handedOver.items.push(item as TraceBatch);
        this.handedOver.count += count;
      },
      take: () => undefined,
    };
  }

  /** At start: what the previous config's instance handed over on a reload goes through this ring. */
  private async routeHandedOver(): Promise<void> {
    const items = this.settings.handover?.take() as TraceBatch[] | undefined;
    if (items === undefined) return;
    let routed = 0;
    let dropped = 0;
    const failed = exporterMetrics(this.settings.metrics, this.settings.id).failed.shutdown;
    for (const batch of items) {
      try {
        await this.consume(batch);
        routed += batch.spanCount;
      } catch (err) {
        dropped += batch.spanCount;
        failed.inc(batch.spanCount);
        this.settings.logger.warn({ err: errorMessage(err), items: batch.spanCount }, 'dropped a batch handed over on the reload: the backends refused it');
      }
    }
    this.settings.logger.info({ items: routed, dropped }, 'routed the queues the previous configuration handed over on the reload');
  }

  /** At start: the queues of backends not in the first ring (left by an earlier run) go through the ring. */
  private async moveStranded(): Promise<void> {
    if (this.stranded === undefined || this.queueBase === undefined) return;
    const active = new Set(this.active.map((b) => this.queueDir(b.endpoint)));
    for (const dir of await StrandedQueues.find(this.queueBase, active)) this.stranded.move(dir);
  }

  /** A backend's queue directory (with persistent queues). */
  private queueDir(endpoint: string): string {
    return join(this.queueBase ?? this.settings.dataDir, endpoint.replace(/[^A-Za-z0-9._-]/g, '_'));
  }

  /** Resolves the DNS name and applies the result; never rejects (a failure keeps the current backends). */
  private async resolve(): Promise<void> {
    const dns = this.config.resolver.dns!;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${dns.timeout} ms`)), dns.timeout);
      });
      const addresses = await Promise.race([(this.deps.lookup ?? ((h: string) => lookup(h, { all: true })))(dns.hostname), timeout]);
      const endpoints = addresses.map((a) => (a.family === 6 ? `[${a.address}]:${dns.port}` : `${a.address}:${dns.port}`));
      this.resolutions.success.inc();
      if (this.lastResolveFailed) this.settings.logger.info(`resolving ${dns.hostname} works again`);
      this.lastResolveFailed = false;
      if (!this.stopped) {
        await this.setBackends(endpoints).catch((err: unknown) => {
          this.settings.logger.error(`could not start the exporters of ${dns.hostname}'s new backends (${errorMessage(err)}); keeping the current ones`);
        });
      }
    } catch (err) {
      this.resolutions.failure.inc();
      if (!this.lastResolveFailed) {
        this.settings.logger.warn(
          `could not resolve ${dns.hostname} (${errorMessage(err)}); keeping the ${this.active.length} backend(s) it had and trying again every ${dns.interval} ms`,
        );
      }
      this.lastResolveFailed = true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Makes `endpoints` the ring: starts exporters for new backends, drains and stops those that left. */
  private async setBackends(endpoints: readonly string[]): Promise<void> {
    const ring = new HashRing(endpoints);
    const current = new Map(this.active.map((b) => [b.endpoint, b]));
    if (ring.endpoints.length === current.size && ring.endpoints.every((e) => current.has(e))) return;
    const next: Backend[] = [];
    const started: Backend[] = [];
    for (const endpoint of ring.endpoints) {
      const existing = current.get(endpoint);
      if (existing) {
        next.push(existing);
        current.delete(endpoint);
        continue;
      }
      const b = this.createBackend(endpoint);
      started.push(b);
      next.push(b);
    }
    // A backend back in the ring takes its queue back: from its own exporter still draining it, or from the mover.
    await Promise.all(started.map((b) => this.leaving.get(b.endpoint)));
    await Promise.all(started.map((b) => this.stranded?.release(this.queueDir(b.endpoint))));
    try {
      await Promise.all(started.map((b) => b.exporter.start(this.host!)));
    } catch (err) {
      await Promise.all(started.map((b) => b.exporter.shutdown().catch(() => undefined)));
      throw err;
    }
    this.ring = ring;
    this.active = next;
    this.backendsGauge.set(next.length);
    this.settings.logger.info(
      `backends: ${next.map((b) => b.endpoint).join(', ') || 'none'}${started.length ? ` (added ${started.map((b) => b.endpoint).join(', ')})` : ''}${current.size ? ` (removed ${[...current.keys()].join(', ')}: draining their queues)` : ''}`,
    );
    for (const gone of current.values()) {
      const drained = gone.exporter
        .shutdown()
        .catch((err: unknown) => {
          this.settings.logger.warn(`backend ${gone.endpoint} did not shut down cleanly: ${errorMessage(err)}`);
        })
        .then(() => {
          this.leaving.delete(gone.endpoint);
          // What its drain could not send goes to the backends that now own its traces (unless it came back).
          if (!this.stopped && !this.active.some((b) => b.endpoint === gone.endpoint)) this.stranded?.move(this.queueDir(gone.endpoint));
        });
      this.leaving.set(gone.endpoint, drained);
    }
  }

  private createBackend(endpoint: string): Backend {
    const id = `${this.settings.id}/${endpoint}`;
    const dir = this.queueDir(endpoint);
    // The backend hands over into this exporter (backendSlot), not into the slot of this exporter's own key.
    const { handover: _own, ...rest } = this.settings;
    const slot = this.backendSlot();
    const settings: CreateSettings = { ...rest, id, logger: this.settings.logger.child({ backend: endpoint }), dataDir: dir, ...(slot && { handover: slot }) };
    const otlp = this.config.protocol.otlp;
    // One directory per backend, under storage.directory when that is set.
    const queue = otlp.sending_queue.storage.directory === undefined ? otlp.sending_queue : { ...otlp.sending_queue, storage: { ...otlp.sending_queue.storage, directory: dir } };
    return { endpoint, exporter: createOtlpGrpcTracesExporter(settings, { ...otlp, sending_queue: queue, endpoint }) };
  }
}
