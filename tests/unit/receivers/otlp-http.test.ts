import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Socket } from 'node:net';
import { gzipSync, deflateSync, deflateRawSync, createGzip } from 'node:zlib';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import { encodeTraceRequest, encodeTraceRequestJson } from '../../../src/otlp/index.js';
import { makeBatch, makeRealisticBatch, makeSpan } from '../../support/traces.js';
import { decodeExportResponse, decodeStatus, post, postStream, startReceiver, type Harness } from './otlp-harness.js';

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };

let h: Harness | undefined;
afterEach(async () => {
  await h?.receiver.shutdown();
  h = undefined;
});

const batch = makeRealisticBatch({ services: 2, spansPerService: 10, seed: 7 });
const protoBody = encodeTraceRequest(batch);
const jsonBody = encodeTraceRequestJson(batch);

function requests(harness: Harness, outcome: string): number {
  return harness.metrics.find('pulse_receiver_requests_total')?.get({ receiver: 'otlp', transport: 'http', outcome }) ?? 0;
}

/** A good request after a bad one must still be served. */
async function expectStillServing(harness: Harness): Promise<void> {
  const before = harness.next.spans();
  const res = await post(harness.http, { headers: PROTO, body: protoBody });
  expect(res.status).toBe(200);
  expect(harness.next.spans()).toBe(before + batch.spanCount);
}

/** 1 GB of zeros streamed through gzip: about 1 MB on the wire. */
let gzipBomb: Buffer;
beforeAll(async () => {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gz.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 1024; i++) {
    if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  gzipBomb = Buffer.concat(out);
});

describe('otlp receiver, HTTP: accepted requests', () => {
  it('delivers a protobuf request and answers an empty ExportTraceServiceResponse', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: PROTO, body: protoBody });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeExportResponse(res.body)).toEqual({ rejectedSpans: 0, errorMessage: '' });
    expect(h.next.batches).toHaveLength(1);
    expect(h.next.batches[0]!.spanCount).toBe(batch.spanCount);
    expect(h.next.batches[0]!.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name).toBe(batch.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name);
    const accepted = h.metrics.find('pulse_receiver_accepted_spans_total')?.get({ receiver: 'otlp', transport: 'http' });
    expect(accepted).toBe(batch.spanCount);
    expect(requests(h, 'ok')).toBe(1);
  });

  it('delivers a JSON request (with a charset parameter) and answers JSON', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { 'content-type': 'application/json; charset=utf-8' }, body: jsonBody });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({});
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['deflate', deflateRawSync],
  ] as const)('decompresses Content-Encoding %s (%o)', async (encoding, compress) => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { ...PROTO, 'content-encoding': encoding }, body: compress(protoBody) });
    expect(res.status).toBe(200);
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it('accepts a chunked body without Content-Length', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { ...PROTO, 'content-length': undefined, 'transfer-encoding': 'chunked' }, body: protoBody });
    expect(res.status).toBe(200);
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it('reports partial_success for spans with an empty trace id, and delivers the rest', async () => {
    h = await startReceiver();
    const mixed = makeBatch([makeSpan({ name: 'good' }), makeSpan({ name: 'no-trace', traceId: '' }), makeSpan({ name: 'good-2' })]);
    const res = await post(h.http, { headers: PROTO, body: encodeTraceRequest(mixed) });
    expect(res.status).toBe(200);
    const partial = decodeExportResponse(res.body);
    expect(partial.rejectedSpans).toBe(1);
    expect(partial.errorMessage).toMatch(/trace.?id/i);
    expect(h.next.spans()).toBe(2);
    expect(h.metrics.find('pulse_receiver_refused_spans_total')?.get({ receiver: 'otlp', transport: 'http' })).toBe(1);

    const jsonRes = await post(h.http, { headers: JSON_CT, body: encodeTraceRequestJson(mixed) });
    expect(jsonRes.status).toBe(200);
    const json = JSON.parse(jsonRes.body.toString()) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } };
    expect(Number(json.partialSuccess?.rejectedSpans)).toBe(1);
  });

  it('answers an empty protobuf body (a valid empty request) 200 without calling the pipeline', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: PROTO, body: new Uint8Array(0) });
    expect(res.status).toBe(200);
    expect(h.next.calls).toBe(0);
  });
});

