/**
 * The `otlphttp` send function: one POST of an ExportTraceServiceRequest per batch over a keep-alive agent, with
 * the response classified per the OTLP/HTTP spec:
 *
 * | answer                                | result                                                          |
 * |---------------------------------------|-----------------------------------------------------------------|
 * | 2xx                                   | sent; `partial_success.rejected_spans` counted as rejected      |
 * | 429, 502, 503, 504                    | RetryableError, honouring `Retry-After` (seconds or HTTP-date)  |
 * | other 5xx                             | PermanentError (OTLP: MUST NOT be retried)                      |
 * | 3xx, other 4xx                        | PermanentError with the server's Status message (dropped)       |
 * | connection refused/reset, DNS, TLS    | RetryableError (a failed TLS handshake: PULSE_ERR_EXPORT_TLS)   |
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { CreateSettings } from '../../core/component.js';
import { PermanentError, RetryableError, errorMessage } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import {
  decodeStatus,
  decodeStatusJson,
  decodeTraceResponse,
  decodeTraceResponseJson,
  encodeTraceRequest,
  encodeTraceRequestJson,
} from '../../otlp/index.js';
import { encodeAndGzip, gzipBody, receivedBody, ScratchBuffers } from '../exporterhelper/compression.js';
import type { QueuedExporter } from '../exporterhelper/queued-exporter.js';
import type { SendResult } from '../exporterhelper/sender.js';
import { isTlsFailure, loadClientTls, tlsHint } from '../exporterhelper/tls.js';
import { createQueuedTracesExporter, tracePartialSuccess, type TraceClient } from '../exporterhelper/traces.js';
import { tracesUrl, type OtlpHttpConfig } from './config.js';
import { parseRetryAfter } from './retry-after.js';

/** Responses are small (empty, a partial_success or a Status); more than this is read and discarded. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * Idle keep-alive sockets are closed after this long. Node servers close idle connections after 5 s by default;
 * closing ours first avoids reusing a socket at the moment the server closes it (an ECONNRESET and a retry).
 */
const IDLE_SOCKET_MS = 4000;
const USER_AGENT = 'Pulse-OTLP-HTTP-Exporter/0.1';

interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function createOtlpHttpTracesExporter(settings: CreateSettings, config: OtlpHttpConfig): QueuedExporter<TraceBatch> {
  return createQueuedTracesExporter(settings, config, new OtlpHttpClient(config));
}

export class OtlpHttpClient implements TraceClient {
  private readonly url: URL;
  private readonly secure: boolean;
  private agent: http.Agent | undefined;
  private readonly baseHeaders: http.OutgoingHttpHeaders;
  /**
   * Encoded (and compressed) bodies by batch, so that retries of a batch do not encode and compress it again. A
   * WeakMap entry lives exactly as long as the batch the queue holds.
   */
  private readonly bodies = new WeakMap<TraceBatch, Buffer>();
  /** Reused buffers for protobuf bodies that are gzipped (see `ScratchBuffers`). */
  private readonly scratch = new ScratchBuffers();

  constructor(private readonly cfg: OtlpHttpConfig) {
    this.url = tracesUrl(cfg);
    this.secure = this.url.protocol === 'https:';
    const headers: http.OutgoingHttpHeaders = { 'user-agent': USER_AGENT };
    for (const [k, v] of Object.entries(cfg.headers)) headers[k.toLowerCase()] = v;
    headers['content-type'] = cfg.encoding === 'json' ? 'application/json' : 'application/x-protobuf';
    if (cfg.compression === 'gzip') headers['content-encoding'] = 'gzip';
    this.baseHeaders = headers;
  }

  async start(): Promise<void> {
    const sockets = this.cfg.sending_queue.num_consumers;
    const common = { keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, timeout: IDLE_SOCKET_MS };
    this.agent = this.secure ? new https.Agent({ ...common, ...(await loadClientTls(this.cfg.tls)) }) : new http.Agent(common);
  }

  async close(): Promise<void> {
    this.agent?.destroy();
  }

  async send(batch: TraceBatch, signal: AbortSignal): Promise<SendResult> {
    let body = this.bodies.get(batch);
    if (body === undefined) {
      body = await this.encode(batch);
      this.bodies.set(batch, body);
    }
    const answer = await this.postOnce(body, signal);
    return this.classify(answer);
  }

  private async encode(batch: TraceBatch): Promise<Buffer> {
    const gzip = this.cfg.compression === 'gzip';
    const level = this.cfg.compression_params.level;
    // The async gzip runs on libuv's thread pool, keeping the event loop (and the receivers on it) free. Protobuf
    // that is only read by gzip is encoded into a reused buffer.
    if (this.cfg.encoding === 'json') {
      const raw = Buffer.from(encodeTraceRequestJson(batch));
      return gzip ? gzipBody(raw, level) : raw;
    }
    // A request nothing changed goes out as it came: as the sender gzipped it, or gzipped here without encoding.
    if (batch.received !== undefined) return toBuffer(await receivedBody(batch.received, gzip, level));
    if (gzip) return encodeAndGzip((allocate) => encodeTraceRequest(batch, allocate), this.scratch, level);
    return toBuffer(encodeTraceRequest(batch));
  }

