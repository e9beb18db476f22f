import { describe, expect, it } from 'vitest';
import type { TraceBatch } from '../../../src/core/model.js';
import { PermanentError } from '../../../src/core/errors.js';
import type { QueuedExporter } from '../../../src/exporters/exporterhelper/index.js';
import { configSchema, tracesUrl } from '../../../src/exporters/otlphttp/config.js';
import { otlphttpExporterFactory } from '../../../src/exporters/otlphttp/factory.js';
import { parseRetryAfter } from '../../../src/exporters/otlphttp/retry-after.js';
import { freePort } from '../../support/net.js';
import { encodeStatus, encodeTraceResponse } from '../../../src/otlp/index.js';
import { makeRealisticBatch } from '../../support/traces.js';
import { bytes, startFakeHttpOtlp, type FakeHttpOtlp } from '../../support/fake-otlp-servers.js';
import { useOtlpTestBed } from './otlp-test-bed.js';
import { host, makeSettings, metric, until, type TestSettings } from './settings.js';
import { hasOpenssl, makeSelfSignedCert } from '../../support/tls-certs.js';

const bed = useOtlpTestBed<FakeHttpOtlp>('otlphttp/test', (port) => startFakeHttpOtlp(port));
const ex = { exporter: 'otlphttp/test' };

function parse(over: Record<string, unknown>) {
  return configSchema.parse({
    retry_on_failure: { initial_interval: '10ms', max_interval: '50ms' },
    sending_queue: { num_consumers: 1 },
    ...over,
  });
}

async function exporter(over: Record<string, unknown>, s: TestSettings = bed.settings): Promise<QueuedExporter<TraceBatch>> {
  const e = otlphttpExporterFactory.create.traces!(s, parse(over)) as QueuedExporter<TraceBatch>;
  bed.exporters.push(e);
  await e.start(host);
  return e;
}

const batch = (seed: number): TraceBatch => makeRealisticBatch({ services: 2, spansPerService: 15, seed });