describe('otlp receiver, HTTP: bad requests are refused with a reason, and the server keeps serving', () => {
  it('truncated protobuf → 400', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: PROTO, body: protoBody.subarray(0, protoBody.length - 7) });
    expect(res.status).toBe(400);
    const status = decodeStatus(res.body);
    expect(status.code).toBe(3);
    expect(status.message.length).toBeGreaterThan(10);
    expect(requests(h, 'bad_request')).toBe(1);
    await expectStillServing(h);
  });

  it('logs who sent a bad request, and logs retryable refusals too, each at most every 30 s', async () => {
    h = await startReceiver({
      protocols: { http: { endpoint: '127.0.0.1:0', max_request_body_size: '64KiB' } },
      max_inflight_bytes: '64KiB',
    });
    const ua = { 'user-agent': 'OTel-OTLP-Exporter-Go/1.2.3' };
    for (let i = 0; i < 3; i++) await post(h.http, { headers: { ...PROTO, ...ua }, body: protoBody.subarray(0, protoBody.length - 7) });
    const bad = h.logs.filter((l) => l.outcome === 'bad_request');
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ level: 40, peer: '127.0.0.1', user_agent: 'OTel-OTLP-Exporter-Go/1.2.3', transport: 'http' });
    expect(String(bad[0]!.msg)).toContain('refused a request: invalid protobuf');
    // Turned away as busy: the sender did nothing wrong, but an operator needs to see that data is refused.
    let open!: () => void;
    h.next.gate = new Promise<void>((r) => (open = r));
    const big = encodeTraceRequest(makeRealisticBatch({ services: 1, spansPerService: 100, seed: 3 }));
    const first = post(h.http, { headers: PROTO, body: big });
    await new Promise<void>((resolve) => {
      const poll = () => (h!.next.calls > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    expect((await post(h.http, { headers: { ...PROTO, ...ua }, body: big })).status).toBe(503);
    expect((await post(h.http, { headers: { ...PROTO, ...ua }, body: big })).status).toBe(503);
    const refused = h.logs.filter((l) => l.outcome === 'refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 40, peer: '127.0.0.1', user_agent: 'OTel-OTLP-Exporter-Go/1.2.3' });
    expect(String(refused[0]!.msg)).toContain('max_inflight_bytes');
    open();
    expect((await first).status).toBe(200);
  });

  it('wrong wire type for resource_spans → 400', async () => {
    h = await startReceiver();
    // field 1 (resource_spans, a message) written as fixed32
    const res = await post(h.http, { headers: PROTO, body: Uint8Array.from([0x0d, 1, 2, 3, 4]) });
    expect(res.status).toBe(400);
    expect(decodeStatus(res.body).message).toMatch(/wire type|protobuf/i);
    await expectStillServing(h);
  });

  it('invalid UTF-8 in a span name → 400', async () => {
    h = await startReceiver();
    const good = encodeTraceRequest(makeBatch([makeSpan({ name: 'AAAA' })]));
    const bad = Buffer.from(good);
    const at = bad.indexOf('AAAA');
    bad[at] = 0xff;
    bad[at + 1] = 0xfe;
    const res = await post(h.http, { headers: PROTO, body: bad });
    expect(res.status).toBe(400);
    expect(decodeStatus(res.body).message).toMatch(/utf-?8/i);
    expect(h.next.calls).toBe(0);
    await expectStillServing(h);
  });

  it('garbage JSON → 400 with a JSON status body', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: JSON_CT, body: '{"resourceSpans": [' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    const status = JSON.parse(res.body.toString()) as { code: number; message: string };
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/json/i);
    await expectStillServing(h);
  });

  it('an empty JSON body → 400 (JSON needs at least "{}")', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: JSON_CT, body: '' });
    expect(res.status).toBe(400);
    expect((JSON.parse(res.body.toString()) as { message: string }).message).toMatch(/json/i);
    await expectStillServing(h);
  });

  it('an unsupported Content-Type → 415 with a JSON status naming it', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(res.status).toBe(415);
    const status = JSON.parse(res.body.toString()) as { message: string };
    expect(status.message).toContain('text/plain');
    expect(status.message).toContain('application/x-protobuf');
    expect(requests(h, 'unsupported')).toBe(1);
    await expectStillServing(h);
  });

  it('an unsupported Content-Encoding → 415', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { ...PROTO, 'content-encoding': 'br' }, body: protoBody });
    expect(res.status).toBe(415);
    expect(decodeStatus(res.body).message).toContain('br');
    await expectStillServing(h);
  });

  it('corrupt gzip → 400', async () => {
    h = await startReceiver();
    const res = await post(h.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: protoBody });
    expect(res.status).toBe(400);
    expect(decodeStatus(res.body).message).toMatch(/gzip/);
    await expectStillServing(h);
  });

  it('GET on the traces path → 405 with Allow: POST', async () => {
    h = await startReceiver();
    const res = await post(h.http, { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect((JSON.parse(res.body.toString()) as { message: string }).message).toContain('GET');
    await expectStillServing(h);
  });

  it('an unknown path → 404 naming the traces path', async () => {
    h = await startReceiver();
    const res = await post(h.http, { path: '/v1/metrics', headers: PROTO, body: protoBody });
    expect(res.status).toBe(404);
    expect(decodeStatus(res.body).message).toContain('/v1/traces');
    await expectStillServing(h);
  });

  it('routes a target in absolute form (sent through a forward proxy) and one with a query by their path', async () => {
    h = await startReceiver();
    const target = `http://${h.http.host}:${h.http.port}`;
    expect((await post(h.http, { path: `${target}/v1/traces`, headers: PROTO, body: protoBody })).status).toBe(200);
    expect((await post(h.http, { path: `${target}/v1/traces?tenant=a`, headers: PROTO, body: protoBody })).status).toBe(200);
    expect((await post(h.http, { path: '/v1/traces?tenant=a', headers: PROTO, body: protoBody })).status).toBe(200);
    const other = await post(h.http, { path: `${target}/v1/metrics`, headers: PROTO, body: protoBody });
    expect(other.status).toBe(404);
    expect(decodeStatus(other.body).message).toContain('nothing is served at /v1/metrics');
    expect(h.next.spans()).toBe(3 * batch.spanCount);
  });

  it('Expect: 100-continue gets the go-ahead only when the body would be taken', async () => {
    h = await startReceiver();
    const { connect } = await import('node:net');
    /** Sends the head; answers with what came back before the body was sent, and after (when `body` is given). */
    const exchange = (head: string, body?: Buffer) =>
      new Promise<{ before: string; after: string }>((resolve, reject) => {
        const socket = connect(h!.http.port, h!.http.host, () => socket.write(head));
        let got = '';
        let before: string | undefined;
        socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          if (before === undefined && body !== undefined && got.includes('\r\n\r\n')) {
            before = got;
            got = '';
            socket.write(body);
          } else if (before === undefined && body === undefined) {
            before = got;
            socket.destroy();
            resolve({ before, after: '' });
          } else if (before !== undefined && got.includes('\r\n\r\n')) {
            socket.destroy();
            resolve({ before, after: got });
          }
        });
        socket.on('error', reject);
      });
    const head = (length: number, type = 'application/x-protobuf') =>
      `POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: ${type}\r\ncontent-length: ${length}\r\nexpect: 100-continue\r\n\r\n`;
    const tooLarge = await exchange(head(50 * 1024 * 1024));
    expect(tooLarge.before).toMatch(/^HTTP\/1\.1 413 /);
    const wrongType = await exchange(head(protoBody.length, 'text/plain'));
    expect(wrongType.before).toMatch(/^HTTP\/1\.1 415 /);
    const ok = await exchange(head(protoBody.length), Buffer.from(protoBody));
    expect(ok.before).toMatch(/^HTTP\/1\.1 100 Continue/);
    expect(ok.after).toMatch(/^HTTP\/1\.1 200 /);
    expect(h.next.spans()).toBe(batch.spanCount);
  });

  it('a 50 MB body with Content-Length → 413 before the body is read', async () => {
    h = await startReceiver();
    const size = 50 * 1024 * 1024;
    const res = await postStream(h.http, size, { ...PROTO, 'content-length': size });
    expect(res.status).toBe(413);
    expect(res.writtenAtResponse).toBeLessThan(size);
    expect(decodeStatus(res.body).message).toMatch(/limit/);
    expect(requests(h, 'too_large')).toBe(1);
    await expectStillServing(h);
  });

  it('a 50 MB chunked body → 413 once the limit is passed, without reading the rest', async () => {
    h = await startReceiver();
    const size = 50 * 1024 * 1024;
    const res = await postStream(h.http, size, { ...PROTO, 'transfer-encoding': 'chunked' });
    expect(res.status).toBe(413);
    // The answer came while the sender was still writing: the server stopped at the limit.
    expect(res.writtenAtResponse).toBeLessThan(size);
    expect(decodeStatus(res.body).message).toMatch(/20971520-byte limit/);
    await expectStillServing(h);
  });

  it('a gzip bomb (1 GB of zeros) → 413, cut off while inflating', async () => {
    h = await startReceiver();
    expect(gzipBomb.length).toBeLessThan(2 * 1024 * 1024);
    const rssBefore = process.memoryUsage().rss;
    const res = await post(h.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: gzipBomb });
    expect(res.status).toBe(413);
    expect(decodeStatus(res.body).message).toMatch(/decompresses to more than 20971520 bytes/);
    // Inflating all of it would have cost ~1 GB; the cap stops at 20 MiB.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 1024 * 1024);
    await expectStillServing(h);
  });

  it('honours a smaller max_request_body_size after decompression', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', max_request_body_size: '4KiB' } } });
    const res = await post(h.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: gzipSync(protoBody) });
    expect(protoBody.length).toBeGreaterThan(4096);
    expect(res.status).toBe(413);
    expect(h.next.calls).toBe(0);
  });
});

