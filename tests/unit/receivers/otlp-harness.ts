/**
 * Test harness for the otlp receiver: a real listening receiver (127.0.0.1, port 0) with a fake `next` that records
 * batches or throws chosen errors, plain HTTP/1.1 and HTTP/2 clients, and a tiny protobuf field reader for the
 * google.rpc.Status / ExportTraceServiceResponse / RetryInfo messages the receiver answers with.
 */
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { pino } from 'pino';
import type { Consumer } from '../../../src/core/consumer.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { OverloadRefusals } from '../../../src/core/overload.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { otlpReceiverFactory } from '../../../src/receivers/otlp/factory.js';
import type { OtlpReceiver } from '../../../src/receivers/otlp/receiver.js';
import type { HostPort } from '../../../src/config/types.js';

export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Records what the receiver hands on; `fail` makes the next calls throw, `gate` makes them wait. */
export class FakeNext implements Consumer<TraceBatch> {
  readonly mutatesData = false;
  readonly batches: TraceBatch[] = [];
  fail: (() => Error) | undefined;
  gate: Promise<void> | undefined;
  calls = 0;

  async consume(batch: TraceBatch): Promise<void> {
    this.calls++;
    if (this.gate !== undefined) await this.gate;
    if (this.fail !== undefined) throw this.fail();
    this.batches.push(batch);
  }

  spans(): number {
    return this.batches.reduce((n, b) => n + b.spanCount, 0);
  }
}

export interface Harness {
  receiver: OtlpReceiver;
  next: FakeNext;
  metrics: MetricsRegistry;
  /** What the receiver counted as refused for overload (read by the journeys connector in a real graph). */
  overload: OverloadRefusals;
  http: HostPort;
  grpc: HostPort;
  fatal: Error[];
  /** The receiver's log lines (info and above), parsed. */
  logs: Array<Record<string, unknown>>;
}

/** Starts a receiver from a raw (YAML-shaped) config; both protocols on 127.0.0.1:0 unless the config says else. */
export async function startReceiver(raw: Record<string, unknown> = {}): Promise<Harness> {
  const config = otlpReceiverFactory.configSchema.parse({
    protocols: { grpc: { endpoint: '127.0.0.1:0' }, http: { endpoint: '127.0.0.1:0' } },
    ...raw,
  });
  const next = new FakeNext();
  const metrics = new MetricsRegistry();
  const overload = new OverloadRefusals();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const receiver = otlpReceiverFactory.create.traces!(
    { id: 'otlp', kind: 'receiver', logger, metrics, dataDir: '/nonexistent', overload },
    config,
    next,
  ) as OtlpReceiver;
  const fatal: Error[] = [];
  await receiver.start({ reportFatalError: (err) => fatal.push(err) });
  return {
    receiver,
    next,
    metrics,
    overload,
    http: receiver.httpAddress() ?? { host: '', port: 0 },
    grpc: receiver.grpcAddress() ?? { host: '', port: 0 },
    fatal,
    logs,
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface PostOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: Uint8Array | string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

/** One HTTP/1.1 request without keep-alive; resolves with the whole response. */
export function post(addr: HostPort, options: PostOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const body = options.body ?? new Uint8Array(0);
    const headers: OutgoingHttpHeaders = { 'content-length': Buffer.byteLength(body) };
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (v === undefined) delete headers[k];
      else headers[k] = v;
    }
    const common = {
      host: addr.host,
      port: addr.port,
      method: options.method ?? 'POST',
      path: options.path ?? '/v1/traces',
      headers,
      agent: false as const,
    };
    const req = options.tls !== undefined ? httpsRequest({ ...common, ...options.tls, servername: 'localhost' }) : httpRequest(common);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Streams `totalBytes` of `fill` bytes as the body, respecting backpressure, and resolves as soon as a response
 * arrives, with how many bytes had been written by then. Write errors after the response (the server cut the
 * connection) are expected and ignored.
 */
export function postStream(
  addr: HostPort,
  totalBytes: number,
  headers: OutgoingHttpHeaders,
): Promise<{ status: number; body: Buffer; writtenAtResponse: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: addr.host, port: addr.port, method: 'POST', path: '/v1/traces', headers, agent: false });
    const chunk = Buffer.alloc(64 * 1024, 0x0a);
    let written = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const at = written;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), writtenAtResponse: at }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), writtenAtResponse: at }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const pump = () => {
      while (!answered && written < totalBytes) {
        written += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

// ---- gRPC over node:http2 -----------------------------------------------------------------------------------

export interface GrpcResult {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  data: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only response. */
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
}

export function grpcFrame(message: Uint8Array, compressed = false): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export function connectH2(addr: HostPort, tls?: { ca: Buffer }): ClientHttp2Session {
  const session =
    tls !== undefined
      ? connect(`https://localhost:${addr.port}`, { ca: tls.ca, host: '127.0.0.1', servername: 'localhost' })
      : connect(`http://${addr.host}:${addr.port}`);
  session.on('error', () => {});
  return session;
}

/** One unary call on `session`; `body` is sent as is (already framed). */
export function grpcCall(
  session: ClientHttp2Session,
  body: Uint8Array,
  headers: Record<string, string> = {},
  path = EXPORT_PATH,
): Promise<GrpcResult> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let resHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (resHeaders = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? resHeaders['grpc-status'];
      const message = trailers['grpc-message'] ?? resHeaders['grpc-message'];
      resolve({
        headers: resHeaders,
        trailers,
        data: Buffer.concat(chunks),
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: typeof message === 'string' ? decodeURIComponent(message) : undefined,
      });
    });
    stream.end(body);
  });
}

