/**
 * A running `bin/pulse start` under bad input, config reloads and shutdown: each bad request gets its documented
 * status, and the next good request is still accepted and forwarded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync, createGzip } from 'node:zlib';
import { request } from 'node:http';
import { encodeTraceRequest } from '../../src/otlp/index.js';
import { makeRealisticBatch } from '../support/traces.js';
import { freePort, waitFor } from '../support/net.js';
import { startHttpSink, type OtlpSink } from '../support/otlp-sink.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';

let pulse: PulseProcess;
let sink: OtlpSink;
let httpPort: number;
const good = encodeTraceRequest(makeRealisticBatch({ services: 2, spansPerService: 10, seed: 7 }));

beforeAll(async () => {
  sink = await startHttpSink();
  httpPort = await freePort();
  const grpcPort = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${grpcPort} }
      http: { endpoint: 127.0.0.1:${httpPort} }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${sink.port}
    retry_on_failure: { initial_interval: 50ms }
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlphttp]
`);
}, 60_000);

afterAll(async () => {
  await pulse?.stop();
  await sink?.close();
});

async function post(body: Uint8Array | string, headers: Record<string, string>, method = 'POST'): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method, headers, body: method === 'GET' ? null : body });
  return { status: res.status, body: await res.text() };
}

async function sendGoodAndExpectForwarded(): Promise<void> {
  const before = sink.spanCount();
  const res = await post(good, { 'content-type': 'application/x-protobuf' });
  expect(res.status).toBe(200);
  await waitFor(() => sink.spanCount() >= before + 20, 10_000, 'good request forwarded');
}

/** Streams `totalBytes` to the receiver without building it in memory, and returns the status. */
function streamBody(totalBytes: number, headers: Record<string, string>, gzip = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path: '/v1/traces', method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) => (err.message.includes('EPIPE') || err.message.includes('ECONNRESET') ? undefined : reject(err)));
    const chunk = Buffer.alloc(1 << 20);
    let left = totalBytes;
    const sinkStream = gzip ? createGzip({ level: 9 }) : null;
    if (sinkStream) sinkStream.pipe(req);
    const out = sinkStream ?? req;
    const pump = (): void => {
      while (left > 0) {
        left -= chunk.length;
        if (!out.write(chunk)) return void out.once('drain', pump);
      }
      out.end();
    };
    pump();
  });
}

/** A gzip body of ~40 KB (over the receiver's 4 KiB thread-pool threshold) with its last 100 bytes cut off. */
function truncatedLargeGzip(): Buffer {
  const raw = Buffer.alloc(80_000);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) % 251 ^ (i >> 7);
  const gz = gzipSync(raw, { level: 1 });
  if (gz.length < 8_192) throw new Error(`test body compressed to ${gz.length} bytes; it must stay over 4 KiB`);
  return gz.subarray(0, gz.length - 100);
}

describe('bad input gets its status and the process keeps serving', () => {
  const cases: Array<[string, () => Promise<{ status: number; body: string }>, number, RegExp]> = [
    ['truncated protobuf', () => post(good.subarray(0, good.length - 7), { 'content-type': 'application/x-protobuf' }), 400, /truncat|byte/i],
    ['garbage JSON', () => post('{"resourceSpans": [ nope', { 'content-type': 'application/json' }), 400, /JSON/i],
    ['wrong content type', () => post('hello', { 'content-type': 'text/plain' }), 415, /content.type|text\/plain/i],
    ['GET', () => post('', {}, 'GET'), 405, /.*/],
    ['gzip header on a plain body', () => post(good, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }), 400, /gzip|decompress|header/i],
    // Large enough to be inflated on the thread pool (one job, core/zlib-once.ts): a cut-off stream is still refused.
    ['a truncated large gzip body', () => post(truncatedLargeGzip(), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }), 400, /unexpected end of file/i],
  ];
  for (const [label, send, status, message] of cases) {
    it(`${label} → ${status}, then a good request still goes through`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      expect(res.body).toMatch(message);
      await sendGoodAndExpectForwarded();
    });
  }

  it('a 50 MB body → 413, then a good request still goes through', async () => {
    expect(await streamBody(50 * 1024 * 1024, { 'content-type': 'application/x-protobuf' })).toBe(413);
    await sendGoodAndExpectForwarded();
  });

  it('a gzip bomb (64 MiB of zeros in ~65 KB) → 413, then a good request still goes through', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MiB inflated, ~65 KB on the wire
    const res = await post(bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    await sendGoodAndExpectForwarded();
  });
});

describe('config reload on SIGHUP', () => {
  it('a broken edit is reported with its position and the running pipeline keeps serving', async () => {
    const original = readFileSync(pulse.configPath, 'utf8');
    writeFileSync(pulse.configPath, original.replace('exporters: [otlphttp]', 'exporters: [otlphttp/missing]'));
    pulse.child.kill('SIGHUP');
    await waitFor(() => /pulse\.yaml:\d+:\d+: .*otlphttp\/missing/.test(pulse.output()), 10_000, 'reload error with position');
    await sendGoodAndExpectForwarded();
    writeFileSync(pulse.configPath, original);
  });

  it('a good edit is applied and traffic flows again afterwards', async () => {
    const original = readFileSync(pulse.configPath, 'utf8');
    writeFileSync(pulse.configPath, original.replace('initial_interval: 50ms', 'initial_interval: 60ms'));
    pulse.child.kill('SIGHUP');
    await waitFor(() => /reload/i.test(pulse.output()) && /(applied|reloaded)/i.test(pulse.output()), 10_000, 'reload applied');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${pulse.healthPort}/readyz`)).status === 200, 10_000, 'ready after reload');
    await sendGoodAndExpectForwarded();
  });
});

describe('shutdown', () => {
  it('SIGTERM drains and exits 0', async () => {
    expect(await pulse.stop()).toBe(0);
  });
});
