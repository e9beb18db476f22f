/**
 * Client-side TLS settings shared by exporters that connect out (otlp, otlphttp, later ClickHouse): the config
 * fragment and the loading of its files at start, so a missing or unreadable file fails `start()` with a clear
 * error instead of the first send.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PulseError, errorMessage } from '../../core/errors.js';

/** `withInsecure` adds `insecure` (plaintext), for transports whose endpoint has no scheme (gRPC `host:port`). */
export function clientTlsSchema(opts: { withInsecure: boolean }) {
  return z
    .object({
      ...(opts.withInsecure
        ? { insecure: z.boolean().default(false).describe('Connect without TLS (plaintext; for gRPC: h2c)') }
        : {}),
      ca_file: z.string().min(1).optional().describe('PEM file of the CA(s) that sign the server certificate; default: the system CAs'),
      cert_file: z.string().min(1).optional().describe('PEM client certificate, for mutual TLS (needs key_file)'),
      key_file: z.string().min(1).optional().describe('PEM private key of cert_file'),
      insecure_skip_verify: z.boolean().default(false).describe('Accept any server certificate (testing only: allows interception)'),
      server_name_override: z.string().min(1).optional().describe('Name to verify the server certificate against (SNI), instead of the endpoint host'),
    })
    .superRefine((t, ctx) => {
      if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [t.cert_file === undefined ? 'cert_file' : 'key_file'],
          message: 'mutual TLS needs both cert_file and key_file',
        });
      }
    })
    .describe('TLS towards the destination');
}

export interface ClientTlsConfig {
  ca_file?: string | undefined;
  cert_file?: string | undefined;
  key_file?: string | undefined;
  insecure_skip_verify: boolean;
  server_name_override?: string | undefined;
}

/** Options for `https.Agent` / `http2.connect` / `tls.connect`. */
export interface LoadedTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

export async function loadClientTls(cfg: ClientTlsConfig): Promise<LoadedTls> {
  const out: LoadedTls = { rejectUnauthorized: !cfg.insecure_skip_verify };
  if (cfg.ca_file !== undefined) out.ca = await readTlsFile(cfg.ca_file, 'tls.ca_file');
  if (cfg.cert_file !== undefined) out.cert = await readTlsFile(cfg.cert_file, 'tls.cert_file');
  if (cfg.key_file !== undefined) out.key = await readTlsFile(cfg.key_file, 'tls.key_file');
  if (cfg.server_name_override !== undefined) out.servername = cfg.server_name_override;
  return out;
}

async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new PulseError('PULSE_ERR_TLS_FILE', `cannot read ${field} ${path}: ${errorMessage(err)}; fix the path or its permissions`, {
      cause: err,
    });
  }
}

/**
 * What to check after a failed handshake with `peer` (`server`, `broker`, `destination`), naming the exporter's
 * `tls` fields; `serverNameOverride` for exporters that have that field.
 */
export function tlsHint(peer: string, { serverNameOverride = false } = {}): string {
  const sni = serverNameOverride ? `tls.server_name_override if its certificate names another host, ` : '';
  return `check tls.ca_file (the CA that signed the ${peer} certificate), tls.cert_file and key_file if the ${peer} requires a client certificate, ${sni}and that the endpoint speaks TLS`;
}

/** Node's certificate verification codes (`err.code`) and OpenSSL/Node TLS failures as they appear in messages. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|HOSTNAME_MISMATCH)/;
const TLS_TEXT =
  /unable to (verify|get local issuer)|self[- ]signed certificate|certificate (has expired|is not yet valid|signature failure|required)|Hostname\/IP does not match|ERR_TLS_|SSL routines|wrong version number|alert (bad|unknown|unsupported) certificate/i;

/**
 * True when `err` (or a cause up to 5 deep) is a failed TLS handshake: a certificate the client or the server would
 * not accept, or a port that does not speak TLS. A setup problem to name in logs ("check tls.ca_file …"), not an
 * outage; callers still retry (certificates get fixed while data waits).
 */
export function isTlsFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && TLS_CODES.test(code)) return true;
    if (typeof message === 'string' && TLS_TEXT.test(message)) return true;
  }
  return false;
}
