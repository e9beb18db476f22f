/**
 * `pulse start`: load the config, start the service, and run until a signal.
 *
 * - Config issues: printed to stderr as `file:line:col: message`, exit code 1, nothing started.
 * - SIGTERM / SIGINT: graceful shutdown within `service.shutdown_timeout`, then 0. A second one exits 1 at once.
 * - SIGHUP: reload the file (see Service.reloadFromFile); an invalid file is logged and changes nothing.
 * - A component's fatal error, an uncaught exception or an unhandled rejection: logged as fatal, shutdown, 1.
 *
 * The promise resolves with the exit code once everything has stopped; the caller exits with it.
 */
import type { Logger } from 'pino';
import { version } from '../cli.js';
import type { ComponentRegistry } from '../components.js';
import { loadConfig } from '../config/load.js';
import { formatIssue, sortIssues, type PulseConfig } from '../config/model.js';
import type { HostPort } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { createRootLogger } from '../core/logger.js';
import { Service } from './service.js';

export interface RunStartOptions {
  readonly configPath: string;
  readonly registry: ComponentRegistry;
  /** Default: a pino root logger on stderr at `service.telemetry.logs.level`. */
  readonly logger?: Logger;
}

export async function runStart(options: RunStartOptions): Promise<number> {
  const { configPath, registry } = options;
  const loaded = loadConfig(configPath, registry);
  if ('issues' in loaded) {
    for (const issue of sortIssues([...loaded.issues, ...loaded.warnings], configPath)) process.stderr.write(formatIssue(issue) + '\n');
    process.stderr.write(`${configPath}: ${loaded.issues.length} problem(s); Pulse did not start\n`);
    return 1;
  }
  const { config } = loaded;
  const logger = options.logger ?? createRootLogger({ level: config.service.telemetry.logs.level });
  const log = logger.child({ component: 'service' });
  for (const w of loaded.warnings) log.warn(`configuration: ${formatIssue(w)}`);

  return new Promise<number>((resolve) => {
    let exiting = false;
    const finish = (code: number, why: string): void => {
      if (exiting) return;
      exiting = true;
      log.info(`stopping Pulse (${why})`);
      void service.shutdown().then((report) => {
        uninstall();
        const unfinished = report.unfinished.length + report.failed.length;
        log.info(unfinished === 0 ? 'Pulse stopped' : `Pulse stopped; ${unfinished} component(s) did not stop cleanly`);
        resolve(code);
      });
    };
    const service = new Service({
      registry,
      logger,
      version: pulseVersion(),
      loadConfig: (path) => loadConfig(path, registry),
      onFatalError: () => finish(1, 'a component failed'),
    });

    const onStop = (signal: NodeJS.Signals): void => {
      if (exiting) {
        log.fatal(`${signal} again: exiting now, without finishing the shutdown`);
        process.exit(1);
      }
      finish(0, signal);
    };
    const onHangUp = (): void => {
      if (exiting) return;
      void service.reloadFromFile(config.path);
    };
    const onCrash = (err: unknown): void => {
      log.fatal({ err }, `unexpected error, shutting down: ${errorMessage(err)}`);
      finish(1, 'unexpected error');
    };
    const install = (): void => {
      process.on('SIGTERM', onStop);
      process.on('SIGINT', onStop);
      process.on('SIGHUP', onHangUp);
      process.on('uncaughtException', onCrash);
      process.on('unhandledRejection', onCrash);
    };
    const uninstall = (): void => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHangUp);
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    };

    install();
    service.start(config).then(
      () => {
        if (exiting) return;
        log.info(
          {
            config: config.path,
            pipelines: [...config.service.pipelines.keys()],
            receivers: receiverAddresses(config),
            health: addressText(service.healthAddress),
            metrics: addressText(service.metricsAddress),
          },
          'Pulse started',
        );
      },
      (err: unknown) => {
        log.error({ err }, `Pulse did not start: ${(err as { code?: string }).code ?? 'PULSE_ERR_START'}: ${errorMessage(err)}`);
        exiting = true;
        uninstall();
        resolve(1);
      },
    );
  });
}

/** `id → host:port` of every receiver's configured listening addresses (found by shape in its config). */
function receiverAddresses(config: PulseConfig): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [id, rc] of config.receivers) {
    const found: string[] = [];
    collectAddresses(rc.config, 0, found);
    if (found.length > 0) out[id] = found;
  }
  return out;
}

function collectAddresses(value: unknown, depth: number, found: string[]): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  const v = value as Record<string, unknown>;
  if (typeof v.host === 'string' && typeof v.port === 'number') {
    found.push(addressText({ host: v.host, port: v.port }));
    return;
  }
  for (const child of Object.values(v)) collectAddresses(child, depth + 1, found);
}

function addressText(a: HostPort | undefined): string {
  if (!a) return 'off';
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function pulseVersion(): string {
  try {
    return version();
  } catch {
    return 'unknown';
  }
}