  /** POSTs once; a reused keep-alive socket that the server had just closed is retried at once on a fresh one. */
  private async postOnce(body: Buffer, signal: AbortSignal): Promise<HttpAnswer> {
    try {
      return await this.post(body, signal);
    } catch (err) {
      if ((err as { reusedSocket?: boolean }).reusedSocket !== true || signal.aborted) throw this.connectionError(err, signal);
    }
    try {
      return await this.post(body, signal);
    } catch (err) {
      throw this.connectionError(err, signal);
    }
  }

  private post(body: Buffer, signal: AbortSignal): Promise<HttpAnswer> {
    const agent = this.agent;
    if (!agent) return Promise.reject(new RetryableError('PULSE_ERR_NOT_STARTED', 'the otlphttp exporter has not started'));
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = (this.secure ? https : http).request(
        this.url,
        { method: 'POST', agent, signal, headers: { ...this.baseHeaders, 'content-length': body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (chunk: Buffer) => {
            length += chunk.length;
            if (length <= MAX_RESPONSE_BYTES) chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(new Error('connection closed before the response was complete'));
          });
        },
      );
      req.on('error', (err: Error) => {
        // The agent's own idle-socket race: flag it so postOnce() retries without counting an attempt.
        if (req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') Object.assign(err, { reusedSocket: true });
        reject(err);
      });
      req.end(body);
    });
  }

  private connectionError(err: unknown, signal: AbortSignal): unknown {
    if (signal.aborted) return err; // the helper reports it as a timeout (or shutdown)
    const code = (err as NodeJS.ErrnoException).code;
    if (isTlsFailure(err)) {
      return new RetryableError(
        'PULSE_ERR_EXPORT_TLS',
        `the TLS handshake with ${this.url.href} failed: ${code ? `${code} ` : ''}${errorMessage(err)}; ${tlsHint('destination', { serverNameOverride: true })}; retrying`,
        { cause: err },
      );
    }
    return new RetryableError(
      'PULSE_ERR_EXPORT_CONNECT',
      `cannot reach ${this.url.href}: ${code ? `${code} ` : ''}${errorMessage(err)}; check that the destination is up and the endpoint is right`,
      { cause: err },
    );
  }

  private classify(a: HttpAnswer): SendResult {
    const { status } = a;
    if (status >= 200 && status < 300) return this.partialSuccess(a);
    const where = this.url.href;
    if (status === 429 || status === 502 || status === 503 || status === 504) {
      const retryAfterMs = parseRetryAfter(headerValue(a.headers['retry-after']));
      throw new RetryableError(
        status === 429 ? 'PULSE_ERR_EXPORT_THROTTLED' : 'PULSE_ERR_EXPORT_UNAVAILABLE',
        `${where} answered HTTP ${status}${this.serverMessage(a)}; retrying${retryAfterMs !== undefined ? ` after ${retryAfterMs} ms (Retry-After)` : ''}`,
        retryAfterMs !== undefined ? { retryAfterMs } : undefined,
      );
    }
    if (status >= 500) {
      // OTLP/HTTP: only 429, 502, 503 and 504 are retryable; "all other 4xx or 5xx … MUST NOT be retried" (a batch
      // that crashes the backend would otherwise block this consumer for max_elapsed_time).
      throw new PermanentError(
        'PULSE_ERR_EXPORT_REJECTED',
        `${where} failed the batch with HTTP ${status}${this.serverMessage(a)}; OTLP does not retry it, so the batch is dropped — check the backend's logs`,
      );
    }
    if (status >= 300 && status < 400) {
      throw new PermanentError(
        'PULSE_ERR_EXPORT_REJECTED',
        `${where} answered HTTP ${status} (redirect to ${headerValue(a.headers.location) ?? '?'}); redirects are not followed: set the final URL as the endpoint`,
      );
    }
    throw new PermanentError(
      'PULSE_ERR_EXPORT_REJECTED',
      `${where} rejected the batch with HTTP ${status}${this.serverMessage(a)}; the batch is dropped — check the endpoint, headers (auth) and encoding`,
    );
  }

  private partialSuccess(a: HttpAnswer): SendResult {
    if (a.body.length === 0) return {};
    try {
      return tracePartialSuccess(isJson(a.headers) ? decodeTraceResponseJson(a.body.toString('utf8')) : decodeTraceResponse(a.body));
    } catch {
      return {}; // an unreadable success body does not undo the success
    }
  }

  /** `: <message>` from the error body (a google.rpc.Status, in protobuf or JSON), or '' when there is none. */
  private serverMessage(a: HttpAnswer): string {
    if (a.body.length === 0) return '';
    let message: string;
    try {
      if (isJson(a.headers)) {
        message = decodeStatusJson(a.body.toString('utf8')).message;
      } else if (isProtobuf(a.headers)) {
        message = decodeStatus(a.body).message;
      } else {
        message = a.body.toString('utf8');
      }
    } catch {
      message = a.body.toString('utf8');
    }
    message = message.trim().slice(0, 512);
    return message ? `: ${message}` : '';
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isJson(h: http.IncomingHttpHeaders): boolean {
  return (h['content-type'] ?? '').startsWith('application/json');
}

function isProtobuf(h: http.IncomingHttpHeaders): boolean {
  const t = h['content-type'] ?? '';
  return t.startsWith('application/x-protobuf') || t.startsWith('application/protobuf');
}

/** A Buffer view of encoder output without copying. */
function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
