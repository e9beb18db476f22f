import { afterEach, describe, expect, it, vi } from 'vitest';
import { gzipSync } from 'node:zlib';
import type { ClientHttp2Session } from 'node:http2';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import { encodeTraceRequest } from '../../../src/otlp/index.js';
import { makeBatch, makeRealisticBatch, makeSpan } from '../../support/traces.js';
import { connectH2, decodeExportResponse, decodeStatus, grpcCall, grpcFrame, startReceiver, type Harness } from './otlp-harness.js';

let h: Harness | undefined;
let session: ClientHttp2Session | undefined;
afterEach(async () => {
  session?.destroy();
  session = undefined;
  await h?.receiver.shutdown();
  h = undefined;
});

const batch = makeRealisticBatch({ services: 2, spansPerService: 10, seed: 11 });
const message = encodeTraceRequest(batch);

async function start(raw: Record<string, unknown> = {}): Promise<{ h: Harness; s: ClientHttp2Session }> {
  h = await startReceiver(raw);
  session = connectH2(h.grpc);
  return { h, s: session };
}

function requests(harness: Harness, outcome: string): number {
  return harness.metrics.find('pulse_receiver_requests_total')?.get({ receiver: 'otlp', transport: 'grpc', outcome }) ?? 0;
}

async function expectStillServing(harness: Harness, s: ClientHttp2Session): Promise<void> {
  const before = harness.next.spans();
  const res = await grpcCall(s, grpcFrame(message));
  expect(res.grpcStatus).toBe(0);
  expect(harness.next.spans()).toBe(before + batch.spanCount);
}

