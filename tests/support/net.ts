import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP port that is free now on 127.0.0.1, for a server a test will start a moment later (tests never assume
 * fixed ports).
 *
 * Why not simply bind port 0 and close: the OS hands out port-0 ports from the ephemeral range, so between our
 * close and the server's bind another server in a parallel test (or ClickHouse, Kafka, an HTTP client's local
 * port) can be given the same port, and the test fails with EADDRINUSE. Ports handed out here come from a range
 * below the ephemeral one (Linux: 32768+), one block per vitest worker, walked in order and checked with a bind,
 * so they collide neither with port-0 binds nor with the other worker.
 */
const BLOCK = 1000;
const workerIndex = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? '0') % 10;
// Offset by the process id so that a second run started while an earlier one lingers starts elsewhere in the block.
let cursor = process.pid % BLOCK;

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = 20_000 + workerIndex * BLOCK + (cursor++ % BLOCK);
    if (await canBind(port)) return port;
  }
  return bindAnyPort();
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function bindAnyPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export interface TcpProxy {
  readonly port: number;
  /** Client connections accepted so far. */
  connections(): number;
  /**
   * Stops forwarding on every connection open now, in both directions, without closing it (no FIN, no RST): what a
   * network partition or a peer that stopped reading looks like to the client. Later connections are forwarded.
   */
  partition(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `targetPort`, to cut connections the way a network does rather than a peer. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<{ client: Socket; upstream: Socket }>();
  let count = 0;
  const server = createServer((client) => {
    count++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    open.add(pair);
    const drop = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    partition() {
      for (const { client, upstream } of open) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const { client, upstream } of open) {
          client.destroy();
          upstream.destroy();
        }
        open.clear();
        server.close(() => resolve());
      }),
  };
}
