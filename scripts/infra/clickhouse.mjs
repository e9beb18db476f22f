#!/usr/bin/env node
// CLI for a local ClickHouse server (logic in clickhouse-lib.mjs; see README.md beside this file).
//   node scripts/infra/clickhouse.mjs install
//   node scripts/infra/clickhouse.mjs start --dir <datadir> [--http-port N --tcp-port N --interserver-port N]
//   node scripts/infra/clickhouse.mjs stop --dir <datadir>
// `start` prints {pid, httpPort, tcpPort, interserverPort, version} as JSON on stdout; progress goes to stderr.
import { parseArgs } from 'node:util';
import { installClickHouse, startClickHouse, stopClickHouse } from './clickhouse-lib.mjs';

const USAGE = `usage: clickhouse.mjs install
       clickhouse.mjs start --dir <datadir> [--http-port N] [--tcp-port N] [--interserver-port N]
       clickhouse.mjs stop --dir <datadir>`;

const port = (value, name) => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`PULSE_ERR_INFRA_ARGS: --${name} must be a port number, got ${value}`);
  return n;
};

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'http-port': { type: 'string' },
      'tcp-port': { type: 'string' },
      'interserver-port': { type: 'string' },
    },
  });
  const [command] = positionals;
  const needDir = () => {
    if (!values.dir) throw new Error(`PULSE_ERR_INFRA_ARGS: ${command} needs --dir <datadir>\n${USAGE}`);
    return values.dir;
  };
  switch (command) {
    case 'install':
      installClickHouse();
      return;
    case 'start': {
      const ports = {};
      for (const [flag, key] of [['http-port', 'httpPort'], ['tcp-port', 'tcpPort'], ['interserver-port', 'interserverPort']]) {
        const p = port(values[flag], flag);
        if (p !== undefined) ports[key] = p;
      }
      const server = await startClickHouse({ dir: needDir(), ports });
      const { pid, httpPort, tcpPort, interserverPort, version } = server;
      process.stdout.write(`${JSON.stringify({ pid, httpPort, tcpPort, interserverPort, version })}\n`);
      return;
    }
    case 'stop': {
      const { pid, killed } = await stopClickHouse({ dir: needDir() });
      process.stderr.write(pid === null ? '[infra/clickhouse] nothing recorded to stop\n' : `[infra/clickhouse] stopped pid ${pid}${killed ? ' (SIGKILL)' : ''}\n`);
      return;
    }
    default:
      throw new Error(`PULSE_ERR_INFRA_ARGS: unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
