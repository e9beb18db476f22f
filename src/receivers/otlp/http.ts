/**
 * OTLP/HTTP on node:http (node:https with TLS): `POST <traces_url_path>` with an `application/x-protobuf` or
 * `application/json` ExportTraceServiceRequest, optionally gzip/deflate-compressed.
 *
 * Request path, cheapest refusals first: path → CORS preflight → method → auth → content type → content encoding
 * → declared length → in-flight budget → body (capped while reading) → decompression (capped while inflating) →
 * decode → pipeline. Every refusal answers a google.rpc.Status in the request's encoding (JSON when the content type
 * is unknown) whose message says what was wrong. A request refused before its body was read has the rest of its
 * body discarded, not buffered, and its connection is cut after `DISCARD_MAX_BYTES` or `DISCARD_MAX_MS`.
 *
 * Nothing here logs or allocates per request on the success path beyond the body and the decoded batch (and a
 * compressed body with a declared length is read into a reused buffer, see core/buffer-pool.ts).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { BufferPool } from '../../core/buffer-pool.js';
import { errorMessage, type PermanentError } from '../../core/errors.js';
import {
  decodeTraceRequest,
  decodeTraceRequestJson,
  encodeStatus,
  encodeStatusJson,
  encodeTraceResponse,
  encodeTraceResponseJson,
  type DecodeResult,
} from '../../otlp/index.js';
import type { OtlpHttpConfig } from './config.js';
import { BearerAuth } from './auth.js';
import { CorsPolicy } from './cors.js';
import { ASYNC_FROM_BYTES, BudgetFullError, TOO_LARGE, decompressBodyAsync, gzipEndsCleanly, parseBodyEncoding } from './decompress.js';
import type { Ingest, Outcome } from './ingest.js';
import { Lease } from './inflight.js';
import { ServerLifecycle } from './server-lifecycle.js';
import { grpcCodeForHttpStatus } from './status.js';
import type { TlsServerOptions } from './tls.js';

/** Slowloris bounds: headers must arrive within 10 s and the whole request within 30 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Idle keep-alive connections close after 15 s (SDK exporters send every few seconds and reuse them). */
const KEEP_ALIVE_TIMEOUT_MS = 15_000;
/** After refusing a request whose body is still arriving: discard at most this much, for at most this long, then
 * cut the connection. Discarding for a while lets the sender read the answer instead of a connection reset. */
const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
const DISCARD_MAX_MS = 5_000;

type Wire = 'proto' | 'json';

const CONTENT_TYPE: Record<Wire, string> = { proto: 'application/x-protobuf', json: 'application/json' };

function noop(): void {}

/** `application/x-protobuf` / `application/protobuf` / `application/json`, parameters ignored. */
function parseContentType(v: string | undefined): Wire | undefined {
  if (v === undefined) return undefined;
  const semi = v.indexOf(';');
  const mime = (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'proto';
  if (mime === 'application/json') return 'json';
  return undefined;
}

/**
 * The path of a request target, without its query. A target in absolute form (`http://host:port/v1/traces`, what a
 * client talking through a forward proxy may send) is routed by its path, as RFC 9112 §3.2.2 requires servers to
 * accept it.
 */
export function requestPath(url: string): string {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf('://');
    if (scheme > 0) {
      const slash = url.indexOf('/', scheme + 3);
      if (slash < 0) return '/';
      start = slash;
    }
  }
  const q = url.indexOf('?', start);
  return q < 0 ? (start === 0 ? url : url.slice(start)) : url.slice(start, q);
}

class BodyError extends Error {
  constructor(readonly reason: 'too_large' | 'busy' | 'aborted') {
    super(reason);
  }
}

/**
 * Reads the whole body, refusing (and detaching, so the caller can discard the rest) once it passes `limit` or
 * the lease cannot grow. Every chunk is reserved as it arrives: a declared length is only a promise, and reserving
 * or allocating it ahead would let a few connections that announce 20 MB and send nothing hold the whole budget.
 * Chunks are copied into `into` (a pooled buffer of the declared length) or joined at the end.
 */