describe('config', () => {
  it('needs endpoint or traces_endpoint, and appends /v1/traces to endpoint', () => {
    expect(configSchema.safeParse({}).error?.issues[0]?.path).toEqual(['endpoint']);
    expect(configSchema.safeParse({ endpoint: 'collector:4318' }).success).toBe(false);
    const c = configSchema.parse({ endpoint: 'http://collector:4318/' });
    expect(c.encoding).toBe('proto');
    expect(c.compression).toBe('gzip');
    expect(tracesUrl(c).href).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl(configSchema.parse({ endpoint: 'https://x/otlp' })).href).toBe('https://x/otlp/v1/traces');
    expect(tracesUrl(configSchema.parse({ endpoint: 'http://a', traces_endpoint: 'http://b/custom' })).href).toBe('http://b/custom');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('delivery', () => {
  for (const encoding of ['proto', 'json'] as const) {
    for (const compression of ['gzip', 'none'] as const) {
      it(`delivers batches intact (${encoding}, ${compression})`, async () => {
        const s = await bed.server();
        const e = await exporter({ endpoint: s.url, encoding, compression, headers: { 'X-Api-Key': 'k1' } });
        const sent = [batch(1), batch(2)];
        for (const b of sent) await e.consume(b);
        await until(() => s.delivered().length === 2);
        expect(s.delivered()).toEqual([batch(1), batch(2)]);
        const r = s.requests[0]!;
        expect(r.path).toBe('/v1/traces');
        expect(r.json).toBe(encoding === 'json');
        expect(r.gzip).toBe(compression === 'gzip');
        expect(r.headers['x-api-key']).toBe('k1');
        await until(() => metric(bed.settings, 'pulse_exporter_sent_items_total', ex) === 60);
      });
    }
  }

  it('retries after 503 and delivers exactly once', async () => {
    const s = await bed.server();
    s.replies = [{ status: 503 }];
    const e = await exporter({ endpoint: s.url });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    await e.shutdown(Date.now() + 1000);
    expect(s.requests.map((r) => r.answered)).toEqual([503, 200]);
    expect(s.delivered()).toHaveLength(1);
    expect(metric(bed.settings, 'pulse_exporter_retries_total', ex)).toBe(1);
  });

  it('drops a batch answered 500 without retrying it, as the OTLP spec requires for 5xx other than 502-504', async () => {
    const s = await bed.server();
    s.replies = [{ status: 500 }, { status: 501 }];
    const e = await exporter({ endpoint: s.url });
    await e.consume(batch(1));
    await e.consume(batch(2));
    await until(() => metric(bed.settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' }) > 0);
    await e.shutdown(Date.now() + 1000);
    expect(s.requests.map((r) => r.answered)).toEqual([500, 501]);
    expect(metric(bed.settings, 'pulse_exporter_retries_total', ex)).toBe(0);
  });

  it('waits as long as Retry-After says before retrying a 429', async () => {
    const s = await bed.server();
    s.replies = [{ status: 429, headers: { 'retry-after': '1' } }];
    const e = await exporter({ endpoint: s.url });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1, 5000);
    expect(s.requests[1]!.at - s.requests[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('drops a batch refused with 400, counts it, logs the server message, and does not retry', async () => {
    const s = await bed.server();
    s.replies = [{ status: 400, body: bytes(encodeStatus(3, 'span 7 has no trace id')) }];
    const e = await exporter({ endpoint: s.url });
    await e.consume(batch(1));
    await e.consume(batch(2));
    await until(() => s.delivered().length === 1);
    expect(s.requests.map((r) => r.answered)).toEqual([400, 200]);
    expect(metric(bed.settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'permanent' })).toBe(30);
    const line = bed.settings.logs.find((l) => l.code === 'PULSE_ERR_EXPORT_REJECTED');
    expect(String(line?.err)).toContain('span 7 has no trace id');
  });

  it('surfaces a 400 as a PermanentError when the queue is disabled', async () => {
    const s = await bed.server();
    s.replies = [{ status: 400, headers: { 'content-type': 'application/json' }, body: '{"code":3,"message":"bad json"}' }];
    const e = await exporter({ endpoint: s.url, sending_queue: { enabled: false } });
    const err = await e.consume(batch(1)).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toContain('bad json');
  });

  it('times out a destination that does not answer, and retries', async () => {
    const s = await bed.server();
    s.replies = ['hang'];
    const e = await exporter({ endpoint: s.url, timeout: '100ms' });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    expect(s.requests.map((r) => r.answered)).toEqual(['hang', 200]);
  });

  it('shuts down by its deadline while the destination hangs, counting the batches it could not send', async () => {
    const s = await bed.server();
    s.replies = ['hang', 'hang'];
    const e = await exporter({ endpoint: s.url, timeout: '30s' });
    await e.consume(batch(1));
    await e.consume(batch(2));
    await until(() => s.requests.length === 1);
    const t0 = Date.now();
    await e.shutdown(Date.now() + 300);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(metric(bed.settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'shutdown' })).toBe(60);
  });

  it('counts spans rejected in a partial success (protobuf and JSON)', async () => {
    const s = await bed.server();
    s.replies = [{ status: 200, body: bytes(encodeTraceResponse(4, 'too old')) }];
    const e = await exporter({ endpoint: s.url });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
    await until(() => metric(bed.settings, 'pulse_exporter_send_failed_items_total', { ...ex, reason: 'rejected_by_destination' }) === 4);
    expect(metric(bed.settings, 'pulse_exporter_sent_items_total', ex)).toBe(26);

    s.replies = [{ status: 200, body: '{"partialSuccess":{"rejectedSpans":"2","errorMessage":"dup"}}' }];
    const s2 = makeSettings(bed.dir.path, 'otlphttp/json');
    const j = await exporter({ endpoint: s.url, encoding: 'json' }, s2);
    await j.consume(batch(2));
    await until(() => metric(s2, 'pulse_exporter_send_failed_items_total', { exporter: 'otlphttp/json', reason: 'rejected_by_destination' }) === 2);
    expect(s2.logs.some((l) => l.destinationMessage === 'dup')).toBe(true);
  });

  it('retries while the destination is down and delivers once it comes up', async () => {
    const port = await freePort();
    const e = await exporter({ endpoint: `http://127.0.0.1:${port}` });
    await e.consume(batch(1));
    await until(() => metric(bed.settings, 'pulse_exporter_retries_total', ex) >= 2);
    expect(bed.settings.logs.some((l) => l.code === 'PULSE_ERR_EXPORT_CONNECT')).toBe(true);
    const s = await bed.server(port);
    await until(() => s.delivered().length === 1);
    expect(s.delivered()[0]).toEqual(batch(1));
  });

  it('keeps batches on disk while the destination is down and a new instance delivers each exactly once, in order', async () => {
    const port = await freePort();
    const cfg = { endpoint: `http://127.0.0.1:${port}`, sending_queue: { num_consumers: 1, persistent: true } };
    const first = await exporter(cfg);
    for (let i = 1; i <= 6; i++) await first.consume(batch(i));
    await first.shutdown(Date.now() + 100);

    const s = await bed.server(port);
    const second = await exporter(cfg, makeSettings(bed.dir.path, 'otlphttp/test'));
    await second.consume(batch(7));
    await until(() => s.delivered().length === 7);
    await second.shutdown(Date.now() + 1000);
    expect(s.delivered()).toEqual([1, 2, 3, 4, 5, 6, 7].map(batch));
  });

  it.skipIf(!hasOpenssl())('sends over HTTPS, trusting the CA from tls.ca_file', async () => {
    const tls = makeSelfSignedCert(bed.dir.path);
    const s = await startFakeHttpOtlp(0, tls);
    bed.servers.push(s);
    const e = await exporter({ endpoint: s.url, tls: { ca_file: tls.certFile } });
    await e.consume(batch(1));
    await until(() => s.delivered().length === 1);
  });

  it.skipIf(!hasOpenssl())('a certificate the exporter does not trust: retried, nothing dropped, and the log names the TLS settings', async () => {
    const tls = makeSelfSignedCert(bed.dir.path);
    const s = await startFakeHttpOtlp(0, tls);
    bed.servers.push(s);
    const e = await exporter({ endpoint: s.url }); // no ca_file: the system CAs do not know this self-signed certificate
    await e.consume(batch(1));
    await until(() => metric(bed.settings, 'pulse_exporter_retries_total', ex) >= 2);
    expect(s.delivered()).toEqual([]);
    const tlsLog = bed.settings.logs.find((l) => l.code === 'PULSE_ERR_EXPORT_TLS');
    expect(JSON.stringify(tlsLog)).toMatch(/TLS handshake with https:\/\/127\.0\.0\.1:\d+\/v1\/traces failed: .*self[- ]signed certificate.*check tls\.ca_file/);
  });

  it('fails start with a clear error when a TLS file is missing', async () => {
    const e = otlphttpExporterFactory.create.traces!(bed.settings, parse({ endpoint: 'https://127.0.0.1:1', tls: { ca_file: '/nonexistent/ca.pem' } }));
    bed.exporters.push(e as QueuedExporter<TraceBatch>);
    await expect(e.start(host)).rejects.toMatchObject({ code: 'PULSE_ERR_TLS_FILE' });
  });
});
