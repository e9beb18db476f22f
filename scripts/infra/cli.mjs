// The `install | start | stop` command line that clickhouse.mjs and kafka.mjs share: argument parsing, port flags,
// the --dir check, output (`start` prints JSON on stdout, everything else goes to stderr) and exit code 1 with the
// PULSE_ERR_INFRA_… message on failure.
import { parseArgs } from 'node:util';

/**
 * Runs the CLI of one local server and exits 1 on failure.
 * - `name`: the log prefix (`[infra/<name>]`); `usage`: printed with argument errors.
 * - `portFlags`: `[flag, key]` pairs, e.g. `['http-port', 'httpPort']`; each given flag must be a port number and
 *   lands in `ports[key]`. `options`: further parseArgs options (e.g. a boolean `reuse`).
 * - `install()`; `start({ dir, ports, values })` resolves the object printed as JSON; `stop({ dir })` resolves
 *   `{ pid, killed }` (pid null when nothing was recorded).
 */
export function runServerCli({ name, usage, portFlags, options = {}, install, start, stop }) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });

  async function main() {
    const { positionals, values } = parseArgs({
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        ...Object.fromEntries(portFlags.map(([flag]) => [flag, { type: 'string' }])),
        ...options,
      },
    });
    const [command] = positionals;
    const needDir = () => {
      if (!values.dir) throw new Error(`PULSE_ERR_INFRA_ARGS: ${command} needs --dir <datadir>\n${usage}`);
      return values.dir;
    };
    switch (command) {
      case 'install':
        install();
        return;
      case 'start': {
        const ports = {};
        for (const [flag, key] of portFlags) {
          const p = port(values[flag], flag);
          if (p !== undefined) ports[key] = p;
        }
        const summary = await start({ dir: needDir(), ports, values });
        process.stdout.write(`${JSON.stringify(summary)}\n`);
        return;
      }
      case 'stop': {
        const { pid, killed } = await stop({ dir: needDir() });
        process.stderr.write(pid === null ? `[infra/${name}] nothing recorded to stop\n` : `[infra/${name}] stopped pid ${pid}${killed ? ' (SIGKILL)' : ''}\n`);
        return;
      }
      default:
        throw new Error(`PULSE_ERR_INFRA_ARGS: unknown command ${JSON.stringify(command ?? '')}\n${usage}`);
    }
  }
}

function port(value, name) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`PULSE_ERR_INFRA_ARGS: --${name} must be a port number, got ${value}`);
  return n;
}
