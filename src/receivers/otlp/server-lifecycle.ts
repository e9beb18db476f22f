/** Binding a server to its endpoint (with an error that says which address failed and why) and bounded waits. */
import type { Server } from 'node:net';
import { PulseError } from '../../core/errors.js';
import type { HostPort } from '../../config/types.js';

const HINTS: Record<string, string> = {
  EADDRINUSE: 'another process (or another receiver) already listens there; stop it or pick another endpoint',
  EACCES: 'ports below 1024 need privileges; pick a port above 1024',
  EADDRNOTAVAIL: 'the host is not an address of this machine; use 0.0.0.0 or one of its addresses',
  ENOTFOUND: 'the host name does not resolve; use an IP address',
};

/** Listens on `endpoint` and resolves with the bound address (the real port when the config says 0). */
export function listen(server: Server, endpoint: HostPort, what: string): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const hint = (err.code !== undefined && HINTS[err.code]) || 'check the endpoint setting';
      reject(
        new PulseError('PULSE_ERR_LISTEN', `${what} cannot listen on ${formatHostPort(endpoint)}: ${err.code ?? err.message}; ${hint}`, {
          cause: err,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      const addr = server.address();
      if (addr !== null && typeof addr === 'object') resolve({ host: addr.address, port: addr.port });
      else resolve(endpoint);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(endpoint.port, endpoint.host);
  });
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Resolves `true` when `p` settles within `ms`, `false` when the time ran out first. The timer is unref'd. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    void p.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
