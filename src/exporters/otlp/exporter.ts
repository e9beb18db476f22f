/**
 * The `otlp` (gRPC) send function: one unary `TraceService/Export` call per batch, classified per the OTLP/gRPC
 * spec:
 *
 * | answer                                                              | result                                        |
 * |---------------------------------------------------------------------|-----------------------------------------------|
 * | OK (0)                                                              | sent; partial_success rejected spans counted  |
 * | CANCELLED 1, DEADLINE_EXCEEDED 4, ABORTED 10, OUT_OF_RANGE 11,      | RetryableError (RetryInfo honoured)           |
 * | UNAVAILABLE 14, DATA_LOSS 15                                        |                                               |
 * | RESOURCE_EXHAUSTED 8 with RetryInfo                                 | RetryableError after RetryInfo's delay        |
 * | RESOURCE_EXHAUSTED 8 without RetryInfo, every other code            | PermanentError (dropped)                      |
 * | no gRPC answer (refused, reset, GOAWAY, missing grpc-status)        | RetryableError; next call reconnects          |
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import type * as http2 from 'node:http2';
import type { CreateSettings } from '../../core/component.js';
import { PermanentError, RetryableError } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import { decodeStatus, decodeTraceResponse, encodeGrpcFrame, encodeTraceRequest, parseGrpcFrames } from '../../otlp/index.js';
import { encodeAndGzip, receivedBody, ScratchBuffers } from '../exporterhelper/compression.js';
import type { QueuedExporter } from '../exporterhelper/queued-exporter.js';
import type { SendResult } from '../exporterhelper/sender.js';
import { isTlsFailure, loadClientTls, tlsHint } from '../exporterhelper/tls.js';
import { createQueuedTracesExporter, tracePartialSuccess, type TraceClient } from '../exporterhelper/traces.js';
import { grpcTarget, type GrpcTarget, type OtlpGrpcConfig } from './config.js';
import { GrpcClient, TransportError, type UnaryAnswer } from './grpc-client.js';

const gunzip = promisify(gunzipCb);

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const USER_AGENT = 'pulse-otlp-grpc-exporter/0.1';
/** Export responses are tiny; anything bigger is a misbehaving server. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** The codes OTLP/gRPC says to retry (RESOURCE_EXHAUSTED only when the server sent RetryInfo). */
const RETRYABLE = new Set([1, 4, 10, 11, 14, 15]);
const RESOURCE_EXHAUSTED = 8;

export function createOtlpGrpcTracesExporter(settings: CreateSettings, config: OtlpGrpcConfig): QueuedExporter<TraceBatch> {
  return createQueuedTracesExporter(settings, config, new OtlpGrpcTraceClient(settings, config));
}

export class OtlpGrpcTraceClient implements TraceClient {
  private readonly target: GrpcTarget;
  private client: GrpcClient | undefined;
  private readonly headers: http2.OutgoingHttpHeaders;
  /** Framed (and compressed) messages by batch, so retries do not encode and compress again. */
  private readonly bodies = new WeakMap<TraceBatch, Buffer>();
  /** Reused buffers for messages that are gzipped (see `ScratchBuffers`). */
  private readonly scratch = new ScratchBuffers();