describe('otlp receiver, gRPC', () => {
  it('delivers an Export call and answers one response frame with grpc-status 0 in the trailers', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, grpcFrame(message));
    expect(res.headers[':status']).toBe(200);
    expect(res.headers['content-type']).toBe('application/grpc');
    expect(res.trailers['grpc-status']).toBe('0');
    expect(res.data[0]).toBe(0);
    expect(res.data.readUInt32BE(1)).toBe(res.data.length - 5);
    expect(decodeExportResponse(res.data.subarray(5))).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(h.next.spans()).toBe(batch.spanCount);
    expect(h.metrics.find('pulse_receiver_accepted_spans_total')?.get({ receiver: 'otlp', transport: 'grpc' })).toBe(batch.spanCount);
    expect(requests(h, 'ok')).toBe(1);
  });

  it('decompresses a gzip-compressed message (grpc-encoding: gzip)', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, grpcFrame(gzipSync(message), true), { 'grpc-encoding': 'gzip' });
    expect(res.grpcStatus).toBe(0);
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it('reports partial_success for spans with an empty trace id', async () => {
    const { h, s } = await start();
    const mixed = makeBatch([makeSpan(), makeSpan({ traceId: '' })]);
    const res = await grpcCall(s, grpcFrame(encodeTraceRequest(mixed)));
    expect(res.grpcStatus).toBe(0);
    expect(decodeExportResponse(res.data.subarray(5)).rejectedSpans).toBe(1);
    expect(h.next.spans()).toBe(1);
  });

  it('carries many concurrent calls on one connection', async () => {
    const { h, s } = await start();
    const results = await Promise.all(Array.from({ length: 50 }, () => grpcCall(s, grpcFrame(message))));
    expect(results.every((r) => r.grpcStatus === 0)).toBe(true);
    expect(h.next.spans()).toBe(50 * batch.spanCount);
  });

  it('an 8 MB message arrives whole (many flow-control windows)', async () => {
    const { h, s } = await start();
    const big = encodeTraceRequest(makeRealisticBatch({ services: 8, spansPerService: 2500, seed: 5 }));
    expect(big.length).toBeGreaterThan(4 * 1024 * 1024);
    const res = await grpcCall(s, grpcFrame(big));
    expect(res.grpcStatus).toBe(0);
    expect(h.next.spans()).toBe(20_000);
  });

  it('malformed protobuf → INVALID_ARGUMENT with a message, and the connection keeps serving', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, grpcFrame(message.subarray(0, message.length - 9)));
    expect(res.grpcStatus).toBe(3);
    expect(res.grpcMessage?.length).toBeGreaterThan(10);
    expect(res.data.length).toBe(0);
    expect(requests(h, 'bad_request')).toBe(1);
    await expectStillServing(h, s);
  });

  it('a broken frame (length prefix longer than the data) → INVALID_ARGUMENT', async () => {
    const { h, s } = await start();
    const frame = grpcFrame(message);
    frame.writeUInt32BE(message.length + 100, 1);
    const res = await grpcCall(s, frame);
    expect(res.grpcStatus).toBe(3);
    await expectStillServing(h, s);
  });

  it('two messages in one unary call → INVALID_ARGUMENT', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, Buffer.concat([grpcFrame(message), grpcFrame(message)]));
    expect(res.grpcStatus).toBe(3);
    expect(res.grpcMessage).toMatch(/exactly one message/);
    expect(h.next.calls).toBe(0);
  });

  it('an oversized message → RESOURCE_EXHAUSTED before it is read', async () => {
    const { h, s } = await start({ protocols: { grpc: { endpoint: '127.0.0.1:0', max_recv_msg_size: '4KiB' } } });
    expect(message.length).toBeGreaterThan(4 * 1024);
    const res = await grpcCall(s, grpcFrame(message));
    expect(res.grpcStatus).toBe(8);
    expect(res.grpcMessage).toContain('max_recv_msg_size');
    expect(requests(h, 'too_large')).toBe(1);
    const small = encodeTraceRequest(makeBatch([makeSpan()]));
    expect((await grpcCall(s, grpcFrame(small))).grpcStatus).toBe(0);
  });

  it('a compressed message that inflates past max_recv_msg_size → RESOURCE_EXHAUSTED', async () => {
    const { s } = await start({ protocols: { grpc: { endpoint: '127.0.0.1:0', max_recv_msg_size: '1MiB' } } });
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const res = await grpcCall(s, grpcFrame(bomb, true), { 'grpc-encoding': 'gzip' });
    expect(res.grpcStatus).toBe(8);
    expect(res.grpcMessage).toMatch(/decompresses to more than/);
  });

  it('an unknown method → UNIMPLEMENTED', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, grpcFrame(message), {}, '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export');
    expect(res.grpcStatus).toBe(12);
    expect(res.grpcMessage).toContain('TraceService/Export');
    await expectStillServing(h, s);
  });

  it('an unsupported grpc-encoding → UNIMPLEMENTED', async () => {
    const { s } = await start();
    const res = await grpcCall(s, grpcFrame(message, true), { 'grpc-encoding': 'snappy' });
    expect(res.grpcStatus).toBe(12);
    expect(res.grpcMessage).toContain('snappy');
  });

  it('a content type that is not gRPC, or is gRPC-Web → HTTP 415; another codec than protobuf → UNIMPLEMENTED', async () => {
    const { h, s } = await start();
    const res = await grpcCall(s, grpcFrame(message), { 'content-type': 'application/json' });
    expect(res.headers[':status']).toBe(415);
    const web = await grpcCall(s, grpcFrame(message), { 'content-type': 'application/grpc-web+proto' });
    expect(web.headers[':status']).toBe(415);
    const json = await grpcCall(s, grpcFrame(message), { 'content-type': 'application/grpc+json' });
    expect(json.grpcStatus).toBe(12);
    expect(json.grpcMessage).toContain('only the protobuf codec');
    expect(h.next.calls).toBe(0);
    expect((await grpcCall(s, grpcFrame(message), { 'content-type': 'application/grpc+proto' })).grpcStatus).toBe(0);
    expect((await grpcCall(s, grpcFrame(message), { 'content-type': 'application/grpc; charset=utf-8' })).grpcStatus).toBe(0);
    expect(h.next.calls).toBe(2);
  });

  it('a message marked compressed on a call without grpc-encoding → INTERNAL (gRPC spec)', async () => {
    const { s } = await start();
    const res = await grpcCall(s, grpcFrame(message, true));
    expect(res.grpcStatus).toBe(13);
    expect(res.grpcMessage).toContain('no grpc-encoding');
  });

  it('a retryable "unavailable" error → UNAVAILABLE with RetryInfo in grpc-status-details-bin', async () => {
    const { h, s } = await start();
    h.next.fail = () => new RetryableError('PULSE_ERR_DOWN', 'exporter down: 100% of tries failed');
    const res = await grpcCall(s, grpcFrame(message));
    expect(res.grpcStatus).toBe(14);
    expect(res.grpcMessage).toBe('exporter down: 100% of tries failed');
    const details = decodeStatus(Buffer.from(String(res.headers['grpc-status-details-bin']), 'base64'));
    expect(details).toEqual({ code: 14, message: 'exporter down: 100% of tries failed', retryDelayMs: 1000 });
  });

  it('a retryable "resource exhausted" error → RESOURCE_EXHAUSTED with its retry delay', async () => {
    const { h, s } = await start();
    h.next.fail = () => new RetryableError('PULSE_ERR_QUEUE_FULL', 'queue full', { resourceExhausted: true, retryAfterMs: 5000 });
    const res = await grpcCall(s, grpcFrame(message));
    expect(res.grpcStatus).toBe(8);
    expect(decodeStatus(Buffer.from(String(res.headers['grpc-status-details-bin']), 'base64')).retryDelayMs).toBe(5000);
  });

  it('sheds load like OTLP/HTTP: right after a RESOURCE_EXHAUSTED, calls are refused before their message is read', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { h, s } = await start();
      h.next.fail = () => new RetryableError('PULSE_ERR_QUEUE_FULL', 'queue full', { resourceExhausted: true, retryAfterMs: 1000 });
      expect((await grpcCall(s, grpcFrame(message))).grpcStatus).toBe(8);
      const res = await grpcCall(s, grpcFrame(message));
      expect(res.grpcStatus).toBe(8);
      expect(res.grpcMessage).toBe('queue full (refused without reading it: the pipeline is full)');
      expect(h.next.calls).toBe(1);
      h.next.fail = undefined;
      vi.advanceTimersByTime(5);
      expect((await grpcCall(s, grpcFrame(message))).grpcStatus).toBe(0);
      expect(h.next.calls).toBe(2);
      expect(h.overload.count).toBe(2); // the refused call and the shed one
      await expectStillServing(h, s);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a permanent error → INVALID_ARGUMENT; an unclassified one → UNAVAILABLE', async () => {
    const { h, s } = await start();
    h.next.fail = () => new PermanentError('PULSE_ERR_SCHEMA', 'bad data');
    expect((await grpcCall(s, grpcFrame(message))).grpcStatus).toBe(3);
    h.next.fail = () => new Error('bug');
    expect((await grpcCall(s, grpcFrame(message))).grpcStatus).toBe(14);
    h.next.fail = undefined;
    await expectStillServing(h, s);
  });

  it('requires the bearer token when auth is configured → UNAUTHENTICATED', async () => {
    const { h, s } = await start({ protocols: { grpc: { endpoint: '127.0.0.1:0', auth: { bearer_token: 'tok' } } } });
    expect((await grpcCall(s, grpcFrame(message))).grpcStatus).toBe(16);
    expect((await grpcCall(s, grpcFrame(message), { authorization: 'Bearer nope' })).grpcStatus).toBe(16);
    expect(h.next.calls).toBe(0);
    expect((await grpcCall(s, grpcFrame(message), { authorization: 'Bearer tok' })).grpcStatus).toBe(0);
  });

  it('survives a client that cancels its stream mid-message', async () => {
    const { h, s } = await start();
    const stream = s.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc' });
    stream.on('error', () => {});
    stream.write(grpcFrame(message).subarray(0, 100));
    await new Promise((r) => setTimeout(r, 30));
    stream.close(0x8); // CANCEL (Node's client ends the stream first, so the server sees a truncated frame)
    await new Promise((r) => setTimeout(r, 30));
    await expectStillServing(h, s);
    expect(h.next.calls).toBe(1);
    expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(0);
    expect(h.fatal).toEqual([]);
  });

  it('survives a client that drops the connection mid-message, and releases what it held', async () => {
    const { h, s } = await start();
    const stream = s.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc' });
    stream.on('error', () => {});
    stream.write(grpcFrame(message).subarray(0, 1000));
    await new Promise<void>((resolve) => {
      const poll = () => ((h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' }) ?? 0) > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    s.destroy();
    await new Promise<void>((resolve) => {
      const poll = () => (requests(h, 'aborted') === 1 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(0);
    session = connectH2(h.grpc);
    await expectStillServing(h, session);
    expect(h.fatal).toEqual([]);
  });

  it('answers DEADLINE_EXCEEDED when the message does not arrive within grpc-timeout', async () => {
    const { h, s } = await start();
    const stream = s.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', 'grpc-timeout': '150m' });
    stream.on('error', () => {});
    stream.write(grpcFrame(message).subarray(0, 100));
    const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve));
    expect(headers['grpc-status']).toBe('4');
    expect(h.next.calls).toBe(0);
    await expectStillServing(h, s);
  });

  it('survives garbage and HTTP/1.1 on the gRPC port', async () => {
    const { h, s } = await start();
    const { connect } = await import('node:net');
    for (const junk of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x10\x04\x00\x00\x00\x00\x00garbage')]) {
      await new Promise<void>((resolve) => {
        const sock = connect(h.grpc.port, h.grpc.host, () => sock.write(junk));
        sock.on('error', () => resolve());
        sock.on('close', () => resolve());
        sock.resume();
        // A half-sent frame keeps the connection waiting (until the session idle timeout): hang up ourselves.
        setTimeout(() => sock.destroy(), 100);
      });
    }
    await expectStillServing(h, s);
    expect(h.fatal).toEqual([]);
  });

  it('sends GOAWAY on shutdown after the call in flight completes', async () => {
    const { h, s } = await start();
    let open!: () => void;
    h.next.gate = new Promise<void>((r) => (open = r));
    const call = grpcCall(s, grpcFrame(message));
    await new Promise<void>((resolve) => {
      const poll = () => (h.next.calls > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const goaway = new Promise<void>((resolve) => s.once('goaway', () => resolve()));
    const stopped = h.receiver.shutdown();
    await goaway;
    open();
    expect((await call).grpcStatus).toBe(0);
    await stopped;
    expect(h.next.spans()).toBe(batch.spanCount);
  });
});
