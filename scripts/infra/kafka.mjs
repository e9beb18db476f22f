#!/usr/bin/env node
// CLI for a local single-node Kafka (logic in kafka-lib.mjs, the command line in cli.mjs; see README.md).
//   node scripts/infra/kafka.mjs install
//   node scripts/infra/kafka.mjs start --dir <datadir> [--port N --controller-port N] [--reuse]
//   node scripts/infra/kafka.mjs stop --dir <datadir>
// `start` prints {pid, port, controllerPort, brokers, version} as JSON on stdout; progress goes to stderr.
import { installKafka, startKafka, stopKafka } from './kafka-lib.mjs';
import { runServerCli } from './cli.mjs';

runServerCli({
  name: 'kafka',
  usage: `usage: kafka.mjs install
       kafka.mjs start --dir <datadir> [--port N] [--controller-port N] [--reuse]
       kafka.mjs stop --dir <datadir>`,
  portFlags: [
    ['port', 'port'],
    ['controller-port', 'controllerPort'],
  ],
  options: { reuse: { type: 'boolean', default: false } },
  install: () => installKafka(),
  async start({ dir, ports, values }) {
    const { pid, port, controllerPort, brokers, version } = await startKafka({ dir, ports, reuse: values.reuse });
    return { pid, port, controllerPort, brokers, version };
  },
  stop: stopKafka,
});
