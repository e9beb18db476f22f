#!/usr/bin/env node
// CLI for a local ClickHouse server (logic in clickhouse-lib.mjs, the command line in cli.mjs; see README.md).
//   node scripts/infra/clickhouse.mjs install
//   node scripts/infra/clickhouse.mjs start --dir <datadir> [--http-port N --tcp-port N --interserver-port N]
//   node scripts/infra/clickhouse.mjs stop --dir <datadir>
// `start` prints {pid, httpPort, tcpPort, interserverPort, version} as JSON on stdout; progress goes to stderr.
import { installClickHouse, startClickHouse, stopClickHouse } from './clickhouse-lib.mjs';
import { runServerCli } from './cli.mjs';

runServerCli({
  name: 'clickhouse',
  usage: `usage: clickhouse.mjs install
       clickhouse.mjs start --dir <datadir> [--http-port N] [--tcp-port N] [--interserver-port N]
       clickhouse.mjs stop --dir <datadir>`,
  portFlags: [
    ['http-port', 'httpPort'],
    ['tcp-port', 'tcpPort'],
    ['interserver-port', 'interserverPort'],
  ],
  install: () => installClickHouse(),
  async start({ dir, ports }) {
    const { pid, httpPort, tcpPort, interserverPort, version } = await startClickHouse({ dir, ports });
    return { pid, httpPort, tcpPort, interserverPort, version };
  },
  stop: stopClickHouse,
});
