/**
 * OTLP/gRPC served directly on node:http2 (h2c without TLS, `h2` over TLS with ALPN): the unary method
 * `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
 *
 * Why not @grpc/grpc-js: its server keeps HTTP/2's default 64 KiB receive window, so one connection carrying
 * 200 KB messages idles about half the time waiting for window updates (PERFORMANCE.md). Here every stream starts
 * with a `STREAM_WINDOW` window and every session with `SESSION_WINDOW`, so a sender can put a whole typical
 * request on the wire at once.
 *
 * Wire behaviour (gRPC over HTTP/2 spec):
 * - success: HEADERS `:status 200`, `content-type: application/grpc`; one DATA frame carrying the length-prefixed
 *   ExportTraceServiceResponse; trailers `grpc-status: 0`;
 * - errors: a trailers-only response (`grpc-status`, percent-encoded `grpc-message`, and for retryable errors
 *   `grpc-status-details-bin` = base64 google.rpc.Status with a RetryInfo detail); a content type that is not
 *   `application/grpc…` (or is gRPC-Web's) gets plain HTTP 415, another codec than protobuf (`application/grpc+json`)
 *   UNIMPLEMENTED, a method other than POST HTTP 405;
 * - exactly one message per call; `grpc-encoding` gzip, deflate or identity; `grpc-timeout` bounds how long the
 *   request may take to arrive.
 * A stream reset or a client that goes away only ends that stream; nothing is thrown into the process.
 */
import {
  constants as h2,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Logger } from 'pino';
import { errorMessage, type PermanentError } from '../../core/errors.js';
import {
  decodeTraceRequest,
  encodeGrpcFrame,
  encodeStatus,
  encodeTraceResponse,
  parseGrpcFrames,
  type DecodeResult,
} from '../../otlp/index.js';
import type { OtlpGrpcConfig } from './config.js';
import { BearerAuth } from './auth.js';
import { BudgetFullError, TOO_LARGE, decompressBodyAsync, gzipEndsCleanly, parseBodyEncoding, type BodyEncoding } from './decompress.js';
import type { Ingest, Outcome } from './ingest.js';
import { Lease } from './inflight.js';
import { ServerLifecycle } from './server-lifecycle.js';
import { GrpcCode, parseGrpcTimeout, percentEncodeGrpcMessage } from './status.js';
import type { TlsServerOptions } from './tls.js';

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Per-stream receive window: a 20 MiB message arrives in ~20 window round trips instead of ~320 at 64 KiB. */
const STREAM_WINDOW = 1024 * 1024;
/** Per-connection receive window, shared by the streams of one client connection (grpc-js multiplexes them). */
const SESSION_WINDOW = 16 * 1024 * 1024;
/** Frames up to 64 KiB: a quarter of the per-frame work for large messages, compared to the 16 KiB default. */
const MAX_FRAME_SIZE = 64 * 1024;
const MAX_CONCURRENT_STREAMS = 250;
/** A session with no frames for this long is sent GOAWAY (clients reconnect when they have data again). This also
 * ends connections that stall mid-preface or mid-frame, which node:http2 would otherwise keep forever. */
const SESSION_IDLE_MS = 60_000;
/** The whole request message must arrive within this (or the client's grpc-timeout, when shorter). */
const READ_TIMEOUT_MS = 30_000;
/** After refusing a call whose message is still arriving: discard at most this much / this long, then reset. */
const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
const DISCARD_MAX_MS = 2_000;

const ACCEPT_ENCODING = 'identity,gzip,deflate';

function noop(): void {}

export interface OtlpGrpcServerOptions {
  config: OtlpGrpcConfig;
  ingest: Ingest;
  logger: Logger;
  tls: TlsServerOptions | undefined;
}

/** h2c, or h2 over TLS (ALPN) with HTTP/1.1 refused, with the windows and frame size above. */
function createGrpcServer(tls: TlsServerOptions | undefined): Http2Server | Http2SecureServer {
  const settings = {
    initialWindowSize: STREAM_WINDOW,
    maxFrameSize: MAX_FRAME_SIZE,
    maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
  };
  return tls !== undefined ? createSecureServer({ ...tls, settings, allowHTTP1: false }) : createServer({ settings });
}

export class OtlpGrpcServer extends ServerLifecycle<Http2Server | Http2SecureServer> {
  private readonly config: OtlpGrpcConfig;
  private readonly auth: BearerAuth | undefined;
  /** The answer to a fully accepted call never changes: frame it once. */
  private readonly okFrame: Buffer;
  private readonly sessions = new Set<Http2Session>();