function readBody(req: IncomingMessage, limit: number, declared: number | undefined, lease: Lease, into: ArrayBuffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const whole = into !== undefined ? Buffer.from(into, 0, declared) : undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    const detach = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    const fail = (reason: BodyError['reason']) => {
      detach();
      reject(new BodyError(reason));
    };
    const onData = (chunk: Buffer) => {
      const at = total;
      total += chunk.length;
      if (total > limit) return fail('too_large');
      if (!lease.tryReserve(chunk.length)) return fail('busy');
      // Node's parser never delivers more than Content-Length, so the copy stays in bounds.
      if (whole !== undefined) chunk.copy(whole, at);
      else chunks.push(chunk);
    };
    const onEnd = () => {
      detach();
      if (whole !== undefined) resolve(total === whole.length ? whole : whole.subarray(0, total));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onClose = () => {
      if (!req.complete) fail('aborted');
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

export interface OtlpHttpServerOptions {
  config: OtlpHttpConfig;
  ingest: Ingest;
  logger: Logger;
  tls: TlsServerOptions | undefined;
}

/** HTTP/1.1 (HTTPS with TLS) with the slowloris and keep-alive bounds above. */
function createOtlpHttpServer(tls: TlsServerOptions | undefined): Server {
  const serverOptions = {
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: HEADERS_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: 2_000,
  };
  const server = tls !== undefined ? createHttpsServer({ ...serverOptions, ...tls }) : createHttpServer(serverOptions);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}

export class OtlpHttpServer extends ServerLifecycle<Server> {
  private readonly config: OtlpHttpConfig;
  private readonly cors: CorsPolicy | undefined;
  private readonly auth: BearerAuth | undefined;
  /** The answers to a fully accepted request never change: encode them once. */
  private readonly okBody: Record<Wire, Uint8Array | string>;
  /** Compressed bodies with a declared length are read into these and given back once inflated (see `handle`). */
  private readonly bodies = new BufferPool(16, 1024 * 1024, 16 * 1024);

  constructor(options: OtlpHttpServerOptions) {
    super(createOtlpHttpServer(options.tls), options.config.endpoint, 'the otlp receiver (HTTP)', 'http', options.ingest, options.logger);
    this.config = options.config;
    this.cors = options.config.cors !== undefined ? new CorsPolicy(options.config.cors) : undefined;
    this.auth = options.config.auth !== undefined ? new BearerAuth(options.config.auth.bearer_token) : undefined;
    this.okBody = { proto: encodeTraceResponse(0, ''), json: encodeTraceResponseJson(0, '') };
    this.server.on('request', this.onRequest);
    this.server.on('checkContinue', this.onCheckContinue);
  }

  /**
   * Closes idle keep-alive connections; requests in flight go on, and their answers carry `Connection: close`, so
   * each connection ends with its answer.
   */
  protected closeGently(): void {
    this.server.closeIdleConnections();
  }

  protected closeForcibly(): void {
    this.server.closeAllConnections();
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    this.accept(req, res, false);
  };

  /**
   * `Expect: 100-continue`: the sender waits for a go-ahead before it uploads the body. It gets `100 Continue` only
   * once every check that needs no body has passed, so a body that is too large, of the wrong type or not
   * authorised is refused before it is sent (Node would otherwise answer 100 at once).
   */
  private readonly onCheckContinue = (req: IncomingMessage, res: ServerResponse): void => {
    this.accept(req, res, true);
  };

  private accept(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    // A client that goes away mid-request makes these emit; the handler notices through 'close' instead.
    req.on('error', noop);
    res.on('error', noop);
    const held = this.held;
    if (held !== undefined) {
      // A reload is swapping the pipelines: wait for the new ones rather than refuse.
      void held.then((resumed) =>
        resumed
          ? this.accept(req, res, expectsContinue)
          : this.answerError(req, res, 503, 'refused', 'Pulse is reloading its configuration; retry shortly', parseContentType(req.headers['content-type']) ?? 'json', 1000),
      );
      return;
    }
    this.track(res);
    this.handle(req, res, expectsContinue).catch((err: unknown) => {
      this.logger.error({ err }, 'the OTLP/HTTP handler failed unexpectedly (PULSE_ERR_INTERNAL)');
      this.answerError(req, res, 503, 'refused', `internal error: ${errorMessage(err)}`, 'json', 1000);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const contentType = req.headers['content-type'];
    const wire = parseContentType(contentType);
    const answerWire: Wire = wire ?? 'json';
    const path = requestPath(req.url ?? '/');
    const method = req.method ?? '';

    if (this.cors !== undefined && req.headers.origin !== undefined && method !== 'OPTIONS') this.cors.decorate(req, res);
    if (path !== this.config.traces_url_path) {
      return this.answerError(req, res, 404, 'unsupported', `nothing is served at ${path}; send traces to POST ${this.config.traces_url_path}`, answerWire);
    }
    if (method === 'OPTIONS' && this.cors !== undefined) {
      const pre = this.cors.preflight(req, res);
      if (!pre.ok) return this.answerError(req, res, 403, 'forbidden', `CORS preflight refused: ${pre.reason}`, answerWire);
      res.statusCode = 204;
      if (this.closing) res.setHeader('Connection', 'close');
      res.end();
      this.metrics.requests.ok.inc();
      return;
    }
    if (method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return this.answerError(req, res, 405, 'unsupported', `method ${method} is not allowed on ${path}; send POST`, answerWire);
    }
    if (this.auth !== undefined && !this.auth.check(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return this.answerError(req, res, 401, 'unauthorized', 'missing or wrong bearer token; send "Authorization: Bearer <token>"', answerWire);
    }
    if (wire === undefined) {
      return this.answerError(
        req,
        res,
        415,
        'unsupported',
        `Content-Type ${contentType === undefined ? '(none)' : `"${contentType}"`} is not supported; send application/x-protobuf or application/json`,
        answerWire,
      );
    }
    const contentEncoding = req.headers['content-encoding'];
    const encoding = parseBodyEncoding(contentEncoding);
    if (encoding === undefined) {
      return this.answerError(req, res, 415, 'unsupported', `Content-Encoding "${contentEncoding}" is not supported; send gzip, deflate or identity`, wire);
    }
    const shed = this.ingest.shedding();
    if (shed !== undefined) return this.answerError(req, res, 429, 'refused', shed.message, wire, shed.retryAfterMs);
    const limit = this.config.max_request_body_size;
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
    if (declared !== undefined && declared > limit) {
      return this.answerError(req, res, 413, 'too_large', `the body is ${declared} bytes, over the ${limit}-byte limit (max_request_body_size); send smaller batches`, wire);
    }

    const lease = new Lease(this.ingest.budget);
    let pooled: ArrayBuffer | undefined;
    try {
      // Refused before it is read when it could not fit now; nothing is reserved until bytes arrive.
      if (declared !== undefined && !this.ingest.budget.fits(declared)) return this.answerBusy(req, res, wire);
      // A compressed body with a declared length is read into a pooled buffer, given back once inflated: it lives no
      // longer, and fresh buffers per request are what starts V8's young-generation GCs most often (core/buffer-pool.ts).
      // Only while the pool stays bounded (at most 16 buffers of at most 1 MiB out): this memory is taken before the
      // bytes arrive, so a flood of idle requests must not grow it.
      if (encoding !== 'identity' && declared !== undefined && declared >= ASYNC_FROM_BYTES) pooled = this.bodies.tryTake(declared);
      if (expectsContinue) res.writeContinue();
      let body: Buffer;
      try {
        body = await readBody(req, limit, declared, lease, pooled);
      } catch (err) {
        const reason = (err as BodyError).reason;
        if (reason === 'too_large') {
          return this.answerError(req, res, 413, 'too_large', `the body is over the ${limit}-byte limit (max_request_body_size); send smaller batches`, wire);
        }
        if (reason === 'busy') return this.answerBusy(req, res, wire);
        this.metrics.requests.aborted.inc();
        return;
      }

      let raw: Buffer;
      // A gzipped protobuf body is kept as sent, so that an exporter that gzips too can forward it if nothing
      // changes the batch (TraceBatch.received); a pooled one is copied (~2 µs for a 500-span request).
      let gzipped: Buffer | undefined;
      try {
        raw = await decompressBodyAsync(body, encoding, limit, lease);
        if (encoding === 'gzip' && wire === 'proto' && gzipEndsCleanly(body, raw)) gzipped = pooled !== undefined ? Buffer.from(body) : body;
      } catch (err) {
        if (err instanceof BudgetFullError) return this.answerBusy(req, res, wire);
        const tooLarge = (err as PermanentError).code === TOO_LARGE;
        return this.answerError(req, res, tooLarge ? 413 : 400, tooLarge ? 'too_large' : 'bad_request', errorMessage(err), wire);
      } finally {
        // zlib is done with the compressed bytes once it has answered, either way.
        if (pooled !== undefined) this.bodies.give(pooled);
        pooled = undefined;
      }

      let decoded: DecodeResult;
      try {
        decoded = wire === 'proto' ? decodeTraceRequest(raw) : decodeTraceRequestJson(raw);
      } catch (err) {
        return this.answerError(req, res, 400, 'bad_request', errorMessage(err), wire);
      }
      const received = decoded.batch.received;
      if (received !== undefined && gzipped !== undefined) decoded.batch.received = { protobuf: received.protobuf, gzip: gzipped };

      const verdict = await this.ingest.deliver(decoded, this.metrics);
      switch (verdict.kind) {
        case 'ok':
          return this.answerOk(res, wire, decoded);
        case 'retry':
          return this.answerError(req, res, verdict.resourceExhausted ? 429 : 503, 'refused', verdict.message, wire, verdict.retryAfterMs);
        case 'permanent':
          return this.answerError(req, res, 400, 'rejected', verdict.message, wire);
      }
    } finally {
      lease.release();
      // Not read to the end (refused, aborted): the body reader has let go of it.
      if (pooled !== undefined) this.bodies.give(pooled);
    }
  }

  private answerOk(res: ServerResponse, wire: Wire, decoded: DecodeResult): void {
    if (res.destroyed) {
      this.metrics.requests.aborted.inc();
      return;
    }
    const body =
      decoded.rejectedSpans === 0
        ? this.okBody[wire]
        : wire === 'proto'
          ? encodeTraceResponse(decoded.rejectedSpans, decoded.rejectReason)
          : encodeTraceResponseJson(decoded.rejectedSpans, decoded.rejectReason);
    this.metrics.requests.ok.inc();
    this.write(res, 200, wire, body);
  }

  private answerBusy(req: IncomingMessage, res: ServerResponse, wire: Wire): void {
    this.answerError(req, res, 503, 'refused', this.ingest.busy(), wire, 1000);
  }

  /** Answers a refusal with a google.rpc.Status body; `retryAfterMs` adds `Retry-After` (whole seconds, ≥ 1). */
  private answerError(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    outcome: Outcome,
    message: string,
    wire: Wire,
    retryAfterMs?: number,
  ): void {
    if (res.headersSent || res.destroyed) {
      this.metrics.requests.aborted.inc();
      return;
    }
    this.ingest.recordError(this.metrics, outcome, message, { socket: req.socket, userAgent: req.headers['user-agent'] });
    const code = grpcCodeForHttpStatus(status);
    const body = wire === 'proto' ? encodeStatus(code, message) : encodeStatusJson(code, message);
    if (retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    this.write(res, status, wire, body);
    if (!req.complete) this.discardRest(req, res);
  }

  private write(res: ServerResponse, status: number, wire: Wire, body: Uint8Array | string): void {
    res.statusCode = status;
    res.setHeader('Content-Type', CONTENT_TYPE[wire]);
    res.setHeader('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    if (this.closing) res.setHeader('Connection', 'close');
    res.end(body);
  }

  /**
   * The body of a refused request is still arriving: read and drop it (memory stays flat) so the sender gets to
   * read the answer, but cut the connection once that has cost DISCARD_MAX_BYTES or DISCARD_MAX_MS.
   */
  private discardRest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const cut = () => {
      if (res.writableFinished) socket.destroy();
      else res.once('finish', () => socket.destroy());
    };
    let discarded = 0;
    const timer = setTimeout(cut, DISCARD_MAX_MS);
    timer.unref();
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_MAX_BYTES) {
        req.off('data', onData);
        clearTimeout(timer);
        cut();
      }
    };
    const done = () => clearTimeout(timer);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  }
}
