/**
 * `JourneyStore`: the current journey definitions of one directory (or file), kept up to date while Pulse runs.
 *
 * - **One store per directory per process.** `JourneyStore.acquire(dir, …)` returns the store for that absolute
 *   path, creating it on first use; each `acquire` must be paired with one `release()`. The journeys connector and
 *   (later) the SLO evaluator acquire the same store and so always read the same snapshot. The options of the
 *   first `acquire` apply (logger, metrics, polling interval).
 * - **Snapshots.** `current()` returns the immutable `JourneySnapshot` in force; a reload builds a whole new one
 *   and swaps the reference, so a reader holding a snapshot keeps a consistent view for as long as it likes (this
 *   is how attempts in flight finish under the definitions they started with). Before `start()` succeeds,
 *   `current()` is an empty snapshot of generation 0.
 * - **Hot reload.** Two triggers, because neither is enough alone: `fs.watch` on the directory (immediate, but
 *   it misses changes on some filesystems and behind symlinks), and polling (default every 2 s) of a fingerprint
 *   of the journey files' names, sizes, mtimes and inodes (symlinks followed) plus the `..data` symlink's target
 *   — the fingerprint is what notices a Kubernetes ConfigMap update, where the kubelet swaps the `..data` symlink
 *   atomically and the files' own top-level symlinks do not change. Triggers are debounced (200 ms), so an editor
 *   saving in several writes or a ConfigMap swap in several renames causes one reload.
 * - **On a change**: the files are loaded (definition/load.ts). Invalid → the current snapshot stays, every issue
 *   is logged with its `file:line:col` in one error line, and `pulse_journey_reload_failures_total` counts it (a
 *   broken state is logged once, not at every poll). Valid and different → the new snapshot (generation + 1)
 *   replaces the old, listeners are called, `pulse_journey_reloads_total` counts it. Valid but identical text
 *   (a `touch`, or a broken edit undone) → nothing changes; after a broken state, an info line says the files
 *   are valid again.
 *
 * Metrics (label `directory`, as given): `pulse_journey_reloads_total`, `pulse_journey_reload_failures_total`
 * (counters; the initial load is not a reload), `pulse_journeys_loaded` (gauge: journeys in the current snapshot),
 * `pulse_journey_definitions_valid` (gauge: 1 when the files were valid at the last look, 0 when they had
 * problems — the counter only ever grows, this says whether the problem is still there).
 *
 * Files are read synchronously on the event loop: journey directories are a few small files, and a reload that
 * reads them in one go cannot interleave with another.
 */
import { watch, readdirSync, readlinkSync, lstatSync, statSync, type FSWatcher } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { BoundCounter, BoundGauge, MetricsRegistry } from '../core/telemetry.js';
import { PulseError, errorMessage } from '../core/errors.js';
import { formatIssue, type ConfigIssue } from '../config/model.js';
import type { JourneySnapshot } from './model.js';
import { EMPTY_SNAPSHOT } from './definition/compile.js';
import { isJourneyFileName, loadJourneys } from './definition/load.js';

export interface JourneyStoreOptions {
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** How often to compare the files' fingerprint, in ms. Default 2000; 0 turns polling off (fs.watch only). */
  readonly pollIntervalMs?: number;
  /** How long to wait after a change is noticed before loading, in ms. Default 200. */
  readonly debounceMs?: number;
  /** Use `fs.watch` as well as polling. Default true; false relies on polling alone (tests, odd filesystems). */
  readonly watch?: boolean;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'invalid';

/** Called after a new snapshot is in force. Exceptions are logged and do not stop other listeners. */
export type JourneyListener = (snapshot: JourneySnapshot, previous: JourneySnapshot) => void;

export const DEFAULT_POLL_INTERVAL_MS = 2000;
export const DEFAULT_DEBOUNCE_MS = 200;

export class JourneyStore {
  private static readonly stores = new Map<string, JourneyStore>();

  private snapshot: JourneySnapshot = EMPTY_SNAPSHOT;
  private digest: string | undefined;
  /** Fingerprint of the files at the last load attempt (good or bad): polling reloads only when it changes. */
  private lastFingerprint: string | undefined;
  private started = false;
  private references = 0;
  private readonly listeners = new Set<JourneyListener>();
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly reloads: BoundCounter;
  private readonly failures: BoundCounter;
  private readonly loaded: BoundGauge;
  private readonly valid: BoundGauge;
  /** The last load attempt found problems: the next valid one says so, even when nothing changed. */
  private lastAttemptFailed = false;
  private readonly pollIntervalMs: number;
  private readonly debounceMs: number;
  private readonly useWatch: boolean;