  constructor(options: OtlpGrpcServerOptions) {
    super(createGrpcServer(options.tls), options.config.endpoint, 'the otlp receiver (gRPC)', 'grpc', options.ingest, options.logger);
    this.config = options.config;
    this.auth = options.config.auth !== undefined ? new BearerAuth(options.config.auth.bearer_token) : undefined;
    this.okFrame = encodeGrpcFrame(encodeTraceResponse(0, ''), false);
    this.server.on('session', this.onSession);
    this.server.on('stream', this.onStream);
    // Protocol errors of one connection (a client speaking HTTP/1.1 to this port, a bad preface) end that session.
    this.server.on('sessionError', (err: Error) => this.logger.debug({ err }, 'OTLP/gRPC session error'));
  }

  /**
   * Sends GOAWAY on every session: streams in flight go on, new ones are refused by the client, and each session
   * closes once its last stream is answered and flushed.
   */
  protected closeGently(): void {
    for (const s of this.sessions) s.close();
  }

  protected closeForcibly(): void {
    for (const s of this.sessions) s.destroy();
  }

  private readonly onSession = (session: Http2Session): void => {
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', (err: Error) => this.logger.debug({ err }, 'OTLP/gRPC connection error'));
    session.setTimeout(SESSION_IDLE_MS, () => session.close());
    try {
      session.setLocalWindowSize(SESSION_WINDOW);
    } catch (err) {
      this.logger.debug({ err }, 'could not raise the HTTP/2 connection window');
    }
    if (this.closing) session.close();
  };

