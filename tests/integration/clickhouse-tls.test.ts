/**
 * The clickhouse exporter's `tls` settings against a real ClickHouse 18.16 serving HTTPS with a certificate from a
 * throwaway CA and requiring a client certificate (scripts/infra/clickhouse-lib.mjs `tls`, tests/support/tls-certs.ts):
 * ca_file + client certificate writes the rows; without the client certificate, or without ca_file for the private
 * CA, Pulse still starts, keeps the rows queued and retried (nothing dropped) and says it is a TLS problem.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/exporters/clickhouse/config.js';
import type { ClickHouseExporter } from '../../src/exporters/clickhouse/exporter.js';
import { clickhouseExporterFactory } from '../../src/exporters/clickhouse/factory.js';
import { startTestClickHouse, type TestClickHouse } from '../support/clickhouse.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs.js';
import { host, makeSettings, metric, tempDir, until, type TestSettings } from '../unit/exporters/settings.js';
import { attempt, scalar } from './clickhouse-support.js';

let ch: TestClickHouse;
let certs: TestCertificates;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  certs = makeTestCertificates();
  // The server certificate for 127.0.0.1 from the test CA; clients must present one signed by the same CA.
  ch = await startTestClickHouse({ tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile } });
}, 300_000);

afterAll(async () => {
  await ch?.close();
  certs?.remove();
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const EXPORTER = 'clickhouse/tls@attempts';

async function exporterFor(database: string, tls: Record<string, unknown>): Promise<TestSettings & { exporter: ClickHouseExporter<'attempts'> }> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const settings = makeSettings(dir.path, 'clickhouse/tls');
  const cfg = configSchema.parse({
    endpoint: ch.httpsUrl,
    database,
    tls,
    timeout: '2s',
    batch: { flush_timeout: '50ms' },
    retry_on_failure: { initial_interval: '100ms', max_interval: '300ms' },
  });
  const exporter = clickhouseExporterFactory.create.attempts!(settings, cfg) as ClickHouseExporter<'attempts'>;
  cleanup.push(() => exporter.shutdown(Date.now() + 1000));
  await exporter.start(host);
  return { ...settings, exporter };
}

/** Rows are neither written nor dropped: they wait while inserts fail as `tls`; returns the log. */
async function waits(s: TestSettings & { exporter: ClickHouseExporter<'attempts'> }): Promise<string> {
  await s.exporter.consume([attempt(1), attempt(2)]);
  await until(() => metric(s, 'pulse_clickhouse_insert_errors_total', { exporter: EXPORTER, code: 'tls' }) >= 2, 20_000, 'TLS failures');
  expect(metric(s, 'pulse_exporter_sent_items_total', { exporter: EXPORTER })).toBe(0);
  for (const reason of ['permanent', 'retries_exhausted', 'rejected_by_destination']) {
    expect(metric(s, 'pulse_exporter_send_failed_items_total', { exporter: EXPORTER, reason })).toBe(0);
  }
  expect(s.exporter.queueSize).toBeGreaterThan(0);
  return s.logs.map((l) => JSON.stringify(l)).join('\n');
}

describe('clickhouse exporter over HTTPS (the server requires a client certificate)', () => {
  it('ca_file + client certificate: the schema is created and the rows land', async () => {
    const s = await exporterFor('tls_ok', { ca_file: certs.caFile, cert_file: certs.clientCertFile, key_file: certs.clientKeyFile });
    await s.exporter.consume([attempt(1), attempt(2)]);
    await until(() => metric(s, 'pulse_exporter_sent_items_total', { exporter: EXPORTER }) === 2, 20_000, 'rows sent');
    expect(await scalar((q) => ch.query(q), 'SELECT count() FROM tls_ok.journey_attempts FINAL')).toBe(2);
  }, 60_000);

  it('without the client certificate: Pulse starts, the rows wait, and the log names the TLS handshake', async () => {
    const log = await waits(await exporterFor('tls_nocert', { ca_file: certs.caFile }));
    expect(log).toMatch(/TLS handshake with ClickHouse failed at start: check tls\.ca_file/);
  }, 60_000);

  it('without ca_file (a private CA, so the system CAs): the server certificate is not trusted; the rows wait', async () => {
    // (cert_file needs ca_file with ClickHouse: the config refuses it alone.)
    const log = await waits(await exporterFor('tls_noca', {}));
    expect(log).toMatch(/TLS handshake with ClickHouse failed at start.*self[- ]signed certificate in certificate chain/s);
  }, 60_000);
});
