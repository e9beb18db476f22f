/**
 * A next-hop OTLP endpoint for integration tests: it accepts what Pulse's `otlphttp` and `otlp` exporters forward
 * (HTTP protobuf/JSON, gzip, and gRPC over HTTP/2 cleartext), decodes it with Pulse's own codec, and records every
 * batch. It answers 200 / grpc-status 0 with an empty ExportTraceServiceResponse.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TraceBatch } from '../../src/core/model.js';
import { decodeTraceRequest, decodeTraceRequestJson, encodeGrpcFrame, parseGrpcFrames } from '../../src/otlp/index.js';

export interface OtlpSink {
  readonly port: number;
  readonly batches: TraceBatch[];
  spanCount(): number;
  close(): Promise<void>;
}

async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function totalSpans(batches: TraceBatch[]): number {
  return batches.reduce((n, b) => n + b.spanCount, 0);
}

export async function startHttpSink(): Promise<OtlpSink> {
  const batches: TraceBatch[] = [];
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      let body = await readBody(req);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const json = (req.headers['content-type'] ?? '').startsWith('application/json');
      const result = json ? decodeTraceRequestJson(body) : decodeTraceRequest(body);
      batches.push(result.batch);
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : Buffer.alloc(0));
    })().catch((err: unknown) => {
      res.writeHead(400);
      res.end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    batches,
    spanCount: () => totalSpans(batches),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function startGrpcSink(): Promise<OtlpSink> {
  const batches: TraceBatch[] = [];
  const server: Http2Server = createHttp2Server();
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    void (async () => {
      const body = await readBody(stream);
      const frames = parseGrpcFrames(body, 64 * 1024 * 1024);
      for (const f of frames) {
        const msg = f.compressed ? gunzipSync(f.message) : f.message;
        batches.push(decodeTraceRequest(msg).batch);
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(encodeGrpcFrame(new Uint8Array(0), false));
    })().catch((err: unknown) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': encodeURIComponent(String(err)) }, { endStream: true });
    });
    void headers;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    batches,
    spanCount: () => totalSpans(batches),
    close: () =>
      new Promise((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}