  private constructor(
    /** The path as given to the first `acquire` (used in messages and the metrics label). */
    readonly directory: string,
    /** The absolute path: the key stores are shared by. */
    readonly path: string,
    options: JourneyStoreOptions,
  ) {
    this.logger = options.logger.child({ journeys_dir: directory });
    const labels = { directory };
    this.reloads = options.metrics
      .counter('pulse_journey_reloads_total', 'Journey definitions reloaded after a change (the initial load is not counted)')
      .with(labels);
    this.failures = options.metrics
      .counter('pulse_journey_reload_failures_total', 'Reloads of journey definitions rejected as invalid; the last good definitions stayed in force')
      .with(labels);
    this.loaded = options.metrics.gauge('pulse_journeys_loaded', 'Journeys in the definitions in force').with(labels);
    this.valid = options.metrics
      .gauge(
        'pulse_journey_definitions_valid',
        'Whether the journey files were valid at the last look (1) or had problems (0: the last good definitions stay in force)',
      )
      .with(labels);
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.useWatch = options.watch ?? true;
  }

  /** The store for `directory` (a journeys directory or file), shared per absolute path; pair with `release()`. */
  static acquire(directory: string, options: JourneyStoreOptions): JourneyStore {
    const path = resolve(directory);
    let store = JourneyStore.stores.get(path);
    if (!store) {
      store = new JourneyStore(directory, path, options);
      JourneyStore.stores.set(path, store);
    }
    store.references++;
    return store;
  }

  /** Gives back one `acquire`. The last release stops watching and polling; the store is then forgotten. */
  release(): void {
    if (this.references === 0) return;
    this.references--;
    if (this.references > 0) return;
    this.stopWatching();
    if (JourneyStore.stores.get(this.path) === this) JourneyStore.stores.delete(this.path);
  }

  /**
   * Loads the definitions and starts watching for changes. Resolves once they are in force; rejects with a
   * `PulseError` `PULSE_ERR_JOURNEYS` listing every issue (`file:line:col: message`, one per line) when they are
   * invalid (then nothing is watched, and a later `start()` tries again). Idempotent: every caller of a shared
   * store may call it.
   */
  start(): Promise<void> {
    if (this.started) return Promise.resolve();
    const fingerprint = journeyFingerprint(this.path);
    const result = loadJourneys(this.directory, { generation: 1 });
    this.logWarnings(result.warnings);
    if ('issues' in result) {
      this.valid.set(0);
      const lines = result.issues.map(formatIssue);
      const count = `${lines.length} ${lines.length === 1 ? 'problem' : 'problems'}`;
      return Promise.reject(
        new PulseError('PULSE_ERR_JOURNEYS', `the journey definitions in ${this.directory} are invalid (${count}); fix them and start again:\n${lines.join('\n')}`),
      );
    }
    this.lastFingerprint = fingerprint;
    this.snapshot = result.snapshot;
    this.digest = result.digest;
    this.loaded.set(result.snapshot.journeys.length);
    this.valid.set(1);
    this.lastAttemptFailed = false;
    this.started = true;
    if (this.references > 0) this.startWatching();
    this.logger.info(
      { generation: result.snapshot.generation, journeys: result.snapshot.journeys.map((j) => j.name), files: result.files },
      `loaded ${result.snapshot.journeys.length} journeys from ${this.directory}`,
    );
    return Promise.resolve();
  }

  /** The snapshot in force (an empty one of generation 0 before `start()` succeeded). */
  current(): JourneySnapshot {
    return this.snapshot;
  }

