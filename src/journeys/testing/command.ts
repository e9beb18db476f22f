/**
 * `pulse journeys test --journeys <dir|file> --traces <file...> [--format text|json]`: how an SRE tests a journey
 * edit before shipping it (and `pulse journeys validate --journeys <dir|file>`: the definitions alone, see
 * `runJourneysValidate`). Loads the definitions (every problem at `file:line:col`), runs the recorded traces
 * through the real journeys data plane, and prints per trace the attempts found and why they succeeded or failed.
 *
 * Exit codes: 0 the definitions are valid (whatever the attempts' outcomes); 1 the definitions are invalid
 * (every issue printed, sorted by file and position; the traces are not read); 2 the command line is wrong or a
 * trace file is unreadable or malformed (each problem on stderr as `file:line[:col]: …`; nothing is evaluated).
 *
 * Output goes to stdout: the report (text, or one JSON document with `--format json`), or the definition issues
 * (text lines, or `{ "valid": false, "issues": [...] }`). Usage errors and trace-file problems go to stderr.
 */
import type { Readable } from 'node:stream';
import { formatIssue, sortIssues } from '../../config/model.js';
import { loadJourneys } from '../definition/load.js';
import { JourneyTestRun } from './evaluate.js';
import type { JourneyTestReport } from './report.js';
import { renderText } from './render-text.js';
import { formatTraceProblem, readTraceFiles } from './trace-files.js';

export const JOURNEYS_TEST_USAGE = 'journeys test --journeys <dir|file> --traces <file...> [--format text|json]';
export const JOURNEYS_VALIDATE_USAGE = 'journeys validate --journeys <dir|file> [--format text|json]';

/** What the CLI's option parser hands over (the shape of `node:util` parseArgs values). */
export type CommandValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface JourneysCommandIo {
  out(text: string): void;
  err(text: string): void;
  /** What `--traces -` reads; default `process.stdin`. */
  readonly stdin?: Readable;
  /** The fixed clock of the evaluation (decision time); default now. */
  readonly nowMs?: number;
}

