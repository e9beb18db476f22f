/**
 * Pulse's own endpoints, on node:http (one server when both addresses are the same):
 *
 * - health address (`service.telemetry.health.address`, default 0.0.0.0:13133):
 *   `GET /healthz` → 200 while the process runs (liveness);
 *   `GET /readyz` → 200 when every pipeline has started and the service is not shutting down or reloading,
 *   otherwise 503 with `{"status":"not ready","reason":"..."}` (readiness: take the instance out of rotation);
 * - metrics address (`service.telemetry.metrics.address`, default 0.0.0.0:8888):
 *   `GET /metrics` → the MetricsRegistry in the Prometheus text format 0.0.4, plus process metrics read at scrape
 *   time (see PROCESS_METRICS below). Nothing is sampled between scrapes except the event-loop delay histogram.
 *
 * Anything else is 404; methods other than GET/HEAD are 405.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { HostPort } from '../config/types.js';
import { PulseError, errorMessage } from '../core/errors.js';
import type { MetricsRegistry } from '../core/telemetry.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready: `starting`, `shutting down`, `reloading`, `stopped`. */
  readonly reason?: string;
}

export interface TelemetryServerOptions {
  /** `undefined`: no health endpoints. Port 0 picks a free port (see `healthAddress`). */
  readonly health: HostPort | undefined;
  /** `undefined`: no /metrics. */
  readonly metrics: HostPort | undefined;
  readonly registry: MetricsRegistry;
  readonly readiness: () => Readiness;
  /** Reported as `pulse_build_info{version}`. */
  readonly version: string;
  readonly logger: Logger;
}

/** The event-loop delay histogram samples with this resolution; its values include it, so it is subtracted. */
const LOOP_RESOLUTION_MS = 10;

interface Route {
  health: boolean;
  metrics: boolean;
}

export class TelemetryServer {
  private readonly servers: Array<{ server: Server; want: HostPort; route: Route; what: string }> = [];
  private readonly disposers: Array<() => void> = [];
  private loopDelay: IntervalHistogram | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: TelemetryServerOptions) {
    const { health, metrics } = options;
    if (health && metrics && health.host === metrics.host && health.port === metrics.port) {
      this.servers.push(this.makeServer(health, { health: true, metrics: true }, 'health and metrics'));
    } else {
      if (health) this.servers.push(this.makeServer(health, { health: true, metrics: false }, 'health'));
      if (metrics) this.servers.push(this.makeServer(metrics, { health: false, metrics: true }, 'metrics'));
    }
  }

  /** The bound health address (the real port when configured with port 0); `undefined` when disabled or not started. */
  get healthAddress(): HostPort | undefined {
    return this.boundAddress((r) => r.health);
  }

  get metricsAddress(): HostPort | undefined {
    return this.boundAddress((r) => r.metrics);
  }

  /** Listens on the configured addresses. Rejects with `PULSE_ERR_START` naming the endpoint and address. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.options.metrics) this.registerProcessMetrics();
    try {
      for (const s of this.servers) await listen(s.server, s.want, s.what);
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  /** Stops listening and closes open connections. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      for (const dispose of this.disposers.splice(0)) dispose();
      this.loopDelay?.disable();
      await Promise.all(
        this.servers.map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              if (!server.listening) return resolve();
              server.close(() => resolve());
              // Scrapers keep connections alive; without this, close() would wait for them to time out.
              server.closeAllConnections();
            }),
        ),
      );
    })();
    return this.stopping;
  }

  private boundAddress(want: (r: Route) => boolean): HostPort | undefined {
    const s = this.servers.find((x) => want(x.route));
    const addr = s?.server.address() as AddressInfo | null | undefined;
    return addr ? { host: addr.address, port: addr.port } : undefined;
  }

  private makeServer(want: HostPort, route: Route, what: string) {
    const server = createServer((req, res) => this.handle(req, res, route));
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    server.on('error', (err) => {
      if (server.listening) this.options.logger.error({ err }, `telemetry ${what} server error: ${errorMessage(err)}`);
    });
    return { server, want, route, what };
  }

  private handle(req: IncomingMessage, res: ServerResponse, route: Route): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const known = (route.health && (path === '/healthz' || path === '/readyz')) || (route.metrics && path === '/metrics');
    if (!known) return reply(res, req, 404, 'application/json', '{"error":"not found: try /healthz, /readyz or /metrics"}\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return reply(res, req, 405, 'application/json', '{"error":"method not allowed: use GET"}\n');
    }
    if (path === '/healthz') return reply(res, req, 200, 'application/json', '{"status":"ok"}\n');
    if (path === '/readyz') {
      const r = this.options.readiness();
      if (r.ready) return reply(res, req, 200, 'application/json', '{"status":"ready"}\n');
      return reply(res, req, 503, 'application/json', JSON.stringify({ status: 'not ready', reason: r.reason ?? 'unknown' }) + '\n');
    }
    this.options.registry.renderAll().then(
      (body) => reply(res, req, 200, 'text/plain; version=0.0.4; charset=utf-8', body),
      (err: unknown) => {
        this.options.logger.error({ err }, `rendering /metrics failed: ${errorMessage(err)}`);
        reply(res, req, 500, 'text/plain; charset=utf-8', 'rendering metrics failed; see the Pulse log\n');
      },
    );
  }

  /** PROCESS_METRICS: read when scraped, through callbacks that shutdown() removes again. */
  private registerProcessMetrics(): void {
    const { registry, version } = this.options;
    const loop = (this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS }));
    loop.enable();
    const keep = (dispose: () => void) => this.disposers.push(dispose);
    const cpu = registry.counter('process_cpu_seconds_total', 'User and system CPU time spent by the process, in seconds.');
    keep(
      cpu.observe((set) => {
        const u = process.cpuUsage();
        set({}, (u.user + u.system) / 1e6);
      }),
    );
    const rss = registry.gauge('process_resident_memory_bytes', 'Resident set size of the process, in bytes.');
    keep(rss.observe((set) => set({}, process.memoryUsage.rss())));
    const startTime = registry.gauge('process_start_time_seconds', 'When the process started, in seconds since the Unix epoch.');
    keep(startTime.observe((set) => set({}, Math.round(Date.now() / 1000 - process.uptime()))));
    const heap = registry.gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.');
    keep(heap.observe((set) => set({}, process.memoryUsage().heapUsed)));
    const lagGauge = registry.gauge(
      'nodejs_eventloop_lag_seconds',
      'Event-loop delay since the previous scrape, in seconds: quantile 0.5, 0.99 and 1 (the maximum).',
    );
    keep(
      lagGauge.observe((set) => {
        // The histogram covers the time since the previous scrape; with no samples yet it reads as 0.
        const lag = (ns: number) => (loop.count === 0 ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1e3);
        set({ quantile: '0.5' }, lag(loop.percentile(50)));
        set({ quantile: '0.99' }, lag(loop.percentile(99)));
        set({ quantile: '1' }, lag(loop.max));
        loop.reset();
      }),
    );
    const build = registry.gauge('pulse_build_info', 'Always 1; the version label tells which Pulse runs.');
    keep(build.observe((set) => set({ version }, 1)));
  }
}

function listen(server: Server, want: HostPort, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      const hint = what === 'metrics' ? 'service.telemetry.metrics.address' : 'service.telemetry.health.address';
      reject(new PulseError('PULSE_ERR_START', `telemetry ${what} server ${want.host}:${want.port}: ${err.message}; choose a free port in ${hint}`, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(want.port, want.host);
  });
}

function reply(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(req.method === 'HEAD' ? undefined : body);
}
