/**
 * The `pulse` command line: a table of commands and a thin dispatcher. `bin/pulse` calls `main()` and exits with
 * the code it resolves to: 0 success, 1 the command failed (an invalid config, a service that stopped on an
 * error), 2 the command line itself was wrong (unknown command or flag; usage goes to stderr).
 *
 * To add a command (`pulse journeys test …`), add an entry to `COMMANDS`: its options are parsed with
 * `node:util` `parseArgs` (strict), and its `run` gets the parsed values and the positionals after its name, so
 * a command with subcommands dispatches on `positionals[0]` itself.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ComponentRegistry } from './components.js';
import { loadConfig } from './config/load.js';
import { formatIssue, sortIssues, type ConfigIssue, type PulseConfig } from './config/model.js';
import { errorMessage } from './core/errors.js';

export const DEFAULT_CONFIG_PATH = 'config/pulse.yaml';

/** What commands touch outside themselves, so tests can run `main()` in-process with fakes. */
export interface CliDeps {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly registry: () => Promise<ComponentRegistry> | ComponentRegistry;
  readonly runStart: (options: { configPath: string; registry: ComponentRegistry }) => Promise<number>;
}

type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  readonly name: string;
  /** One line for `pulse help`. */
  readonly summary: string;
  /** The synopsis after `pulse `, e.g. `validate [--config <file>]`. */
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Whether extra words after the command name are allowed (subcommands, file lists). */
  readonly positionals?: boolean;
  run(args: { values: OptionValues; positionals: string[] }, deps: CliDeps): Promise<number>;
}

const configOption = {
  config: { type: 'string', short: 'c', default: DEFAULT_CONFIG_PATH },
} as const satisfies ParseArgsConfig['options'];

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function componentCount(config: PulseConfig): number {
  return config.receivers.size + config.processors.size + config.exporters.size + config.connectors.size;
}

export const COMMANDS: readonly Command[] = [
  {
    name: 'start',
    summary: 'Validate a config file, then run its pipelines until SIGINT/SIGTERM',
    usage: `start [--config <file>]   (default ${DEFAULT_CONFIG_PATH})`,
    options: configOption,
    async run({ values }, deps) {
      const configPath = String(values.config);
      const registry = await deps.registry();
      const result = loadConfig(configPath, registry);
      if ('issues' in result) {
        for (const issue of sortIssues([...result.issues, ...result.warnings], configPath)) deps.err(formatIssue(issue));
        deps.err(`pulse: not starting: ${configPath} has ${plural(result.issues.length, 'error')}`);
        return 1;
      }
      // Valid: the service loads it again (cheap) and logs the warnings through its logger.
      return deps.runStart({ configPath, registry });
    },
  },
  {
    name: 'validate',
    summary: 'Check a config file (and the files it points at, such as journeys) and print every problem as file:line:col: message',
    usage: `validate [--config <file>]   (default ${DEFAULT_CONFIG_PATH})`,
    options: configOption,
    async run({ values }, deps) {
      const configPath = String(values.config);
      const result = loadConfig(configPath, await deps.registry());
      const errors: readonly ConfigIssue[] = 'issues' in result ? result.issues : [];
      // The config file's issues first, then those of the files its components point at (journey definitions).
      for (const issue of sortIssues([...errors, ...result.warnings], configPath)) deps.out(formatIssue(issue));
      const warnings = result.warnings.length > 0 ? `, ${plural(result.warnings.length, 'warning')}` : '';
      if ('issues' in result) {
        deps.out(`${configPath}: ${plural(errors.length, 'error')}${warnings}`);
        return 1;
      }
      const { config } = result;
      deps.out(
        `${configPath}: valid (${plural(config.service.pipelines.size, 'pipeline')}, ${plural(componentCount(config), 'component')}${warnings})`,
      );
      return 0;
    },
  },
  {
    name: 'journeys',
    summary:
      'Check journey definitions on their own (validate), or test them against recorded traces (OTLP/JSON): per trace, the attempts found and why they succeeded or failed',
    usage:
      'journeys validate --journeys <dir|file> [--format text|json]\n       pulse journeys test --journeys <dir|file> --traces <file...> [--format text|json]   (`-` reads traces from stdin)',
    options: {
      journeys: { type: 'string', short: 'j' },
      traces: { type: 'string', short: 't', multiple: true },
      format: { type: 'string', short: 'f', default: 'text' },
    },
    positionals: true,
    async run(args, deps) {
      // Loaded on demand: the journeys runtime is not needed by any other command.
      const { journeysCommand } = await import('./journeys/testing/command.js');
      return journeysCommand(args, deps);
    },
  },
  {
    name: 'help',
    summary: 'Show this help (or `pulse help <command>`)',
    usage: 'help [<command>]',
    options: {},
    positionals: true,
    run({ positionals }, deps) {
      const name = positionals[0];
      if (name === undefined) {
        deps.out(usage());
        return Promise.resolve(0);
      }
      const command = COMMANDS.find((c) => c.name === name);
      if (!command) {
        deps.err(`pulse: unknown command "${name}"\n\n${usage()}`);
        return Promise.resolve(2);
      }
      deps.out(`Usage: pulse ${command.usage}\n\n${command.summary}`);
      return Promise.resolve(0);
    },
  },
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: pulse <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    `  -c, --config <file>  Config file (default: ${DEFAULT_CONFIG_PATH})`,
    '  -h, --help           Show help (also: pulse <command> --help)',
    '  -v, --version        Print the version',
  ].join('\n');
}

/** The version in package.json (one directory up from both src/ and dist/). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

const defaultDeps: CliDeps = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  // Loaded on demand, so `pulse --version` and `pulse help` do not load every component.
  registry: async () => (await import('./components.js')).defaultRegistry(),
  runStart: async (options) => (await import('./service/run.js')).runStart(options),
};

function usageError(deps: CliDeps, message: string): number {
  deps.err(`pulse: ${message}\n\n${usage()}`);
  return 2;
}

/** Runs one command line (without `node` and the script); resolves with the process exit code. */
export async function main(argv: readonly string[], overrides: Partial<CliDeps> = {}): Promise<number> {
  const deps: CliDeps = { ...defaultDeps, ...overrides };
  const [first, ...rest] = argv;
  if (first === undefined) return usageError(deps, 'no command given');
  if (first === '--version' || first === '-v') {
    deps.out(version());
    return 0;
  }
  if (first === '--help' || first === '-h') {
    deps.out(usage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) return usageError(deps, first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    deps.out(`Usage: pulse ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: command.positionals ?? false, strict: true });
  } catch (err) {
    return usageError(deps, `${command.name}: ${errorMessage(err)}`);
  }
  try {
    return await command.run(parsed, deps);
  } catch (err) {
    deps.err(`pulse ${command.name}: ${errorMessage(err)}`);
    return 1;
  }
}
