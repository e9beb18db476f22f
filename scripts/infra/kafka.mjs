#!/usr/bin/env node
// CLI for a local single-node Kafka (logic in kafka-lib.mjs; see README.md beside this file).
//   node scripts/infra/kafka.mjs install
//   node scripts/infra/kafka.mjs start --dir <datadir> [--port N --controller-port N] [--reuse]
//   node scripts/infra/kafka.mjs stop --dir <datadir>
// `start` prints {pid, port, controllerPort, brokers, version} as JSON on stdout; progress goes to stderr.
import { parseArgs } from 'node:util';
import { installKafka, startKafka, stopKafka } from './kafka-lib.mjs';

const USAGE = `usage: kafka.mjs install
       kafka.mjs start --dir <datadir> [--port N] [--controller-port N] [--reuse]
       kafka.mjs stop --dir <datadir>`;

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
      port: { type: 'string' },
      'controller-port': { type: 'string' },
      reuse: { type: 'boolean', default: false },
    },
  });
  const [command] = positionals;
  const needDir = () => {
    if (!values.dir) throw new Error(`PULSE_ERR_INFRA_ARGS: ${command} needs --dir <datadir>\n${USAGE}`);
    return values.dir;
  };
  switch (command) {
    case 'install':
      installKafka();
      return;
    case 'start': {
      const ports = {};
      const p = port(values.port, 'port');
      const c = port(values['controller-port'], 'controller-port');
      if (p !== undefined) ports.port = p;
      if (c !== undefined) ports.controllerPort = c;
      const broker = await startKafka({ dir: needDir(), ports, reuse: values.reuse });
      const { pid, controllerPort, brokers, version } = broker;
      process.stdout.write(`${JSON.stringify({ pid, port: broker.port, controllerPort, brokers, version })}\n`);
      return;
    }
    case 'stop': {
      const { pid, killed } = await stopKafka({ dir: needDir() });
      process.stderr.write(pid === null ? '[infra/kafka] nothing recorded to stop\n' : `[infra/kafka] stopped pid ${pid}${killed ? ' (SIGKILL)' : ''}\n`);
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
