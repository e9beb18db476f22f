/**
 * The otlp receiver across a config reload that keeps it unchanged: its listening sockets and open connections go
 * to the new receiver, and requests arriving in between wait instead of being refused or reset.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Handover } from '../../../src/core/handover.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { otlpReceiverFactory } from '../../../src/receivers/otlp/factory.js';
import type { OtlpReceiver } from '../../../src/receivers/otlp/receiver.js';
import { encodeTraceRequest } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { freePort } from '../../support/net.js';
import { FakeNext, connectH2, grpcCall, grpcFrame, post } from './otlp-harness.js';

const PROTO = { 'content-type': 'application/x-protobuf' };
const batch = makeRealisticBatch({ services: 2, spansPerService: 10, seed: 11 });
const body = encodeTraceRequest(batch);
const KEY = 'receiver/otlp@traces:otlp:{}';

const running: OtlpReceiver[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.shutdown();
});

async function receiver(handover: Handover, httpPort: number, grpcPort: number) {
  const config = otlpReceiverFactory.configSchema.parse({
    protocols: { grpc: { endpoint: `127.0.0.1:${grpcPort}` }, http: { endpoint: `127.0.0.1:${httpPort}` } },
  });
  const next = new FakeNext();
  const logger = pino({ level: 'silent' });
  const r = otlpReceiverFactory.create.traces!(
    { id: 'otlp', kind: 'receiver', logger, metrics: new MetricsRegistry(), dataDir: '/nonexistent', handover: handover.slot(KEY) },
    config,
    next,
  ) as OtlpReceiver;
  running.push(r);
  await r.start({ reportFatalError: () => undefined });
  return { r, next };
}

describe('otlp receiver across a reload', () => {
  it('holds requests arriving during the swap and hands them, and its open connections, to the new receiver', async () => {
    const handover = new Handover();
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const old = await receiver(handover, httpPort, grpcPort);
    const addr = { host: '127.0.0.1', port: httpPort };
    expect((await post(addr, { headers: PROTO, body })).status).toBe(200);
    const session = connectH2({ host: '127.0.0.1', port: grpcPort });
    try {
      expect((await grpcCall(session, grpcFrame(body))).grpcStatus).toBe(0);

      handover.expect(new Set([KEY]));
      await old.r.shutdown();
      // During the swap: an HTTP request and a gRPC call on the session opened before it wait.
      let httpAnswered = false;
      const httpHeld = post(addr, { headers: PROTO, body }).then((res) => ((httpAnswered = true), res));
      const grpcHeld = grpcCall(session, grpcFrame(body));
      await new Promise((r) => setTimeout(r, 200));
      expect(httpAnswered).toBe(false);

      const next = await receiver(handover, httpPort, grpcPort);
      handover.settle(pino({ level: 'silent' }));
      expect((await httpHeld).status).toBe(200);
      const g = await grpcHeld;
      expect(g.grpcStatus).toBe(0);
      // Both went to the new receiver's pipeline, none to the old one's after the swap.
      expect(old.next.spans()).toBe(2 * batch.spanCount);
      expect(next.next.spans()).toBe(2 * batch.spanCount);
      expect(next.r.httpAddress()).toEqual(old.r.httpAddress());
    } finally {
      session.close();
    }
  });

  it('refuses the held requests (retryable) and closes the sockets when no receiver takes them over', async () => {
    const handover = new Handover();
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const old = await receiver(handover, httpPort, grpcPort);
    const addr = { host: '127.0.0.1', port: httpPort };
    handover.expect(new Set([KEY]));
    await old.r.shutdown();
    const held = post(addr, { headers: PROTO, body });
    await new Promise((r) => setTimeout(r, 100));
    // The reload failed and so did the previous config's restart: nobody takes them.
    handover.settle(pino({ level: 'silent' }));
    const res = await held;
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    await new Promise((r) => setTimeout(r, 100));
    await expect(post(addr, { headers: PROTO, body })).rejects.toThrow(/ECONNREFUSED/);
  });
});
