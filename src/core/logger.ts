/**
 * One pino root logger per process; each component gets `root.child({ component: id })`. Logs are JSON lines on
 * stderr by default (stdout stays free for commands that print results, like `validate`).
 */
import { pino, destination, stdTimeFunctions, type Logger, type Level } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where log lines go: a file descriptor, 2 (stderr) by default. */
  destination?: number;
}

export function createRootLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'pulse' },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination({ dest: options.destination ?? 2, sync: true }),
  );
}
