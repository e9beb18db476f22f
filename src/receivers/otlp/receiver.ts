/**
 * The `otlp` receiver: OTLP/gRPC and OTLP/HTTP trace exports into one traces pipeline.
 *
 * Both transports share one `Ingest` (metrics, the `max_inflight_bytes` budget, error mapping), so a burst on one
 * transport makes the other push back too: memory is bounded per receiver, not per socket.
 */
import type { Component, CreateSettings, Host } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import type { TraceBatch } from '../../core/model.js';
import type { HostPort } from '../../config/types.js';
import type { OtlpReceiverConfig } from './config.js';
import { OtlpGrpcServer } from './grpc.js';
import { OtlpHttpServer } from './http.js';
import { Ingest } from './ingest.js';
import { formatHostPort } from './server-lifecycle.js';
import { loadTls } from './tls.js';

/** How long shutdown waits for requests in flight before cutting their connections. */
export const SHUTDOWN_GRACE_MS = 5_000;

export class OtlpReceiver implements Component {
  private readonly ingest: Ingest;
  private http: OtlpHttpServer | undefined;
  private grpc: OtlpGrpcServer | undefined;
  private started = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: OtlpReceiverConfig,
    next: Consumer<TraceBatch>,
  ) {
    this.ingest = new Ingest(settings.id, settings.logger, settings.metrics, next, config.max_inflight_bytes, settings.overload);
  }

  /**
   * Reads TLS files and binds every enabled protocol. Rejects with `PULSE_ERR_LISTEN` (address in use, ...) or
   * `PULSE_ERR_TLS` (unreadable file); whatever was already bound is closed again first.
   */
  async start(host: Host): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { grpc, http } = this.config.protocols;
    const logger = this.settings.logger;
    try {
      if (http !== undefined) {
        const tls = http.tls !== undefined ? loadTls(http.tls, 'protocols.http') : undefined;
        this.http = new OtlpHttpServer({ config: http, ingest: this.ingest, logger, tls });
        const addr = await this.http.start();
        this.http.onServerError((err) => host.reportFatalError(err));
        logger.info({ address: formatHostPort(addr), tls: tls !== undefined }, 'OTLP/HTTP receiver listening');
      }
      if (grpc !== undefined) {
        const tls = grpc.tls !== undefined ? loadTls(grpc.tls, 'protocols.grpc') : undefined;
        this.grpc = new OtlpGrpcServer({ config: grpc, ingest: this.ingest, logger, tls });
        const addr = await this.grpc.start();
        this.grpc.onServerError((err) => host.reportFatalError(err));
        logger.info({ address: formatHostPort(addr), tls: tls !== undefined }, 'OTLP/gRPC receiver listening');
      }
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  /** Stops accepting, lets requests in flight finish (up to SHUTDOWN_GRACE_MS), closes connections. Idempotent. */
  shutdown(): Promise<void> {
    this.stopped ??= Promise.all([this.http?.shutdown(SHUTDOWN_GRACE_MS), this.grpc?.shutdown(SHUTDOWN_GRACE_MS)]).then(() => {
      if (this.started) this.settings.logger.info('OTLP receiver stopped');
    });
    return this.stopped;
  }

  /** The bound OTLP/HTTP address after `start()` (the real port when the config says 0); `undefined` if disabled. */
  httpAddress(): HostPort | undefined {
    return this.http?.address();
  }

  /** The bound OTLP/gRPC address after `start()`; `undefined` if disabled. */
  grpcAddress(): HostPort | undefined {
    return this.grpc?.address();
  }
}
