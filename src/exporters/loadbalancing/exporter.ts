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
import { HashRing } from './ring.js';
import { splitByBackend } from './split.js';

interface Backend {
  readonly endpoint: string;
  readonly exporter: QueuedExporter<TraceBatch>;
}

export class LoadBalancingExporter implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;

  private ring = new HashRing([]);
  /** The ring's backends, in the ring's endpoint order. */
  private active: Backend[] = [];
  /** Backends that left the ring and are draining their queues. */
  private readonly leaving = new Set<Promise<void>>();
  private host: Host | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The resolution in progress, so that shutdown waits for it and two never overlap. */
  private resolving: Promise<void> | undefined;
  private lastResolveFailed = false;

  private readonly backendsGauge: BoundGauge;
  private readonly resolutions: { success: BoundCounter; failure: BoundCounter };

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: LoadBalancingConfig,
  ) {
    const labels = { exporter: settings.id };
    this.backendsGauge = settings.metrics.gauge('pulse_exporter_loadbalancing_backends', 'Backends in the loadbalancing exporter\u2019s ring.').with(labels);
    const resolutions = settings.metrics.counter('pulse_exporter_loadbalancing_resolutions_total', 'Resolutions of the loadbalancing exporter\u2019s backends, by outcome.');
    this.resolutions = { success: resolutions.with({ ...labels, outcome: 'success' }), failure: resolutions.with({ ...labels, outcome: 'failure' }) };
  }

  async start(host: Host): Promise<void> {
    this.host = host;
    const { static: fixed, dns } = this.config.resolver;
    if (fixed) {
      await this.setBackends(fixed.hostnames);
      this.resolutions.success.inc();
      return;
    }
    await this.resolve();
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

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.resolving;
    const backends = this.active;
    this.active = [];
    this.backendsGauge.set(0);
    await Promise.all([...backends.map((b) => b.exporter.shutdown()), ...this.leaving]);
  }

  /** Resolves the DNS name and applies the result; never rejects (a failure keeps the current backends). */
  private async resolve(): Promise<void> {
    const dns = this.config.resolver.dns!;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${dns.timeout} ms`)), dns.timeout);
      });
      const addresses = await Promise.race([lookup(dns.hostname, { all: true }), timeout]);
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
      const drained = gone.exporter.shutdown().catch((err: unknown) => {
        this.settings.logger.warn(`backend ${gone.endpoint} did not shut down cleanly: ${errorMessage(err)}`);
      });
      this.leaving.add(drained);
      void drained.then(() => this.leaving.delete(drained));
    }
  }

  private createBackend(endpoint: string): Backend {
    const id = `${this.settings.id}/${endpoint}`;
    const settings: CreateSettings = {
      ...this.settings,
      id,
      logger: this.settings.logger.child({ backend: endpoint }),
      dataDir: join(this.settings.dataDir, endpoint.replace(/[^A-Za-z0-9._-]/g, '_')),
    };
    return { endpoint, exporter: createOtlpGrpcTracesExporter(settings, { ...this.config.protocol.otlp, endpoint }) };
  }
}