  /** Calls `listener` after every successful reload; returns a function that unsubscribes it. */
  onChange(listener: JourneyListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Reloads now, whether or not anything seems to have changed (SIGHUP, tests): `reloaded` when a different,
   * valid set of definitions is now in force, `unchanged` when they are identical, `invalid` when they were
   * rejected (logged and counted). Rejects when `start()` has not succeeded yet.
   */
  reloadNow(): Promise<ReloadOutcome> {
    if (!this.started) {
      return Promise.reject(new PulseError('PULSE_ERR_JOURNEYS', `the journey store for ${this.directory} is not started: call start() first`));
    }
    return Promise.resolve(this.reload(journeyFingerprint(this.path)));
  }

  private startWatching(): void {
    if (this.pollIntervalMs > 0 && !this.pollTimer) {
      this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
    if (this.watcher || !this.useWatch) return;
    // A single file is watched through its directory: editors and ConfigMaps replace files rather than write them.
    let target = this.path;
    try {
      if (!statSync(this.path).isDirectory()) target = dirname(this.path);
      this.watcher = watch(target, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => {
        this.logger.warn({ err: errorMessage(err) }, `watching ${target} failed; changes are noticed by polling only`);
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, `cannot watch ${target}; changes are noticed by polling only`);
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
  }

  private poll(): void {
    if (journeyFingerprint(this.path) !== this.lastFingerprint) this.schedule();
  }

  private schedule(): void {
    if (this.references === 0) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      const fingerprint = journeyFingerprint(this.path);
      if (fingerprint !== this.lastFingerprint) this.reload(fingerprint);
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  private reload(fingerprint: string): ReloadOutcome {
    this.lastFingerprint = fingerprint;
    const previous = this.snapshot;
    let result: ReturnType<typeof loadJourneys>;
    try {
      result = loadJourneys(this.directory, { generation: previous.generation + 1 });
    } catch (err) {
      // A bug in the loader must not take the data plane down: treat it as an invalid edit.
      result = { issues: [{ file: this.directory, line: 0, col: 0, message: `the journeys could not be loaded: ${errorMessage(err)}` }], warnings: [] };
    }
    this.logWarnings(result.warnings);
    if ('issues' in result) {
      this.failures.inc();
      this.valid.set(0);
      this.lastAttemptFailed = true;
      const lines = result.issues.map(formatIssue);
      this.logger.error(
        { generation: previous.generation, issues: lines },
        `journey definitions in ${this.directory} not reloaded (${lines.length} ${lines.length === 1 ? 'problem' : 'problems'}), ` +
          `keeping generation ${previous.generation}: ${lines.join(' | ')}`,
      );
      return 'invalid';
    }
    this.valid.set(1);
    const recovered = this.lastAttemptFailed;
    this.lastAttemptFailed = false;
    if (result.digest === this.digest) {
      // Back to the text in force (an edit undone): say so, or the log would end with the error.
      if (recovered) {
        this.logger.info(
          { generation: previous.generation },
          `journey definitions in ${this.directory} valid again (the files are unchanged from generation ${previous.generation}, which stayed in force)`,
        );
      }
      return 'unchanged';
    }
    this.snapshot = result.snapshot;
    this.digest = result.digest;
    this.reloads.inc();
    this.loaded.set(result.snapshot.journeys.length);
    this.logger.info(
      { generation: result.snapshot.generation, journeys: result.snapshot.journeys.map((j) => j.name) },
      `reloaded ${result.snapshot.journeys.length} journeys from ${this.directory} (generation ${result.snapshot.generation})`,
    );
    for (const listener of this.listeners) {
      try {
        listener(result.snapshot, previous);
      } catch (err) {
        this.logger.error({ err: errorMessage(err) }, 'a journey change listener failed');
      }
    }
    return 'reloaded';
  }

  private logWarnings(warnings: readonly ConfigIssue[]): void {
    if (warnings.length > 0) this.logger.warn({ warnings: warnings.map(formatIssue) }, `journey definitions in ${this.directory}: ${warnings.map(formatIssue).join(' | ')}`);
  }
}

function describeEntry(file: string): string {
  let link = '';
  try {
    if (lstatSync(file).isSymbolicLink()) link = `->${readlinkSync(file)}`;
    const st = statSync(file);
    return `${link}:${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return `${link}:missing`;
  }
}

/**
 * A text that changes whenever the journey files `path` stands for change: names, sizes, mtimes and inodes of
 * the files (symlinks followed, link targets included), and the target of a ConfigMap's `..data` symlink.
 */
export function journeyFingerprint(path: string): string {
  let names: string[];
  try {
    if (!statSync(path).isDirectory()) return describeEntry(path);
    names = readdirSync(path).sort();
  } catch {
    return 'missing';
  }
  const parts: string[] = [];
  for (const name of names) {
    if (name === '..data') parts.push(`..data${describeEntry(join(path, name))}`);
    else if (isJourneyFileName(name)) parts.push(`${name}${describeEntry(join(path, name))}`);
  }
  return parts.join('\n');
}