describe('otlp receiver, HTTP: pipeline errors and overload', () => {
  it('a retryable "resource exhausted" error → 429 with Retry-After from the error', async () => {
    h = await startReceiver();
    h.next.fail = () => new RetryableError('PULSE_ERR_QUEUE_FULL', 'queue full', { retryAfterMs: 2500, resourceExhausted: true });
    const res = await post(h.http, { headers: PROTO, body: protoBody });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(decodeStatus(res.body)).toMatchObject({ code: 8, message: 'queue full' });
    expect(h.metrics.find('pulse_receiver_refused_spans_total')?.get({ receiver: 'otlp', transport: 'http' })).toBe(batch.spanCount);
    expect(requests(h, 'refused')).toBe(1);
  });

  it('sheds load: right after a "resource exhausted" refusal, requests are refused before they are read, until one is taken again', async () => {
    // Only the clock is faked: the shedding window (5 ms, doubling to 40) passes when the test says so.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const started = await startReceiver();
      h = started;
      const shed = () => started.metrics.find('pulse_receiver_shed_requests_total')?.get({ receiver: 'otlp' }) ?? 0;
      h.next.fail = () => new RetryableError('PULSE_ERR_QUEUE_FULL', 'queue full', { retryAfterMs: 1000, resourceExhausted: true });
      expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(429);
      expect(h.next.calls).toBe(1);
      // within the window: 429 at once, the pipeline never sees it
      const res = await post(h.http, { headers: PROTO, body: protoBody });
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
      expect(decodeStatus(res.body).message).toBe('queue full (refused without reading it: the pipeline is full)');
      expect(h.next.calls).toBe(1);
      expect(shed()).toBe(1);
      expect(requests(h, 'refused')).toBe(2);
      // after it: handled; refused again, so a window twice as long (10 ms) starts
      vi.advanceTimersByTime(5);
      expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(429);
      expect(h.next.calls).toBe(2);
      vi.advanceTimersByTime(9);
      expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(429);
      expect(h.next.calls).toBe(2);
      // the pipeline has room again: the next request after the window is taken, and shedding ends
      h.next.fail = undefined;
      vi.advanceTimersByTime(1);
      expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(200);
      expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(200);
      expect(h.next.calls).toBe(4);
      expect(shed()).toBe(2);
      // what the journeys connector is told: 4 requests refused for overload (2 by the pipeline, 2 shed)
      expect(started.overload.count).toBe(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not shed after an "unavailable" refusal (nothing is full)', async () => {
    h = await startReceiver();
    h.next.fail = () => new RetryableError('PULSE_ERR_DOWN', 'exporter down');
    expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(503);
    expect((await post(h.http, { headers: PROTO, body: protoBody })).status).toBe(503);
    expect(h.next.calls).toBe(2);
    // the journeys read both requests: nothing for them to wait for
    expect(h.overload.count).toBe(0);
  });

  it('a retryable "unavailable" error → 503 with Retry-After: 1 by default', async () => {
    h = await startReceiver();
    h.next.fail = () => new RetryableError('PULSE_ERR_DOWN', 'exporter down');
    const res = await post(h.http, { headers: JSON_CT, body: jsonBody });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 14, message: 'exporter down' });
  });

  it('a permanent error → 400', async () => {
    h = await startReceiver();
    h.next.fail = () => new PermanentError('PULSE_ERR_SCHEMA', 'rejected by schema');
    const res = await post(h.http, { headers: PROTO, body: protoBody });
    expect(res.status).toBe(400);
    expect(decodeStatus(res.body).message).toBe('rejected by schema');
    expect(requests(h, 'rejected')).toBe(1);
  });

  it('an unclassified error → 503 (retryable), and the server keeps serving', async () => {
    h = await startReceiver();
    h.next.fail = () => new TypeError('boom');
    const res = await post(h.http, { headers: PROTO, body: protoBody });
    expect(res.status).toBe(503);
    expect(decodeStatus(res.body).message).toContain('boom');
    h.next.fail = undefined;
    await expectStillServing(h);
  });

  it('refuses new requests with 503 + Retry-After while max_inflight_bytes is held, then recovers', async () => {
    h = await startReceiver({
      protocols: { http: { endpoint: '127.0.0.1:0', max_request_body_size: '64KiB' } },
      max_inflight_bytes: '64KiB',
    });
    const big = encodeTraceRequest(makeRealisticBatch({ services: 1, spansPerService: 100, seed: 3 }));
    expect(big.length).toBeGreaterThan(32 * 1024);
    expect(big.length).toBeLessThan(64 * 1024);
    let open!: () => void;
    h.next.gate = new Promise<void>((r) => (open = r));
    const first = post(h.http, { headers: PROTO, body: big });
    await new Promise<void>((resolve) => {
      const poll = () => (h!.next.calls > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const second = await post(h.http, { headers: PROTO, body: big });
    expect(second.status).toBe(503);
    expect(second.headers['retry-after']).toBe('1');
    expect(decodeStatus(second.body).message).toContain('max_inflight_bytes');
    expect(h.overload.count).toBe(1); // refused unread: the journeys never saw it
    expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(big.length);
    open();
    h.next.gate = undefined;
    expect((await first).status).toBe(200);
    expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(0);
    expect((await post(h.http, { headers: PROTO, body: big })).status).toBe(200);
  });

  it('requests that announce a large body and send nothing hold none of the budget: other senders are served', async () => {
    h = await startReceiver({
      protocols: { http: { endpoint: '127.0.0.1:0', max_request_body_size: '64KiB' } },
      max_inflight_bytes: '64KiB',
    });
    const { connect } = await import('node:net');
    const idle = await Promise.all(
      [65_536, 65_536, 40_000].map(
        (length, i) =>
          new Promise<Socket>((resolve) => {
            const socket = connect(h!.http.port, h!.http.host, () => {
              const encoding = i === 1 ? 'content-encoding: gzip\r\n' : '';
              socket.write(`POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n${encoding}content-length: ${length}\r\n\r\n`);
              resolve(socket);
            });
            socket.on('error', () => {});
          }),
      ),
    );
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(0);
      const res = await post(h.http, { headers: PROTO, body: protoBody });
      expect(res.status).toBe(200);
      expect(h.next.spans()).toBe(batch.spanCount);
      // Bytes that do arrive are counted as they arrive.
      idle[2]!.write(Buffer.alloc(30_000));
      await new Promise((r) => setTimeout(r, 50));
      expect(h.metrics.find('pulse_receiver_inflight_bytes')?.get({ receiver: 'otlp' })).toBe(30_000);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it('keeps concurrent compressed requests apart while reusing body buffers, also after refused and aborted ones', async () => {
    // Compressed bodies are read into reused buffers (body-pool.ts): a buffer handed to the next request too early
    // would show up here as spans of one request delivered under another, or as corrupt gzip.
    h = await startReceiver();
    const { request } = await import('node:http');
    const aborted = new Promise<void>((resolve) => {
      const req = request({ host: h!.http.host, port: h!.http.port, method: 'POST', path: '/v1/traces', headers: { ...PROTO, 'content-encoding': 'gzip', 'content-length': 200_000 } });
      req.on('error', () => resolve());
      req.write(gzipSync(protoBody).subarray(0, 5000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 20);
    });
    const corrupt = Buffer.from(gzipSync(encodeTraceRequest(makeRealisticBatch({ services: 1, spansPerService: 200, seed: 99 }))));
    corrupt[corrupt.length >> 1] = corrupt[corrupt.length >> 1]! ^ 0xff;
    const sent = Array.from({ length: 24 }, (_, i) => {
      const b = makeRealisticBatch({ services: 1 + (i % 3), spansPerService: 20 + 37 * i, seed: 1000 + i });
      const name = `request-${i}`;
      for (const rs of b.resourceSpans) for (const ss of rs.scopeSpans) for (const sp of ss.spans) sp.name = name;
      return { name, spans: b.spanCount, body: gzipSync(encodeTraceRequest(b)) };
    });
    expect(sent.filter((r) => r.body.length >= 4096).length).toBeGreaterThan(20); // they take the pooled path
    const results = await Promise.all([
      ...sent.map((r) => post(h!.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: r.body })),
      post(h.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: corrupt }),
      aborted,
    ]);
    expect(results.slice(0, sent.length).map((r) => (r as { status: number }).status)).toEqual(sent.map(() => 200));
    expect((results[sent.length] as { status: number }).status).toBe(400);
    const byName = new Map<string, number>();
    for (const b of h.next.batches) {
      const names = new Set(b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((sp) => sp.name))));
      expect(names.size).toBe(1);
      const [name] = names;
      byName.set(name!, (byName.get(name!) ?? 0) + b.spanCount);
    }
    expect(Object.fromEntries(byName)).toEqual(Object.fromEntries(sent.map((r) => [r.name, r.spans])));
    // Sequential requests after all that reuse buffers and still decode.
    for (let i = 0; i < 3; i++) expect((await post(h.http, { headers: { ...PROTO, 'content-encoding': 'gzip' }, body: sent[i]!.body })).status).toBe(200);
    expect(h.fatal).toEqual([]);
  });

  it('survives a client that disconnects mid-body', async () => {
    h = await startReceiver();
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = request({ host: h!.http.host, port: h!.http.port, method: 'POST', path: '/v1/traces', headers: { ...PROTO, 'content-length': 100_000 } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await new Promise((r) => setTimeout(r, 50));
    await expectStillServing(h);
    expect(h.fatal).toEqual([]);
  });
});

describe('otlp receiver, HTTP: CORS and auth', () => {
  const cors = { allowed_origins: ['https://*.example.com', 'http://localhost:3000'], allowed_headers: ['X-Tenant'], max_age: 600 };

  it('answers an allowed preflight with the allow headers', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', cors } } });
    const res = await post(h.http, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-tenant' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(res.headers['access-control-allow-methods']).toBe('POST');
    expect(res.headers['access-control-allow-headers']).toBe('content-type, x-tenant');
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('refuses a preflight from an origin that is not allowed, or for a header that is not allowed', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', cors } } });
    const res = await post(h.http, {
      method: 'OPTIONS',
      headers: { origin: 'https://example.org', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect((JSON.parse(res.body.toString()) as { message: string }).message).toContain('https://example.org');

    const badHeader = await post(h.http, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-secret' },
    });
    expect(badHeader.status).toBe(403);
    expect((JSON.parse(badHeader.body.toString()) as { message: string }).message).toContain('x-secret');
  });

  it('echoes an allowed origin with Vary: Origin on the actual request', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', cors } } });
    const res = await post(h.http, { headers: { ...JSON_CT, origin: 'https://a.b.example.com' }, body: jsonBody });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://a.b.example.com');
    expect(res.headers.vary).toBe('Origin');
    // A browser exporter reads Retry-After when throttled; cross-origin, only if it is exposed.
    expect(res.headers['access-control-expose-headers']).toBe('Retry-After');
    const other = await post(h.http, { headers: { ...JSON_CT, origin: 'https://evil.test' }, body: jsonBody });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('"*" allows any origin', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', cors: { allowed_origins: ['*'] } } } });
    const res = await post(h.http, { method: 'OPTIONS', headers: { origin: 'https://anything.test', 'access-control-request-method': 'POST' } });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://anything.test');
  });

  it('without cors configured, OPTIONS is 405', async () => {
    h = await startReceiver();
    const res = await post(h.http, { method: 'OPTIONS', headers: { origin: 'https://a.example.com' } });
    expect(res.status).toBe(405);
  });

  it('requires the bearer token when auth is configured', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0', auth: { bearer_token: 's3cret-token' } } } });
    const none = await post(h.http, { headers: PROTO, body: protoBody });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(decodeStatus(none.body)).toMatchObject({ code: 16 });
    const wrong = await post(h.http, { headers: { ...PROTO, authorization: 'Bearer s3cret-tokem' }, body: protoBody });
    expect(wrong.status).toBe(401);
    const basic = await post(h.http, { headers: { ...PROTO, authorization: 'Basic s3cret-token' }, body: protoBody });
    expect(basic.status).toBe(401);
    expect(h.next.calls).toBe(0);
    expect(requests(h, 'unauthorized')).toBe(3);
    const ok = await post(h.http, { headers: { ...PROTO, authorization: 'bearer s3cret-token' }, body: protoBody });
    expect(ok.status).toBe(200);
    expect(h.next.spans()).toBe(batch.spanCount);
  });
});

describe('otlp receiver, HTTP: lifecycle', () => {
  it('fails to start with PULSE_ERR_LISTEN naming the address when the port is taken', async () => {
    h = await startReceiver({ protocols: { http: { endpoint: '127.0.0.1:0' } } });
    const err = await startReceiver({ protocols: { http: { endpoint: `127.0.0.1:${h.http.port}` } } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PULSE_ERR_LISTEN' });
    expect((err as Error).message).toContain(`127.0.0.1:${h.http.port}`);
    expect((err as Error).message).toContain('EADDRINUSE');
  });

  it('lets a request in flight finish on shutdown, then refuses connections; shutdown is idempotent', async () => {
    h = await startReceiver();
    let open!: () => void;
    h.next.gate = new Promise<void>((r) => (open = r));
    const inflight = post(h.http, { headers: PROTO, body: protoBody });
    await new Promise<void>((resolve) => {
      const poll = () => (h!.next.calls > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const stopped = h.receiver.shutdown();
    setTimeout(open, 50);
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(res.headers.connection).toBe('close');
    await stopped;
    await h.receiver.shutdown();
    await expect(post(h.http, { headers: PROTO, body: protoBody })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
