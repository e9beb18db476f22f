/**
 * Throwaway certificates for TLS tests, made with the openssl command line (tests using them skip without it, see
 * hasOpenssl):
 * - makeSelfSignedCert: one self-signed certificate for localhost / 127.0.0.1 (EC P-256), valid for a day;
 * - makeTestCertificates: a CA, a server certificate for 127.0.0.1 / localhost signed by it, and a client
 *   certificate signed by it. Keys are PKCS#8, unencrypted (what Kafka's PEM keystores and Node's tls take).
 *   Valid for two days.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  /** The CA certificate (PEM). */
  readonly caFile: string;
  /** The server's certificate and its key (PEM), for 127.0.0.1 and localhost. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Server key followed by its certificate (one PEM file: a Kafka PEM keystore). */
  readonly serverKeystoreFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  remove(): void;
}

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
}

export function makeSelfSignedCert(dir: string): { cert: Buffer; key: Buffer; certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-certs-'));
  const key = (name: string): string[] => ['-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`];
  openssl(dir, ['req', '-x509', ...key('ca'), '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Pulse test CA']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [['server', '/CN=127.0.0.1', ['-extfile', 'server.ext']], ['client', '/CN=pulse', []]] as const) {
    openssl(dir, ['req', ...key(name), '-out', `${name}.csr`, '-subj', cn]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...ext]);
  }
  const serverKeystoreFile = join(dir, 'server-keystore.pem');
  writeFileSync(serverKeystoreFile, readFileSync(join(dir, 'server.key'), 'utf8') + readFileSync(join(dir, 'server.pem'), 'utf8'));
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    serverKeystoreFile,
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
