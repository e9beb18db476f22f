/**
 * A config reload (SIGHUP) while the forward destination does not answer: the otlphttp exporter's in-memory queue
 * goes to the same exporter of the new config instead of being drained until `service.shutdown_timeout` (10 s here)
 * and then dropped. What a user sees: the receivers are back within about a second, and once the destination
 * answers again, every span accepted before the reload arrives, none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { decodeTraceRequest, encodeTraceRequest } from '../../src/otlp/index.js';
import { makeRealisticBatch } from '../support/traces.js';
import { freePort, waitFor } from '../support/net.js';
import { checkoutJourneysDir, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { startHttpSink } from '../support/otlp-sink.js';
import { createShop } from '../../scripts/shop.mjs';

/**
 * A next hop that holds every request unanswered until `resume()`; from then on (and for the requests it holds whose
 * sender is still waiting) it accepts them and counts their spans.
 */
class SilentSink {
  spans = 0;
  requests = 0;
  readonly spanIds = new Map<string, number>();
  private answering = false;
  private readonly held: Array<{ req: IncomingMessage; res: ServerResponse; body: Buffer }> = [];
  readonly server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests++;
      if (this.answering) this.accept(req, res, Buffer.concat(chunks));
      else this.held.push({ req, res, body: Buffer.concat(chunks) });
    });
  });

  resume(): void {
    this.answering = true;
    // Those Pulse gave up on (aborted at the reload) closed their connection: Pulse sends them again.
    for (const h of this.held.splice(0)) if (!h.req.socket.destroyed) this.accept(h.req, h.res, h.body);
  }

  private accept(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const { batch } = decodeTraceRequest(req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw);
    this.spans += batch.spanCount;
    for (const rs of batch.resourceSpans) {
      for (const ss of rs.scopeSpans) for (const s of ss.spans) this.spanIds.set(s.spanId, (this.spanIds.get(s.spanId) ?? 0) + 1);
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let pulse: PulseProcess;
let sink: SilentSink;
let httpPort: number;

beforeAll(async () => {
  sink = new SilentSink();
  const sinkPort = await freePort();
  await new Promise<void>((resolve) => sink.server.listen(sinkPort, '127.0.0.1', resolve));
  httpPort = await freePort();
  pulse = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort} }
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:${sinkPort}
    timeout: 30s
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

describe('reload while the forward destination does not answer', () => {
  it('hands the queued spans to the new config: back within seconds, nothing dropped, nothing sent twice', async () => {
    const requests = 5;
    for (let i = 0; i < requests; i++) {
      const body = encodeTraceRequest(makeRealisticBatch({ services: 2, spansPerService: 10, seed: 100 + i }));
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      expect(res.status).toBe(200);
    }
    await waitFor(() => sink.requests >= 1, 10_000, 'a forward in flight, unanswered');

    writeFileSync(pulse.configPath, readFileSync(pulse.configPath, 'utf8').replace('initial_interval: 50ms', 'initial_interval: 60ms'));
    const t0 = Date.now();
    pulse.child.kill('SIGHUP');
    await waitFor(() => /configuration reloaded/.test(pulse.output()), 15_000, 'reload applied');
    const reloadMs = Date.now() - t0;
    const gapMs = Number(/data was not accepted for (\d+) ms/.exec(pulse.output())?.[1]);
    // Draining would have taken until shortly before the 10 s shutdown_timeout.
    expect(gapMs).toBeLessThan(5000);
    expect(reloadMs).toBeLessThan(6000);
    expect(pulse.output()).toMatch(/handedOverBatches/);
    expect(pulse.output()).not.toMatch(/dropped/);

    sink.resume();
    await waitFor(() => sink.spans >= requests * 20, 20_000, 'every span accepted before the reload forwarded');
    // A moment for anything sent twice to show up.
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.spans).toBe(requests * 20);
    expect([...sink.spanIds.values()].every((n) => n === 1)).toBe(true);
    expect(await pulse.metrics()).not.toMatch(/pulse_exporter_send_failed_items_total\{[^}]*reason="shutdown"[^}]*\} [1-9]/);
  }, 60_000);
});

