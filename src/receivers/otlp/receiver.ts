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

/**
 * On a reload that keeps this receiver: how long new requests wait for the next config's receiver to take the
 * listening sockets over before they are refused (retryable). The swap takes ~10 ms when exporters hand over.
 */
export const RELOAD_HOLD_MS = 5_000;

/** What a receiver hands to the same receiver of a reloaded config: its servers, still listening. */
interface KeptServers {
  readonly http: OtlpHttpServer | undefined;
  readonly grpc: OtlpGrpcServer | undefined;
}

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
    // A reload with this receiver unchanged: the previous config's servers, still listening, are taken over.
    const kept = this.settings.handover?.take()?.[0] as KeptServers | undefined;
    try {
      if (http !== undefined) {
        if (kept?.http !== undefined) {
          this.http = kept.http;
          this.http.adopt(this.ingest, logger);
        } else {
          const tls = http.tls !== undefined ? loadTls(http.tls, 'protocols.http') : undefined;
          this.http = new OtlpHttpServer({ config: http, ingest: this.ingest, logger, tls });
          const addr = await this.http.start();
          logger.info({ address: formatHostPort(addr), tls: tls !== undefined }, 'OTLP/HTTP receiver listening');
        }
        this.http.onServerError((err) => host.reportFatalError(err));
      }
      if (grpc !== undefined) {
        if (kept?.grpc !== undefined) {
          this.grpc = kept.grpc;
          this.grpc.adopt(this.ingest, logger);
        } else {
          const tls = grpc.tls !== undefined ? loadTls(grpc.tls, 'protocols.grpc') : undefined;
          this.grpc = new OtlpGrpcServer({ config: grpc, ingest: this.ingest, logger, tls });
          const addr = await this.grpc.start();
          logger.info({ address: formatHostPort(addr), tls: tls !== undefined }, 'OTLP/gRPC receiver listening');
        }
        this.grpc.onServerError((err) => host.reportFatalError(err));
      }
      if (kept !== undefined) {
        this.http?.resume();
        this.grpc?.resume();
        logger.info('OTLP receiver took over the listening sockets of the previous configuration (reload)');
      }
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  /**
   * Stops accepting, lets requests in flight finish (up to SHUTDOWN_GRACE_MS), closes connections. Idempotent. On
   * a reload to a config with this receiver unchanged (and without TLS, whose files a reload may be meant to read
   * again), the servers are paused instead: they keep listening, hold new requests, and go to the new receiver.
   */
  shutdown(): Promise<void> {
    this.stopped ??= this.stop();
    return this.stopped;
  }

  private async stop(): Promise<void> {
    const slot = this.settings.handover;
    const { grpc, http } = this.config.protocols;
    const noTls = http?.tls === undefined && grpc?.tls === undefined;
    if (this.started && noTls && (this.http !== undefined || this.grpc !== undefined) && slot?.continues() === true) {
      await Promise.all([this.http?.pause(SHUTDOWN_GRACE_MS, RELOAD_HOLD_MS), this.grpc?.pause(SHUTDOWN_GRACE_MS, RELOAD_HOLD_MS)]);
      const kept: KeptServers = { http: this.http, grpc: this.grpc };
      // Nobody took them (the reload failed, and so did the previous config's restart): close them after all.
      slot.put([kept], 0, () => void Promise.all([kept.http?.shutdown(SHUTDOWN_GRACE_MS), kept.grpc?.shutdown(SHUTDOWN_GRACE_MS)]));
      this.settings.logger.info('OTLP receiver paused for the reload: its listening sockets go to the new configuration');
      return;
    }
    await Promise.all([this.http?.shutdown(SHUTDOWN_GRACE_MS), this.grpc?.shutdown(SHUTDOWN_GRACE_MS)]);
    if (this.started) this.settings.logger.info('OTLP receiver stopped');
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
