/**
 * In-process OTLP destinations for exporter and integration tests: an HTTP server (OTLP/HTTP, protobuf or JSON, gzip or not) and an
 * HTTP/2 server (OTLP/gRPC, h2c or TLS). Both decode what they receive with Pulse's own codec, record it, and answer
 * from a script (`replies`, consumed one per request; 200 / grpc-status 0 when empty). A reply can also be 'hang':
 * never answer, until the server closes.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createSecureServer as createHttp2SecureServer,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2SecureServer,
  type Http2Session,
  type IncomingHttpHeaders as Http2Headers,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { TraceBatch } from '../../src/core/model.js';
import { decodeTraceRequest, decodeTraceRequestJson, encodeGrpcFrame, parseGrpcFrames } from '../../src/otlp/index.js';
import { withoutRaw } from './traces.js';

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface Received<H> {
  batch: TraceBatch;
  headers: H;
  at: number;
  /** The status the server answered (HTTP status, or grpc-status). */
  answered: number | 'hang';
  /** The request body as it came (HTTP) or the message of its gRPC frame, compressed if it was. */
  sent: Buffer;
}

export type HttpReply = { status: number; headers?: Record<string, string>; body?: Buffer | string } | 'hang';

export interface FakeHttpOtlp {
  readonly port: number;
  readonly url: string;
  readonly requests: Array<Received<IncomingHttpHeaders> & { path: string; json: boolean; gzip: boolean }>;
  replies: HttpReply[];
  /** Batches answered with 2xx, in arrival order. */
  delivered(): TraceBatch[];
  close(): Promise<void>;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export async function startFakeHttpOtlp(port = 0, tls?: TlsFiles): Promise<FakeHttpOtlp> {
  const requests: FakeHttpOtlp['requests'] = [];
  const state = { replies: [] as HttpReply[] };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const sent = await readBody(req);
      const gzip = req.headers['content-encoding'] === 'gzip';
      const body = gzip ? gunzipSync(sent) : sent;
      const json = (req.headers['content-type'] ?? '').startsWith('application/json');
      const batch = withoutRaw((json ? decodeTraceRequestJson(body) : decodeTraceRequest(body)).batch);
      const reply = state.replies.shift() ?? { status: 200 };
      requests.push({ batch, headers: req.headers, at: Date.now(), answered: reply === 'hang' ? 'hang' : reply.status, sent, path: req.url ?? '', json, gzip });
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': json ? 'application/json' : 'application/x-protobuf', ...reply.headers });
      res.end(reply.body ?? (json ? '{}' : Buffer.alloc(0)));
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${actual}`,
    requests,
    get replies() {
      return state.replies;
    },
    set replies(r) {
      state.replies = r;
    },
    delivered: () => requests.filter((r) => typeof r.answered === 'number' && r.answered < 300).map((r) => r.batch),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type GrpcReply =
  | { grpcStatus: number; message?: string; details?: Buffer; response?: Buffer }
  | { httpStatus: number }
  | 'hang';

export interface FakeGrpcOtlp {
  readonly port: number;
  readonly requests: Array<Received<Http2Headers> & { compressed: boolean }>;
  replies: GrpcReply[];
  /** Batches answered with grpc-status 0, in arrival order. */
  delivered(): TraceBatch[];
  /** Sessions ever opened (one per client connection). */
  sessions(): number;
  close(): Promise<void>;
}

/** `address`: a loopback address other than 127.0.0.1 lets several backends share one port (a DNS name's). */
export async function startFakeGrpcOtlp(port = 0, tls?: TlsFiles, address = '127.0.0.1'): Promise<FakeGrpcOtlp> {
  const requests: FakeGrpcOtlp['requests'] = [];
  const state = { replies: [] as GrpcReply[] };
  const sessions = new Set<Http2Session>();
  let sessionCount = 0;
  const server: Http2Server | Http2SecureServer = tls ? createHttp2SecureServer({ cert: tls.cert, key: tls.key }) : createHttp2Server();
  server.on('session', (s: Http2Session) => {
    sessionCount++;
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: Http2Headers) => {
    stream.on('error', () => undefined);
    void (async () => {
      const body = await readBody(stream);
      const frame = parseGrpcFrames(body, 64 * 1024 * 1024)[0]!;
      const message = frame.compressed ? gunzipSync(frame.message) : frame.message;
      const batch = withoutRaw(decodeTraceRequest(message).batch);
      const reply = state.replies.shift() ?? { grpcStatus: 0 };
      const answered = reply === 'hang' ? 'hang' : 'httpStatus' in reply ? reply.httpStatus : reply.grpcStatus;
      requests.push({ batch, headers, at: Date.now(), answered, sent: frame.message, compressed: frame.compressed });
      if (reply === 'hang') return;
      if ('httpStatus' in reply) {
        stream.respond({ ':status': reply.httpStatus }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        const trailers: Record<string, string> = { 'grpc-status': String(reply.grpcStatus) };
        if (reply.message !== undefined) trailers['grpc-message'] = encodeURIComponent(reply.message);
        if (reply.details !== undefined) trailers['grpc-status-details-bin'] = reply.details.toString('base64').replace(/=+$/, '');
        stream.sendTrailers(trailers);
      });
      stream.end(reply.grpcStatus === 0 ? encodeGrpcFrame(reply.response ?? new Uint8Array(0), false) : undefined);
    })().catch(() => stream.close());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get replies() {
      return state.replies;
    },
    set replies(r) {
      state.replies = r;
    },
    delivered: () => requests.filter((r) => r.answered === 0).map((r) => r.batch),
    sessions: () => sessionCount,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Encoder output as a Buffer, for server replies. */
export function bytes(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
