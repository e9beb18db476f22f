/**
 * Binding a server to its endpoint (with an error that says which address failed and why), bounded waits, and the
 * start/shutdown skeleton both transports' servers share (`ServerLifecycle`).
 */
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { PulseError } from '../../core/errors.js';
import type { HostPort } from '../../config/types.js';
import type { Ingest, Transport, TransportMetrics } from './ingest.js';

const HINTS: Record<string, string> = {
  EADDRINUSE: 'another process (or another receiver) already listens there; stop it or pick another endpoint',
  EACCES: 'ports below 1024 need privileges; pick a port above 1024',
  EADDRNOTAVAIL: 'the host is not an address of this machine; use 0.0.0.0 or one of its addresses',
  ENOTFOUND: 'the host name does not resolve; use an IP address',
};

/** Listens on `endpoint` and resolves with the bound address (the real port when the config says 0). */
export function listen(server: Server, endpoint: HostPort, what: string): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const hint = (err.code !== undefined && HINTS[err.code]) || 'check the endpoint setting';
      reject(
        new PulseError('PULSE_ERR_LISTEN', `${what} cannot listen on ${formatHostPort(endpoint)}: ${err.code ?? err.message}; ${hint}`, {
          cause: err,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      const addr = server.address();
      if (addr !== null && typeof addr === 'object') resolve({ host: addr.address, port: addr.port });
      else resolve(endpoint);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(endpoint.port, endpoint.host);
  });
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Resolves `true` when `p` settles within `ms`, `false` when the time ran out first. The timer is unref'd. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    void p.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * The lifecycle both transports' servers share: bind (`start`), the bound address, errors of the listening socket,
 * and an idempotent graceful shutdown: stop accepting, ask open connections to finish (`closeGently`), wait up to
 * `graceMs` for them, then cut what is left (`closeForcibly`). Subclasses read `closing` to refuse new work (HTTP
 * answers carry `Connection: close`, new HTTP/2 sessions are closed at once).
 */
export abstract class ServerLifecycle<S extends Server> {
  /** True from the moment shutdown starts. */
  protected closing = false;
  private bound: HostPort | undefined;
  private closed: Promise<void> | undefined;
  private readonly errorListeners: Array<(err: Error) => void> = [];
  /** Requests being handled (HTTP requests, gRPC streams): `pause()` waits for them. */
  private active = 0;
  private onIdle: (() => void) | undefined;
  /**
   * Set while paused for a reload: new requests wait for it. Resolves `true` when the next config's receiver took
   * the server over (`resume()`), `false` when none did within the hold (they are then refused, retryable).
   */
  protected held: Promise<boolean> | undefined;
  private release: ((resumed: boolean) => void) | undefined;

  /** The receiver's pipeline, log and metrics; replaced when the receiver of a reloaded config takes over (`adopt`). */
  protected ingest: Ingest;
  protected logger: Logger;
  protected metrics: TransportMetrics;

  /** `what` names the server in the PULSE_ERR_LISTEN message, e.g. "the otlp receiver (HTTP)". */
  constructor(
    protected readonly server: S,
    private readonly endpoint: HostPort,
    private readonly what: string,
    private readonly transport: Transport,
    ingest: Ingest,
    logger: Logger,
  ) {
    this.ingest = ingest;
    this.logger = logger;
    this.metrics = ingest.metricsFor(transport);
  }

  /** The receiver of a reloaded config (with the same settings) takes this server over: its pipeline from now on. */
  adopt(ingest: Ingest, logger: Logger): void {
    this.ingest = ingest;
    this.logger = logger;
    this.metrics = ingest.metricsFor(this.transport);
  }

  async start(): Promise<HostPort> {
    this.bound = await listen(this.server, this.endpoint, this.what);
    return this.bound;
  }

  /** The bound address after `start()` (the real port when the config says 0). */
  address(): HostPort | undefined {
    return this.bound;
  }

  /** Errors of the listening socket after start (the service treats them as fatal). */
  onServerError(cb: (err: Error) => void): void {
    this.errorListeners.push(cb);
    this.server.on('error', cb);
  }

  /** Counts a request as being handled until `done` emits 'close' (its response or stream ended). */
  protected track(done: { once(event: 'close', listener: () => void): unknown }): void {
    this.active++;
    done.once('close', () => {
      if (--this.active === 0) this.onIdle?.();
    });
  }

  /**
   * For a reload that keeps this server: from now on new requests wait (up to `holdMs`) for the next config's
   * receiver to `resume()` it; resolves once the requests already being handled were answered (or after `graceMs`).
   * The listening socket and its connections stay open, so senders see no refused or reset connection.
   */
  async pause(graceMs: number, holdMs: number): Promise<void> {
    this.held = new Promise<boolean>((resolve) => (this.release = resolve));
    const timer = setTimeout(() => this.unpause(false), holdMs);
    timer.unref();
    void this.held.finally(() => clearTimeout(timer));
    for (const cb of this.errorListeners.splice(0)) this.server.off('error', cb);
    if (this.active > 0) await settlesWithin(new Promise<void>((resolve) => (this.onIdle = resolve)), graceMs);
    this.onIdle = undefined;
  }

  /** The next config's receiver took the server over: the requests held go on, to it. */
  resume(): void {
    this.unpause(true);
  }

  private unpause(resumed: boolean): void {
    const release = this.release;
    this.release = undefined;
    this.held = undefined;
    release?.(resumed);
  }

  /** Stops accepting, lets what is in flight finish for up to `graceMs`, then cuts what is left. Idempotent. */
  shutdown(graceMs: number): Promise<void> {
    this.closed ??= this.doShutdown(graceMs);
    return this.closed;
  }

  /** Called once the server stopped accepting: lets open connections finish what they carry, then close. */
  protected abstract closeGently(): void;

  /** Called when `graceMs` ran out: cuts the connections still open. */
  protected abstract closeForcibly(): void;

  private async doShutdown(graceMs: number): Promise<void> {
    this.closing = true;
    this.unpause(false);
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.closeGently();
    if (!(await settlesWithin(closed, graceMs))) {
      this.closeForcibly();
      await closed;
    }
  }
}
