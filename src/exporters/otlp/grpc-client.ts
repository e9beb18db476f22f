/**
 * A minimal gRPC unary client on node:http2: enough for OTLP's one Export call, without @grpc/grpc-js (whose
 * generic machinery costs more per call than the call itself, see /work/shared/PERFORMANCE.md).
 *
 * One HTTP/2 session carries every call (HTTP/2 multiplexes; the consumers bound how many run at once). The session
 * is replaced when it closes, errors or receives GOAWAY: the next call connects again, so a restarted destination
 * is picked up by the next retry without any reconnect loop of our own.
 *
 * It is also replaced when a call on it is cancelled before its answer came (the per-attempt timeout): a peer that
 * vanished without FIN or RST (a network partition, a host that froze, a proxy that stopped forwarding) leaves the
 * session looking open for as long as the kernel keeps retransmitting, and every retry would go onto it until
 * `max_elapsed_time`. The timed-out session is closed gracefully (GOAWAY): calls still running on it keep their own
 * timeouts, so a destination that is only slow loses no call to this, it only costs a new connection.
 */
import * as http2 from 'node:http2';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import type { LoadedTls } from '../exporterhelper/tls.js';

export interface UnaryAnswer {
  /** HTTP status of the response headers. */
  httpStatus: number;
  /** `grpc-status` from the trailers (or a trailers-only response); `undefined` when the server sent none. */
  grpcStatus: number | undefined;
  /** `grpc-message`, percent-decoded. */
  grpcMessage: string;
  /** `grpc-status-details-bin`, base64-decoded (a google.rpc.Status). */
  details: Buffer | undefined;
  /** `grpc-encoding` of the response messages. */
  encoding: string | undefined;
  /** The response body: length-prefixed messages. */
  body: Buffer;
}

/** A call that ended without a gRPC answer (connection refused/reset, stream reset). */
export class TransportError extends Error {}

/** Idle sessions are closed after this long, so an exporter that sends rarely holds no connection. */
const IDLE_SESSION_MS = 60_000;

export class GrpcClient {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    private readonly origin: string,
    private readonly tls: LoadedTls | undefined,
    private readonly logger: Logger,
  ) {}

  unary(headers: http2.OutgoingHttpHeaders, body: Buffer, signal: AbortSignal, maxResponseBytes: number): Promise<UnaryAnswer> {
    // Cancelled before it started (encoding took the whole timeout): nothing was asked of the session, so it stays.
    if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('the call was cancelled'));
    let session: http2.ClientHttp2Session;
    try {
      session = this.getSession();
    } catch (err) {
      return Promise.reject(new TransportError(`cannot connect to ${this.origin}: ${errorMessage(err)}`, { cause: err }));
    }
    return new Promise<UnaryAnswer>((resolve, reject) => {
      let settled = false;
      let resHeaders: http2.IncomingHttpHeaders | undefined;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      let length = 0;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { signal, endStream: false });
      } catch (err) {
        fail(new TransportError(`cannot start a call on ${this.origin}: ${errorMessage(err)}`, { cause: err }));
        return;
      }
      stream.on('response', (h) => (resHeaders = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxResponseBytes) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          fail(new TransportError(`the response from ${this.origin} exceeds ${maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (err: Error) => {
        if (signal.aborted && !settled) this.retire(session);
        fail(signal.aborted ? err : new TransportError(`call to ${this.origin} failed: ${describe(err)}`, { cause: err }));
      });
      stream.on('close', () => {
        if (settled) return;
        if (resHeaders === undefined) {
          fail(new TransportError(`${this.origin} reset the call (HTTP/2 code ${stream.rstCode}) before answering`));
          return;
        }
        // A trailers-only answer carries grpc-status in the headers.
        const meta = trailers ?? resHeaders;
        settled = true;
        resolve({
          httpStatus: Number(resHeaders[':status'] ?? 0),
          grpcStatus: parseStatus(meta['grpc-status'] ?? resHeaders['grpc-status']),
          grpcMessage: percentDecode(first(meta['grpc-message'] ?? resHeaders['grpc-message']) ?? ''),
          details: decodeBin(first(meta['grpc-status-details-bin'] ?? resHeaders['grpc-status-details-bin'])),
          encoding: first(resHeaders['grpc-encoding']),
          body: Buffer.concat(chunks),
        });
      });
      stream.end(body);
    });
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000);
      t.unref();
      s.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /**
   * A call on `s` got no answer in time: the next call connects again, and `s` is closed once the calls still on it
   * end (each by its own timeout at the latest). Only while `s` is the current session: a call that started on an
   * older one must not close the newer session that replaced it.
   */
  private retire(s: http2.ClientHttp2Session): void {
    if (this.session !== s) return;
    this.session = undefined;
    this.logger.debug({ origin: this.origin }, 'gRPC call got no answer in time; the next call opens a new connection');
    if (!s.closed && !s.destroyed) s.close();
  }

  private getSession(): http2.ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const s = http2.connect(this.origin, { ...(this.tls ?? {}), settings: { enablePush: false } });
    const forget = (): void => {
      if (this.session === s) this.session = undefined;
    };
    s.on('error', (err) => {
      forget();
      // Calls on the session fail too and are logged (rate-limited) by the helper; this is only for debugging.
      this.logger.debug({ err: errorMessage(err), origin: this.origin }, 'gRPC session error');
    });
    s.on('goaway', (code) => {
      forget();
      this.logger.debug({ code, origin: this.origin }, 'gRPC session received GOAWAY; the next call reconnects');
    });
    s.on('close', forget);
    s.setTimeout(IDLE_SESSION_MS, () => {
      forget();
      s.close();
    });
    // An idle connection must not keep the process alive; calls in flight are bounded by their own timeouts.
    s.unref();
    this.session = s;
    return s;
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function parseStatus(v: string | string[] | undefined): number | undefined {
  const s = first(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** grpc-message is percent-encoded UTF-8; a malformed escape leaves the text as sent. */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `-bin` metadata is base64, padded or not; Buffer.from accepts both. */
function decodeBin(v: string | undefined): Buffer | undefined {
  return v === undefined || v === '' ? undefined : Buffer.from(v, 'base64');
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const cause = (err as { cause?: unknown }).cause;
  return `${code ? `${code} ` : ''}${err.message}${cause !== undefined ? ` (${errorMessage(cause)})` : ''}`;
}
