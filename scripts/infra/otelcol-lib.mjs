/**
 * A real OpenTelemetry Collector for interoperability tests and the benchmark's reference run: the core
 * components of `bench/e2e/otelcol-builder.yaml` (otlp receiver, memory_limiter, otlphttp exporter), built once
 * with the Collector's `builder` from the Go module proxy and cached. Needs Go (`go` on PATH).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withInstallLock } from './process-control.mjs';

const BUILDER_CONFIG = fileURLToPath(new URL('../../bench/e2e/otelcol-builder.yaml', import.meta.url));

/** The Collector version the builder config pins (`dist.version`). */
export const OTELCOL_VERSION = /^\s+version:\s*(\S+)/m.exec(readFileSync(BUILDER_CONFIG, 'utf8'))?.[1] ?? 'unknown';

const GO_DEFAULT = '/usr/local/go/bin/go';

const log = (message) => process.stderr.write(`[otelcol] ${message}\n`);

/** Where the binary is: `PULSE_OTELCOL` when set, else the cache (`~/.cache/pulse/otelcol-<version>/otelcol-ref`). */
export function otelcolBinary() {
  return process.env.PULSE_OTELCOL || join(homedir(), '.cache', 'pulse', `otelcol-${OTELCOL_VERSION}`, 'otelcol-ref');
}

/**
 * Builds the Collector into `otelcolBinary()` unless it is there. Idempotent (returns at once when built);
 * concurrent installers serialise on a lock; the binary is built in a sibling temp dir and renamed into place, so
 * an interrupted build never leaves a binary that looks complete. ~70 s on 2 cores with empty Go caches (the
 * module cache then holds ~580 MB, the build cache ~710 MB).
 */
export function installOtelcol({ quiet = false } = {}) {
  const binary = otelcolBinary();
  if (existsSync(binary)) {
    if (!quiet) log(`OpenTelemetry Collector ${OTELCOL_VERSION} already built: ${binary}`);
    return { installed: false, binary };
  }
  if (process.env.PULSE_OTELCOL) throw new Error(`PULSE_ERR_INFRA_INSTALL: PULSE_OTELCOL is ${binary}, which does not exist`);
  return withInstallLock(`otelcol-${OTELCOL_VERSION}`, () => {
    if (existsSync(binary)) return { installed: false, binary };
    return build(binary);
  });
}

function build(binary) {
  mkdirSync(dirname(binary), { recursive: true });
  const work = mkdtempSync(join(dirname(binary), '.build-'));
  try {
    const env = { ...process.env, GOBIN: join(work, 'bin') };
    // Go's own installer puts it in /usr/local/go/bin, which a non-login shell's PATH may lack.
    if (spawnSync('go', ['version'], { env, stdio: 'ignore' }).error && existsSync(GO_DEFAULT)) env.PATH = `${dirname(GO_DEFAULT)}:${env.PATH ?? ''}`;
    const run = (command, args, what) => {
      log(`${what}: ${command} ${args.join(' ')}`);
      const res = spawnSync(command, args, { cwd: work, env, stdio: ['ignore', 'inherit', 'inherit'] });
      if (res.error) throw new Error(`PULSE_ERR_INFRA_INSTALL: could not run ${command} (${res.error.message}); install Go (https://go.dev/dl or apt-get install -y golang)`);
      if (res.status !== 0) throw new Error(`PULSE_ERR_INFRA_INSTALL: ${what} failed (exit ${res.status}); see its output above`);
    };
    run('go', ['install', `go.opentelemetry.io/collector/cmd/builder@v${OTELCOL_VERSION}`], 'installing the Collector builder');
    const out = join(work, 'out');
    const config = readFileSync(BUILDER_CONFIG, 'utf8').replace(/^(\s+output_path:).*$/m, `$1 ${out}`);
    writeFileSync(join(work, 'builder.yaml'), config);
    run(join(work, 'bin', 'builder'), ['--config', join(work, 'builder.yaml')], `building OpenTelemetry Collector ${OTELCOL_VERSION}`);
    const built = join(out, 'otelcol-ref');
    if (!existsSync(built)) throw new Error(`PULSE_ERR_INFRA_INSTALL: the builder finished but ${built} is missing`);
    renameSync(built, binary);
    log(`built ${binary}`);
    return { installed: true, binary };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