  private readonly onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    // RST_STREAM from the client, or a session torn down under the stream: the call just ends.
    stream.on('error', noop);
    const held = this.held;
    if (held !== undefined) {
      // A reload is swapping the pipelines: wait for the new ones rather than refuse.
      void held.then((resumed) => {
        if (resumed) this.onStream(stream, headers);
        else this.answerError(stream, GrpcCode.UNAVAILABLE, 'refused', 'Pulse is reloading its configuration; retry shortly', 1000);
      });
      return;
    }
    this.track(stream);
    try {
      this.handle(stream, headers);
    } catch (err) {
      this.answerInternalError(stream, err);
    }
  };

  private handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const contentType = headers['content-type'];
    const codec = grpcCodec(contentType);
    if (codec === 'not-grpc') {
      return this.answerHttp(stream, 415, `content-type ${contentType ?? '(none)'} is not gRPC; send application/grpc`);
    }
    if (codec === 'grpc-web') {
      return this.answerHttp(stream, 415, `content-type ${contentType} is gRPC-Web, which needs a proxy in front of this server; send application/grpc, or use OTLP/HTTP`);
    }
    const method = headers[':method'];
    if (method !== 'POST') return this.answerHttp(stream, 405, `method ${method} is not allowed; gRPC uses POST`);
    const path = headers[':path'];
    if (path !== EXPORT_PATH) {
      return this.answerError(stream, GrpcCode.UNIMPLEMENTED, 'unsupported', `unknown method ${path}; this server implements ${EXPORT_PATH}`);
    }
    if (this.auth !== undefined && !this.auth.check(headers.authorization)) {
      return this.answerError(stream, GrpcCode.UNAUTHENTICATED, 'unauthorized', 'missing or wrong bearer token; send "authorization: Bearer <token>" metadata');
    }
    const grpcEncoding = headers['grpc-encoding'];
    const encoding = parseBodyEncoding(typeof grpcEncoding === 'string' ? grpcEncoding : undefined);
    if (encoding === undefined) {
      return this.answerError(stream, GrpcCode.UNIMPLEMENTED, 'unsupported', `grpc-encoding ${String(grpcEncoding)} is not supported; use gzip or identity`);
    }
    if (codec === 'other-codec') {
      return this.answerError(stream, GrpcCode.UNIMPLEMENTED, 'unsupported', `content-type ${contentType}: only the protobuf codec is served; send application/grpc or application/grpc+proto`);
    }
    const shed = this.ingest.shedding();
    if (shed !== undefined) return this.answerError(stream, GrpcCode.RESOURCE_EXHAUSTED, 'refused', shed.message, shed.retryAfterMs);
    const timeoutHeader = headers['grpc-timeout'];
    const clientTimeout = parseGrpcTimeout(typeof timeoutHeader === 'string' ? timeoutHeader : undefined);
    this.receive(stream, encoding, Math.min(clientTimeout ?? READ_TIMEOUT_MS, READ_TIMEOUT_MS));
  }

  /** Collects the request message, refusing early when its declared length or the in-flight budget says so. */
  private receive(stream: ServerHttp2Stream, encoding: BodyEncoding, timeoutMs: number): void {
    const max = this.config.max_recv_msg_size;
    const lease = new Lease(this.ingest.budget);
    const chunks: Buffer[] = [];
    let total = 0;
    let headerChecked = false;
    let done = false;
    const stop = () => {
      done = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
    };
    const refuse = (code: GrpcCode, outcome: Outcome, message: string, retryAfterMs?: number) => {
      stop();
      lease.release();
      this.answerError(stream, code, outcome, message, retryAfterMs);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (!lease.tryReserve(chunk.length)) {
        return refuse(GrpcCode.UNAVAILABLE, 'refused', this.ingest.busy(), 1000);
      }
      chunks.push(chunk);
      if (!headerChecked && total >= 5) {
        headerChecked = true;
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks, total);
        const length = head.readUInt32BE(1);
        if (length > max) {
          return refuse(GrpcCode.RESOURCE_EXHAUSTED, 'too_large', `the message is ${length} bytes, over the ${max}-byte limit (max_recv_msg_size); send smaller batches`);
        }
      }
      if (total > max + 5) {
        return refuse(GrpcCode.INVALID_ARGUMENT, 'bad_request', 'a unary Export call carries exactly one message; got more data after it');
      }
    };
    const onEnd = () => {
      stop();
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      this.process(stream, body, encoding, lease).then(
        () => lease.release(),
        (err: unknown) => {
          lease.release();
          this.answerInternalError(stream, err);
        },
      );
    };
    const timer = setTimeout(() => {
      if (done) return;
      refuse(GrpcCode.DEADLINE_EXCEEDED, 'aborted', `the request message did not arrive within ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.once('close', () => {
      if (done) return;
      stop();
      lease.release();
      this.metrics.requests.aborted.inc();
    });
  }

  private async process(stream: ServerHttp2Stream, body: Buffer, encoding: BodyEncoding, lease: Lease): Promise<void> {
    const max = this.config.max_recv_msg_size;
    let frames: Array<{ compressed: boolean; message: Buffer }>;
    try {
      frames = parseGrpcFrames(body, max);
    } catch (err) {
      return this.answerUnreadable(stream, err);
    }
    if (frames.length !== 1) {
      return this.answerError(stream, GrpcCode.INVALID_ARGUMENT, 'bad_request', `a unary Export call carries exactly one message; got ${frames.length}`);
    }
    const frame = frames[0]!;
    let message = frame.message;
    if (frame.compressed) {
      if (encoding === 'identity') {
        // INTERNAL, as the gRPC spec has it: the sender's framing contradicts its own headers.
        return this.answerError(stream, GrpcCode.INTERNAL, 'bad_request', 'the message is marked compressed but the call has no grpc-encoding; send grpc-encoding: gzip');
      }
      try {
        message = await decompressBodyAsync(message, encoding, max, lease);
      } catch (err) {
        if (err instanceof BudgetFullError) return this.answerError(stream, GrpcCode.UNAVAILABLE, 'refused', this.ingest.busy(), 1000);
        return this.answerUnreadable(stream, err);
      }
    }
    let decoded: DecodeResult;
    try {
      decoded = decodeTraceRequest(message);
    } catch (err) {
      return this.answerError(stream, GrpcCode.INVALID_ARGUMENT, 'bad_request', errorMessage(err));
    }
    // Gzipped as sent: an exporter that gzips too can forward these bytes if nothing changes the batch.
    const received = decoded.batch.received;
    if (received !== undefined && frame.compressed && encoding === 'gzip' && gzipEndsCleanly(frame.message, message)) {
      decoded.batch.received = { protobuf: received.protobuf, gzip: frame.message };
    }
    const verdict = await this.ingest.deliver(decoded, this.metrics);
    switch (verdict.kind) {
      case 'ok':
        return this.answerOk(stream, decoded);
      case 'retry':
        return this.answerError(
          stream,
          verdict.resourceExhausted ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE,
          'refused',
          verdict.message,
          verdict.retryAfterMs,
        );
      case 'permanent':
        return this.answerError(stream, GrpcCode.INVALID_ARGUMENT, 'rejected', verdict.message);
    }
  }

  /** A message that could not be unframed or decompressed: over the size limit, or malformed. */
  private answerUnreadable(stream: ServerHttp2Stream, err: unknown): void {
    const tooLarge = (err as PermanentError).code === TOO_LARGE;
    this.answerError(stream, tooLarge ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INVALID_ARGUMENT, tooLarge ? 'too_large' : 'bad_request', errorMessage(err));
  }

  /** A bug in this handler: logged, and answered "retry later" so the data is not lost. */
  private answerInternalError(stream: ServerHttp2Stream, err: unknown): void {
    this.logger.error({ err }, 'the OTLP/gRPC handler failed unexpectedly (PULSE_ERR_INTERNAL)');
    this.answerError(stream, GrpcCode.UNAVAILABLE, 'refused', `internal error: ${errorMessage(err)}`, 1000);
  }

  private answerOk(stream: ServerHttp2Stream, decoded: DecodeResult): void {
    if (stream.destroyed || stream.headersSent) {
      this.metrics.requests.aborted.inc();
      return;
    }
    const frame =
      decoded.rejectedSpans === 0 ? this.okFrame : encodeGrpcFrame(encodeTraceResponse(decoded.rejectedSpans, decoded.rejectReason), false);
    this.metrics.requests.ok.inc();
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': ACCEPT_ENCODING },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  }

  /**
   * A trailers-only error response. Retryable refusals (`retryAfterMs` given) also carry
   * `grpc-status-details-bin`: a google.rpc.Status with a RetryInfo detail, which OTLP clients use as the delay.
   */
  private answerError(stream: ServerHttp2Stream, code: GrpcCode, outcome: Outcome, message: string, retryAfterMs?: number): void {
    if (stream.destroyed || stream.headersSent) {
      this.metrics.requests.aborted.inc();
      return;
    }
    this.ingest.recordError(this.metrics, outcome, message, { socket: stream.session?.socket, userAgent: undefined });
    const headers: OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-accept-encoding': ACCEPT_ENCODING,
      'grpc-status': String(code),
      'grpc-message': percentEncodeGrpcMessage(message),
    };
    if (retryAfterMs !== undefined) {
      headers['grpc-status-details-bin'] = Buffer.from(encodeStatus(code, message, retryAfterMs)).toString('base64');
    }
    stream.respond(headers, { endStream: true });
    this.discardRest(stream);
  }

  /** Plain HTTP refusals for requests that are not gRPC at all (wrong content type or method). */
  private answerHttp(stream: ServerHttp2Stream, status: number, message: string): void {
    this.ingest.recordError(this.metrics, 'unsupported', message, { socket: stream.session?.socket, userAgent: undefined });
    if (stream.destroyed || stream.headersSent) return;
    const body = Buffer.from(message + '\n');
    stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
    stream.end(body);
    this.discardRest(stream);
  }

  /**
   * After answering a call whose request is still arriving, drop what comes in and reset the stream with NO_ERROR
   * (HTTP/2's "stop sending, the answer is complete") once that costs DISCARD_MAX_BYTES or DISCARD_MAX_MS.
   */
  private discardRest(stream: ServerHttp2Stream): void {
    if (stream.readableEnded || stream.destroyed) return;
    let discarded = 0;
    const reset = () => {
      clearTimeout(timer);
      if (!stream.destroyed) stream.close(h2.NGHTTP2_NO_ERROR);
    };
    const timer = setTimeout(reset, DISCARD_MAX_MS);
    timer.unref();
    stream.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_MAX_BYTES) reset();
    });
    stream.once('close', () => clearTimeout(timer));
    stream.resume();
  }
}

/**
 * What a gRPC content type asks for (`application/grpc` [`+proto` | `+json` | …], gRPC over HTTP/2 spec): the
 * protobuf codec, another codec, gRPC-Web (a different wire format, served by a proxy), or not gRPC at all.
 */
export function grpcCodec(contentType: string | undefined): 'proto' | 'other-codec' | 'grpc-web' | 'not-grpc' {
  if (contentType === undefined) return 'not-grpc';
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === 'application/grpc' || type === 'application/grpc+proto') return 'proto';
  if (type.startsWith('application/grpc-web')) return 'grpc-web';
  if (type.startsWith('application/grpc+')) return 'other-codec';
  return 'not-grpc';
}