describe('reload while a checkout attempt is half received', () => {
  it('the new config assembles the attempt from the steps on both sides of the reload: one success, nothing abandoned', async () => {
    const journeysDir = checkoutJourneysDir('pulse-reload-journeys-');
    const port = await freePort();
    const attemptsPath = join(journeysDir, 'attempts.jsonl');
    const p = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
connectors:
  journeys:
    directory: ${journeysDir}
    trace_wait: 30s
    settle_delay: 200ms
exporters:
  debug: {}
  debug/attempts: { verbosity: normal, path: ${attemptsPath} }
service:
  pipelines:
    traces/in: { receivers: [otlp], exporters: [journeys] }
    traces/out: { receivers: [journeys], exporters: [debug] }
    attempts: { receivers: [journeys], exporters: [debug/attempts] }
`);
    // Nothing is exported until the test flushes, service by service.
    const shop = createShop({ endpoints: { http: `http://127.0.0.1:${port}` }, transport: 'http/protobuf', scheduledDelayMillis: 600_000 });
    try {
      const attempt = shop.checkout({ tier: 'pro' });
      await shop.flush(['frontend']); // the start span: the attempt now waits for its charge
      await waitFor(async () => /pulse_journey_pending_attempts\{[^}]*\} 1\b/.test(await p.metrics()), 10_000, 'the attempt pending');

      // An edit elsewhere (the connector's own settings unchanged: otherwise it decides what it holds, as at a stop).
      writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace('  debug: {}', '  debug: { verbosity: basic }'));
      p.child.kill('SIGHUP');
      await waitFor(() => /configuration reloaded/.test(p.output()), 15_000, 'reload applied');
      expect(p.output()).toMatch(/kept the pending attempts and open SLI windows across the reload/);

      await shop.flush(['payments', 'notifier']);
      const lines = await waitFor(() => {
        if (!existsSync(attemptsPath)) return undefined;
        const found = readFileSync(attemptsPath, 'utf8')
          .split('\n')
          .filter((l) => l.includes(attempt.traceId));
        return found.length > 0 ? found : undefined;
      }, 10_000, 'the attempt decided');
      await new Promise((r) => setTimeout(r, 500));
      const decided = readFileSync(attemptsPath, 'utf8')
        .split('\n')
        .filter((l) => l.includes(attempt.traceId))
        .map((l) => JSON.parse(l) as { outcome: string; decidedBy: string });
      expect(lines.length).toBe(1);
      expect(decided.map((a) => [a.outcome, a.decidedBy])).toEqual([['success', 'complete']]);
      expect(await p.metrics()).not.toMatch(/pulse_journey_abandoned_attempts_total\{[^}]*\} [1-9]/);
    } finally {
      await shop.shutdown();
      await p.stop();
      rmSync(journeysDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('reload while requests keep arriving', () => {
  it('keeps the listening sockets: no request is refused or reset, and every span accepted is forwarded', async () => {
    const sink = await startHttpSink();
    const port = await freePort();
    const p = await startPulse(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${port} }
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
    try {
      const body = encodeTraceRequest(makeRealisticBatch({ services: 2, spansPerService: 10, seed: 300 }));
      let sent = 0;
      const failures: string[] = [];
      let stop = false;
      // Four senders back to back on keep-alive connections, as SDKs and collectors in front of a gateway.
      const sender = async () => {
        while (!stop) {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
            await res.arrayBuffer();
            if (res.status === 200) sent += 20;
            else failures.push(`HTTP ${res.status}`);
          } catch (err) {
            failures.push(String((err as Error).cause ?? err));
          }
        }
      };
      const senders = [sender(), sender(), sender(), sender()];
      for (const n of [1, 2, 3]) {
        await new Promise((r) => setTimeout(r, 700));
        writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace(/initial_interval: \d+ms/, `initial_interval: ${50 + n}ms`));
        const reloads = (p.output().match(/configuration reloaded/g) ?? []).length;
        p.child.kill('SIGHUP');
        await waitFor(() => (p.output().match(/configuration reloaded/g) ?? []).length > reloads, 15_000, `reload ${n} applied`);
      }
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await Promise.all(senders);
      expect(failures).toEqual([]);
      expect(sent).toBeGreaterThan(0);
      expect((p.output().match(/took over the listening sockets/g) ?? []).length).toBe(3);
      await waitFor(() => sink.spanCount() >= sent, 15_000, 'every accepted span forwarded');
      expect(sink.spanCount()).toBe(sent);
    } finally {
      await p.stop();
      await sink.close();
    }
  }, 60_000);
});