  constructor(
    private readonly settings: CreateSettings,
    private readonly cfg: OtlpGrpcConfig,
  ) {
    const target = grpcTarget(cfg);
    if (!target) throw new PermanentError('PULSE_ERR_CONFIG', `otlp exporter: endpoint "${cfg.endpoint ?? ''}" is not host:port`);
    this.target = target;
    const h: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(cfg.headers)) h[k.toLowerCase()] = v;
    Object.assign(h, {
      ':method': 'POST',
      ':path': EXPORT_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
      'grpc-accept-encoding': 'gzip,identity',
      // The per-attempt timeout, so the server gives up when we do. At most 8 digits (gRPC spec).
      'grpc-timeout': `${Math.min(Math.max(1, Math.ceil(cfg.timeout)), 99_999_999)}m`,
    });
    if (cfg.compression === 'gzip') h['grpc-encoding'] = 'gzip';
    this.headers = h;
  }

  async start(): Promise<void> {
    const tls = this.target.secure ? await loadClientTls(this.cfg.tls) : undefined;
    this.client = new GrpcClient(this.target.origin, tls, this.settings.logger);
  }

  async close(): Promise<void> {
    await this.client?.close();
  }

  async send(batch: TraceBatch, signal: AbortSignal): Promise<SendResult> {
    const client = this.client;
    if (!client) throw new RetryableError('PULSE_ERR_NOT_STARTED', 'the otlp exporter has not started');
    let body = this.bodies.get(batch);
    if (body === undefined) {
      body = await this.frame(batch);
      this.bodies.set(batch, body);
    }
    let answer: UnaryAnswer;
    try {
      answer = await client.unary(this.headers, body, signal, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (err instanceof TransportError && isTlsFailure(err)) {
        throw new RetryableError('PULSE_ERR_EXPORT_TLS', `the TLS handshake failed: ${err.message}; ${tlsHint('destination', { serverNameOverride: true })}; retrying`, { cause: err });
      }
      if (err instanceof TransportError) {
        throw new RetryableError(
          'PULSE_ERR_EXPORT_CONNECT',
          `${err.message}; check that the destination is up and the endpoint (and tls.insecure) are right`,
          { cause: err },
        );
      }
      throw err; // aborted: the helper reports the timeout or shutdown
    }
    return this.classify(answer);
  }

  private async frame(batch: TraceBatch): Promise<Buffer> {
    const gzip = this.cfg.compression === 'gzip';
    // A request nothing changed goes out as it came: as the sender gzipped it, or gzipped here without encoding.
    if (batch.received !== undefined) return encodeGrpcFrame(await receivedBody(batch.received, gzip, this.cfg.compression_params.level), gzip);
    // The async gzip runs on libuv's thread pool, keeping the event loop free for the receivers; the message it
    // reads is encoded into a reused buffer.
    if (gzip) {
      const gzipped = await encodeAndGzip((allocate) => encodeTraceRequest(batch, allocate), this.scratch, this.cfg.compression_params.level);
      return encodeGrpcFrame(gzipped, true);
    }
    return encodeGrpcFrame(encodeTraceRequest(batch), false);
  }

  private async classify(a: UnaryAnswer): Promise<SendResult> {
    const where = this.target.origin;
    let code = a.grpcStatus;
    if (a.httpStatus !== 200 && (code === undefined || code === 0)) {
      // A proxy or a non-gRPC server answered: gRPC maps its HTTP status.
      code = httpToGrpc(a.httpStatus);
    } else if (code === undefined) {
      // HTTP 200 but the stream ended without a status (cut off). Retry rather than drop on a transport problem.
      throw new RetryableError('PULSE_ERR_EXPORT_UNAVAILABLE', `${where} ended the call without a grpc-status; retrying`);
    }
    if (code === 0) return this.partialSuccess(a);
    const name = GRPC_CODE_NAMES[code] ?? `code ${code}`;
    const retryAfterMs = a.details ? safeRetryDelay(a.details) : undefined;
    const text = `${where} answered gRPC ${name} (${code})${a.grpcMessage ? `: ${a.grpcMessage}` : ''}`;
    if (RETRYABLE.has(code) || (code === RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
      throw new RetryableError(
        code === RESOURCE_EXHAUSTED ? 'PULSE_ERR_EXPORT_THROTTLED' : 'PULSE_ERR_EXPORT_UNAVAILABLE',
        `${text}; retrying${retryAfterMs !== undefined ? ` after ${retryAfterMs} ms (RetryInfo)` : ''}`,
        retryAfterMs !== undefined ? { retryAfterMs } : undefined,
      );
    }
    throw new PermanentError('PULSE_ERR_EXPORT_REJECTED', `${text}; the batch is dropped — check the endpoint, headers (auth) and the data`);
  }

  private async partialSuccess(a: UnaryAnswer): Promise<SendResult> {
    try {
      const frame = parseGrpcFrames(a.body, MAX_RESPONSE_BYTES)[0];
      if (!frame || frame.message.length === 0) return {};
      const message = frame.compressed ? await gunzip(frame.message) : frame.message;
      return tracePartialSuccess(decodeTraceResponse(message));
    } catch {
      return {}; // an unreadable success body does not undo the success
    }
  }
}

function safeRetryDelay(details: Buffer): number | undefined {
  try {
    return decodeStatus(details).retryDelayMs;
  } catch {
    return undefined;
  }
}

/** gRPC's HTTP-to-status mapping, for answers whose HTTP status says more than their grpc-status. */
function httpToGrpc(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