export interface JourneysTestOptions {
  readonly journeysPath: string;
  /** Files in the order their requests are processed; `-` is standard input. */
  readonly traceFiles: readonly string[];
  readonly format: 'text' | 'json';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function usageError(io: JourneysCommandIo, message: string): number {
  io.err(`pulse journeys: ${message}\n\nUsage: pulse ${JOURNEYS_TEST_USAGE}\n       pulse ${JOURNEYS_VALIDATE_USAGE}`);
  return 2;
}

function strings(v: CommandValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/**
 * The `journeys` command: `positionals[0]` is the subcommand, `test` or `validate`; for `test`, further words are
 * more trace files (`--traces a.jsonl b.jsonl`, as a shell glob expands), allowed only after `--traces` was given.
 */
export async function journeysCommand(args: { values: CommandValues; positionals: readonly string[] }, io: JourneysCommandIo): Promise<number> {
  const [sub, ...rest] = args.positionals;
  if (sub === undefined) return usageError(io, 'no subcommand given');
  if (sub !== 'test' && sub !== 'validate') return usageError(io, `unknown subcommand "${sub}"`);
  const journeysPath = args.values.journeys;
  if (typeof journeysPath !== 'string' || journeysPath === '') return usageError(io, `${sub}: --journeys <dir|file> is required`);
  if (sub === 'validate') {
    if (rest.length > 0) return usageError(io, `validate: unexpected argument "${rest[0]}"`);
    if (strings(args.values.traces).length > 0) return usageError(io, 'validate: --traces belongs to journeys test');
    const format = formatOf(args.values);
    if (format === undefined) return usageError(io, `validate: --format must be text or json, got "${String(args.values.format)}"`);
    return runJourneysValidate(journeysPath, format, io);
  }
  const given = strings(args.values.traces);
  if (given.length === 0) {
    return usageError(io, rest.length > 0 ? `test: unexpected argument "${rest[0]}" (trace files follow --traces)` : 'test: --traces <file...> is required');
  }
  const format = formatOf(args.values);
  if (format === undefined) return usageError(io, `test: --format must be text or json, got "${String(args.values.format)}"`);
  return runJourneysTest({ journeysPath, traceFiles: [...given, ...rest], format }, io);
}

/** `--format`: `text` (the default) or `json`; undefined for anything else. */
function formatOf(values: CommandValues): 'text' | 'json' | undefined {
  const format = values.format ?? 'text';
  return format === 'text' || format === 'json' ? format : undefined;
}

/**
 * `journeys validate`: the definitions alone, without a Pulse config or traces — every problem as
 * `file:line:col: message`, warnings included. Exit 0 when valid (warnings or not), 1 on any error.
 */
export function runJourneysValidate(journeysPath: string, format: 'text' | 'json', io: JourneysCommandIo): number {
  const loaded = loadJourneys(journeysPath);
  const errors = 'issues' in loaded ? loaded.issues : [];
  const issues = sortIssues([...errors, ...loaded.warnings], journeysPath);
  const names = 'issues' in loaded ? [] : loaded.snapshot.journeys.map((j) => j.name);
  if (format === 'json') {
    const list = issues.map((i) => ({ file: i.file, line: i.line, col: i.col, severity: i.severity ?? 'error', message: i.message }));
    io.out(JSON.stringify({ valid: errors.length === 0, journeys: names, issues: list }, null, 2));
  } else {
    const warnings = loaded.warnings.length > 0 ? `, ${plural(loaded.warnings.length, 'warning')}` : '';
    const verdict = errors.length > 0 ? `${plural(errors.length, 'error')}${warnings}` : `valid (${plural(names.length, 'journey')}: ${names.join(', ')}${warnings})`;
    io.out([...issues.map(formatIssue), `${journeysPath}: ${verdict}`].join('\n'));
  }
  return errors.length > 0 ? 1 : 0;
}

/** Runs `journeys test`; resolves with the exit code (see the file comment). */
export async function runJourneysTest(options: JourneysTestOptions, io: JourneysCommandIo): Promise<number> {
  const { journeysPath, format } = options;
  const loaded = loadJourneys(journeysPath);
  if ('issues' in loaded) {
    const issues = sortIssues([...loaded.issues, ...loaded.warnings], journeysPath);
    if (format === 'json') {
      const list = issues.map((i) => ({ file: i.file, line: i.line, col: i.col, severity: i.severity ?? 'error', message: i.message }));
      io.out(JSON.stringify({ valid: false, issues: list }, null, 2));
    } else {
      const warnings = loaded.warnings.length > 0 ? `, ${plural(loaded.warnings.length, 'warning')}` : '';
      io.out([...issues.map(formatIssue), `${journeysPath}: ${plural(loaded.issues.length, 'error')}${warnings}; nothing was tested`].join('\n'));
    }
    return 1;
  }

  const run = new JourneyTestRun(loaded.snapshot, io.nowMs);
  const read = await readTraceFiles(options.traceFiles, (batch, at) => run.add(batch, at), io.stdin ? { stdin: io.stdin } : {});
  if (read.problems.length > 0) {
    for (const p of read.problems) io.err(formatTraceProblem(p));
    io.err(`pulse journeys test: the trace files cannot be used as they are (see above); nothing was evaluated`);
    return 2;
  }
  const result = run.finish();
  const report: JourneyTestReport = {
    valid: true,
    journeys: { path: journeysPath, files: loaded.files, names: loaded.snapshot.journeys.map((j) => j.name) },
    inputs: read.files,
    warnings: [
      ...sortIssues(loaded.warnings, journeysPath).map(formatIssue),
      ...read.warnings.map((w) => formatTraceProblem({ ...w, message: `warning: ${w.message}` })),
    ],
    ...result,
  };
  io.out(format === 'json' ? JSON.stringify(report, null, 2) : renderText(report));
  return 0;
}
