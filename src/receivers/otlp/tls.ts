/** Reads the TLS files of a protocol's config at start, with errors that name the file and the field. */
import { readFileSync } from 'node:fs';
import { PulseError } from '../../core/errors.js';
import type { TlsConfig } from './config.js';

export interface TlsServerOptions {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** Mutual TLS: ask for and require a client certificate signed by `ca`. */
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

export function loadTls(config: TlsConfig, where: string): TlsServerOptions {
  const read = (field: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new PulseError(
        'PULSE_ERR_TLS',
        `cannot read ${where}.tls.${field} "${file}": ${(err as Error).message}; point it at a readable PEM file`,
        { cause: err },
      );
    }
  };
  const opts: TlsServerOptions = {
    cert: read('cert_file', config.cert_file),
    key: read('key_file', config.key_file),
    requestCert: false,
    rejectUnauthorized: false,
  };
  if (config.client_ca_file !== undefined) {
    opts.ca = read('client_ca_file', config.client_ca_file);
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  }
  return opts;
}