// ---- a minimal protobuf reader for response messages ---------------------------------------------------------

export interface PbField {
  no: number;
  wire: number;
  int: bigint;
  bytes: Buffer;
}

/** Splits a protobuf message into its top-level fields (varint and length-delimited are all responses use). */
export function pbFields(buf: Uint8Array): PbField[] {
  const b = Buffer.from(buf);
  const out: PbField[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const byte = b[i++];
      if (byte === undefined) throw new Error('truncated varint');
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < b.length) {
    const tag = Number(varint());
    const wire = tag & 7;
    const no = tag >>> 3;
    if (wire === 0) out.push({ no, wire, int: varint(), bytes: Buffer.alloc(0) });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, int: 0n, bytes: b.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

/** google.rpc.Status { code = 1; message = 2; details = 3 (Any) } with RetryInfo's delay, when present. */
export function decodeStatus(buf: Uint8Array): { code: number; message: string; retryDelayMs: number | undefined } {
  let code = 0;
  let message = '';
  let retryDelayMs: number | undefined;
  for (const f of pbFields(buf)) {
    if (f.no === 1) code = Number(f.int);
    else if (f.no === 2) message = f.bytes.toString('utf8');
    else if (f.no === 3) {
      const any = pbFields(f.bytes);
      const typeUrl = any.find((a) => a.no === 1)?.bytes.toString('utf8') ?? '';
      const value = any.find((a) => a.no === 2)?.bytes;
      if (typeUrl.endsWith('google.rpc.RetryInfo') && value !== undefined) {
        const delay = pbFields(value).find((x) => x.no === 1)?.bytes ?? Buffer.alloc(0);
        let ms = 0;
        for (const d of pbFields(delay)) {
          if (d.no === 1) ms += Number(d.int) * 1000;
          if (d.no === 2) ms += Number(d.int) / 1e6;
        }
        retryDelayMs = ms;
      }
    }
  }
  return { code, message, retryDelayMs };
}

/** ExportTraceServiceResponse { partial_success = 1 { rejected_spans = 1; error_message = 2 } }. */
export function decodeExportResponse(buf: Uint8Array): { rejectedSpans: number; errorMessage: string } {
  let rejectedSpans = 0;
  let errorMessage = '';
  const ps = pbFields(buf).find((f) => f.no === 1);
  if (ps !== undefined) {
    for (const f of pbFields(ps.bytes)) {
      if (f.no === 1) rejectedSpans = Number(f.int);
      if (f.no === 2) errorMessage = f.bytes.toString('utf8');
    }
  }
  return { rejectedSpans, errorMessage };
}
