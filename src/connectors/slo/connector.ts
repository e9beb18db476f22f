/**
 * The `slo` connector: the exporter end of `journey_metrics` and `attempts` pipelines and the receiver end of an
 * `alerts` pipeline.
 *
 *     journey_metrics ──▶ SloEngine.ingestRows   ┐
 *     attempts        ──▶ SloEngine.ingestAttempts├─ every evaluation_interval: evaluate ──▶ BoundedSender ──▶ alerts out
 *     journey store (objective, alert rules) ─────┘
 *
 * Consuming only adds counts to in-memory series (never waits on the output). The evaluation timer (unref'd)
 * runs every rule and hands events to the `alerts` output through a bounded, ordered sender. Definitions come
 * from the shared `JourneyStore` of the directory (the same snapshot the journeys connector matches with); a
 * reload changes the rules from the next evaluation. At start, with `clickhouse` configured, windows and firing
 * alerts are rebuilt from history (best effort).
 *
 * With `clickhouse.follow`, no pipeline feeds it: it reads the SLI rows and attempts that every gateway writes to
 * ClickHouse every `follow.interval` (see follow.ts), so that one evaluator sees all of a scaled-out gateway tier's
 * traffic. Its first successful read is the rebuild above.
 */
import type { ConnectorComponent, ConnectorOutputs, CreateSettings, Host } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import { RetryableError, errorMessage } from '../../core/errors.js';
import type { BoundCounter } from '../../core/telemetry.js';
import type { AttemptRecord, JourneySnapshot, SliWindow } from '../../journeys/model.js';
import type { AlertEvent, AlertKind } from '../../alerts/model.js';
import { SloEngine } from '../../alerts/engine.js';
import { BoundedSender, dropCounters } from '../shared/bounded-sender.js';
import { UnexpectedErrorLog } from '../shared/error-log.js';
import { FollowedJourneys, type JourneySource, type JourneySourceOptions } from '../shared/journey-source.js';
import type { SloConnectorConfig, SloFollowConfig } from './config.js';
import type { HistorySource } from './history.js';
import { SliDeltas } from './follow.js';
import { LogThrottle } from '../../core/log-throttle.js';

export interface SloConnectorDeps {
  openSource(directory: string, options: JourneySourceOptions): JourneySource;
  /** Where to rebuild state from at start; `undefined` = start empty. */
  readonly history?: HistorySource | undefined;
  /** Wall clock, ms since epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Event ids. Default `crypto.randomUUID`. */
  readonly newId?: () => string;
  /** Set false to drive `evaluate()` by hand (tests). Default true. */
  readonly timer?: boolean;
}

const KINDS: readonly AlertKind[] = ['burn_rate', 'segment', 'heartbeat', 'release_regression'];

/** `ms` rounded down to a whole second: SQL reads compare `toDateTime(seconds)`. */
function wholeSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** History read back as stored for this long (the engine's 10 s buckets); older windows come summed (history.ts). */
const RAW_HISTORY_MS = 2 * 3_600_000;

export class SloConnector implements ConnectorComponent {
  readonly inputs: { readonly journey_metrics: Consumer<SliWindow[]>; readonly attempts: Consumer<AttemptRecord[]> };

  /** Replaced at start by the previous config's engine when a reload hands it over (`adoptHandover`). */
  engine: SloEngine;
  /** What an engine handed over on a reload must match to be adopted: its options, and `follow`'s. */
  private readonly handoverKey: string;
  private readonly now: () => number;
  private readonly sender: BoundedSender<AlertEvent>;
  private readonly errors: UnexpectedErrorLog;
  private readonly unobserve: Array<() => void> = [];
  private readonly evaluations: BoundCounter;
  private readonly evaluationErrors: BoundCounter;
  private readonly emitted: Record<'firing' | 'repeat' | 'resolved', BoundCounter>;
  private readonly rows: BoundCounter;
  private readonly attempts: BoundCounter;
  private definitions: FollowedJourneys | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private evaluating: Promise<void> | undefined;
  private readonly following: Following | undefined;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: SloConnectorConfig,
    outputs: ConnectorOutputs,
    private readonly deps: SloConnectorDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.errors = new UnexpectedErrorLog(settings.logger, 'slo connector');
    const engineOptions = {
      maxHistoryMs: config.history.max,
      maxSeries: config.history.max_series,
      fixedDelayMs: config.sli_delay === 'auto' ? undefined : config.sli_delay,
      initialDelayMs: 30_000,
      recentAttempts: config.recent_attempts,
      suspects: { maxSuspects: config.max_suspects, maxExemplars: config.exemplars, minFailures: 2, minLift: 1.2, minShare: 0.05 },
    };
    this.engine = new SloEngine(engineOptions, deps.newId);
    this.handoverKey = JSON.stringify([engineOptions, config.clickhouse?.follow ?? null]);
    const registry = settings.metrics;
    const labels = { connector: settings.id };
    this.evaluations = registry.counter('pulse_slo_evaluations_total', 'Evaluations of every alert rule by the slo connector').with(labels);
    this.evaluationErrors = registry
      .counter('pulse_slo_evaluation_errors_total', 'Evaluations that failed unexpectedly (a bug; logged rate-limited)')
      .with(labels);
    const events = registry.counter('pulse_slo_events_total', 'Alert events produced, by type: firing (new), repeat (re-sent while firing), resolved');
    this.emitted = { firing: events.with({ ...labels, type: 'firing' }), repeat: events.with({ ...labels, type: 'repeat' }), resolved: events.with({ ...labels, type: 'resolved' }) };
    const dropped = registry.counter('pulse_slo_events_dropped_total', 'Alert events dropped (reason: overflow, permanent, shutdown)');
    // Every event waiting goes in one send (no maxBatch), in order.
    this.sender = new BoundedSender<AlertEvent>(outputs.alerts, {
      maxWaiting: config.max_pending_events,
      dropped: dropCounters((reason) => dropped.with({ ...labels, reason })),
      wording: { items: 'alert event(s)', output: 'the alerts output', refuser: 'the alerts output', unit: 'event(s)', retry: 'at the next evaluation', awaited: 'an alerts output' },
      logger: settings.logger,
    });
    this.rows = registry.counter('pulse_slo_rows_total', 'SLI rows consumed by the slo connector').with(labels);
    this.attempts = registry.counter('pulse_slo_attempts_total', 'Attempt records consumed by the slo connector').with(labels);
    this.unobserve.push(
      registry
        .gauge('pulse_slo_alerts_firing', 'Alerts firing now, by kind')
        .observe((set) => {
          const byKind = this.engine.firingByKind();
          for (const kind of KINDS) set({ ...labels, kind }, byKind[kind]);
        }),
      registry.gauge('pulse_slo_series', 'SLI series (journey all-traffic and segment values) held in memory').observe((set) => set(labels, this.engine.seriesCount)),
      registry
        .gauge('pulse_slo_buckets', 'Time buckets held over all SLI series (about 24 bytes each)')
        .observe((set) => set(labels, this.engine.buckets)),
      registry
        .counter('pulse_slo_rows_dropped_total', 'Segment SLI rows not kept because history.max_series was reached')
        .observe((set) => set(labels, this.engine.droppedRows)),
      registry.gauge('pulse_slo_pending_events', 'Alert events waiting for the alerts output (for the exporter it feeds with the most waiting)').observe((set) => set(labels, this.sender.waiting)),
    );

    const follow = config.clickhouse?.follow;
    if (follow !== undefined && deps.history !== undefined) {
      const polls = registry.counter('pulse_slo_follow_polls_total', 'Reads of the SLI rows and attempts in ClickHouse (clickhouse.follow), by result: ok, error');
      this.following = {
        config: follow,
        source: deps.history,
        deltas: new SliDeltas(),
        primed: false,
        lastReadMs: 0,
        attemptsFromSec: 0,
        failedPolls: 0,
        timer: undefined,
        polling: undefined,
        log: new LogThrottle(60_000),
        ok: polls.with({ ...labels, result: 'ok' }),
        failed: polls.with({ ...labels, result: 'error' }),
        skipped: registry
          .counter('pulse_slo_follow_evaluations_skipped_total', 'Evaluations not run because the last read of ClickHouse failed (clickhouse.follow)')
          .with(labels),
        truncated: registry
          .counter('pulse_slo_follow_attempts_truncated_total', 'Reads of attempts that found more than follow.max_attempts (the most recent were kept)')
          .with(labels),
      };
      const following = this.following;
      this.unobserve.push(
        registry
          .gauge('pulse_slo_follow_windows', 'SLI windows read again at every poll (those that started within follow.lookback)')
          .observe((set) => set(labels, following.deltas.size)),
      );
    }

    this.inputs = {
      journey_metrics: { mutatesData: false, consume: (rows) => this.consumeRows(rows) },
      attempts: { mutatesData: false, consume: (records) => this.consumeAttempts(records) },
    };
  }

  async start(_host: Host): Promise<void> {
    this.definitions = await FollowedJourneys.start(
      (directory, options) => this.deps.openSource(directory, options),
      this.config.directory,
      this.settings,
      this.config.reload_poll_interval,
    );
    const adopted = this.adoptHandover();
    this.definitions.follow((snapshot) => this.apply(snapshot));
    if (adopted) {
      // Nothing to rebuild: the windows, firing alerts and (with follow) the read position are the previous config's.
    } else if (this.following) await this.poll();
    else if (this.deps.history) await this.rebuild(this.deps.history);
    if (this.deps.timer !== false) {
      this.timer = setInterval(() => void this.evaluate(), this.config.evaluation_interval);
      this.timer.unref();
      if (this.following) {
        this.following.timer = setInterval(() => void this.poll(), this.following.config.interval);
        this.following.timer.unref();
      }
    }
  }

  /**
   * With `clickhouse.follow`: reads what the gateways wrote since the last poll and hands it to the engine (run by
   * its timer; public so tests drive time). Until one read succeeds, each poll is the rebuild from history; after
   * it, each reads the SLI windows that started within `lookback` of the last successful read (so a failed poll
   * loses nothing that is still within it) and the attempts decided since the last one, `attempts_delay` ago.
   * Resolves when done; a failure is counted and logged (rate-limited), and the next poll tries again.
   */
  poll(): Promise<void> {
    const f = this.following;
    if (f === undefined || this.stopped) return Promise.resolve();
    f.polling ??= this.pollOnce(f).finally(() => {
      f.polling = undefined;
    });
    return f.polling;
  }

  private async pollOnce(f: Following): Promise<void> {
    const now = this.now();
    const journeys = this.definitions?.current().journeys.map((j) => j.name) ?? [];
    const lookback = f.config.lookback;
    try {
      if (!f.primed) {
        const sinceMs = now - this.engine.historyMs();
        // Windows within lookback as stored: the next polls compare their sums with these.
        const rows = await f.source.loadSli(sinceMs, journeys, { nowMs: now, rawFromMs: Math.min(now - lookback, now - RAW_HISTORY_MS) });
        const alerts = await f.source.loadFiringAlerts(sinceMs);
        this.engine.restoreHistory(rows, sinceMs, now);
        this.engine.restoreAlerts(alerts);
        f.deltas.remember(rows, wholeSecond(now - lookback));
        f.primed = true;
        f.lastReadMs = now;
        f.attemptsFromSec = Math.floor((now - lookback) / 1000);
        this.settings.logger.info(
          { rows: rows.length, firing: alerts.length, since: new Date(sinceMs).toISOString() },
          `slo: rebuilt ${rows.length} SLI rows and ${alerts.length} firing alert(s) from ClickHouse; following it every ${f.config.interval} ms`,
        );
      } else {
        // Back to `lookback` before the last successful read: after failed polls, the windows written meanwhile.
        // Whole seconds, as the query compares: what is remembered must be what the next read starts at, or a
        // window between the two would be read again as new (or dropped while still read).
        const fromMs = Math.max(wholeSecond(f.lastReadMs - lookback), wholeSecond(now - this.engine.historyMs()));
        const rows = await f.source.loadSli(fromMs, journeys);
        const fresh = f.deltas.take(rows, wholeSecond(now - lookback));
        f.lastReadMs = now;
        if (fresh.length > 0) {
          this.rows.inc(fresh.length);
          this.engine.ingestRows(fresh, now);
        }
      }
      await this.readAttempts(f, now, journeys);
      f.ok.inc();
      if (f.failedPolls > 0) {
        this.settings.logger.info({ failed: f.failedPolls }, `slo: reading ClickHouse again after ${f.failedPolls} failed poll(s)`);
        f.failedPolls = 0;
      }
    } catch (err) {
      f.failed.inc();
      f.failedPolls++;
      const suppressed = f.log.take('poll');
      if (suppressed !== undefined) {
        this.settings.logger.warn(
          { err: errorMessage(err), failed: f.failedPolls },
          `slo: could not read SLI rows and attempts from ClickHouse (${errorMessage(err)}); alert rules are not evaluated until a read ` +
            `succeeds (nothing fires or resolves meanwhile), and that read catches up on what the gateways wrote${suppressed > 0 ? ` (${suppressed} similar warning(s) suppressed)` : ''}`,
        );
      }
    }
  }

  private async readAttempts(f: Following, now: number, journeys: readonly string[]): Promise<void> {
    const load = f.source.loadAttempts;
    if (load === undefined || f.config.max_attempts === 0) return;
    const toSec = Math.floor((now - f.config.attempts_delay) / 1000);
    if (toSec <= f.attemptsFromSec) return;
    const { records, more } = await load.call(f.source, f.attemptsFromSec, toSec, journeys, f.config.max_attempts);
    f.attemptsFromSec = toSec;
    if (more) f.truncated.inc();
    if (records.length === 0) return;
    // Read newest first (so a limit keeps the most recent); the ring keeps the last ones it is given.
    records.reverse();
    this.attempts.inc(records.length);
    this.engine.ingestAttempts(records);
  }

  /**
   * Evaluates every rule and hands the events to the alerts output (retrying what it refused before). Run by the
   * timer; public so tests drive time. Resolves when the send it started (if any) finished.
   */
  evaluate(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // Following ClickHouse and its last read failed: no rows is not no traffic. Evaluating would resolve what fires
    // and page heartbeats; wait until the next read catches up instead.
    const f = this.following;
    if (f !== undefined && (!f.primed || f.failedPolls > 0)) {
      f.skipped.inc();
      return this.sender.pump();
    }
    // One evaluation at a time: a timer firing while one is still in its steps does not start another. (A slow
    // alerts output does not hold evaluations back: the send is not part of it.)
    this.evaluating ??= this.evaluateInSteps().finally(() => {
      this.evaluating = undefined;
    });
    return this.evaluating.then(() => this.sender.pump());
  }

  /**
   * Runs the engine's evaluation one journey at a time, yielding to the event loop in between, so that requests
   * waiting to be received and forwarded are not held up for the whole evaluation (~30 ms for five journeys with
   * suspects analysed, measured at 120k spans/s) but for one journey at most.
   */
  private async evaluateInSteps(): Promise<void> {
    try {
      const steps = this.engine.evaluation(this.now());
      let step = steps.next();
      while (step.done !== true) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        step = steps.next();
      }
      const events = step.value;
      this.evaluations.inc();
      this.count(events);
      this.sender.push(events);
    } catch (err) {
      this.evaluationErrors.inc();
      this.errors.log('evaluation', err);
    }
  }

  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.following) {
      if (this.following.timer) clearInterval(this.following.timer);
      await this.following.polling;
    }
    // An evaluation in its steps finishes (and hands its events to the sender) before the sender drains.
    await this.evaluating;
    this.definitions?.unfollow();
    await this.sender.drain();
    for (const off of this.unobserve.splice(0)) off();
    await this.definitions?.release();
    this.handOver();
  }

  /**
   * On a reload to a config with this connector (same id), leaves the engine — SLI windows, firing alerts, release
   * baselines, recent attempts — for the new instance, so that a reload neither forgets alerts nor restarts the
   * long windows. With `follow`, the read position goes along.
   */
  private handOver(): void {
    const slot = this.settings.handover;
    if (slot?.continues() !== true) return;
    const f = this.following;
    const state: HandedOverSlo = {
      key: this.handoverKey,
      engine: this.engine,
      following: f && { deltas: f.deltas, primed: f.primed, lastReadMs: f.lastReadMs, attemptsFromSec: f.attemptsFromSec, failedPolls: f.failedPolls },
    };
    slot.put([state], 0, () => undefined);
  }

  /** At start: adopts what the previous config's instance handed over, when its engine options were the same. */
  private adoptHandover(): boolean {
    const state = this.settings.handover?.take()?.[0] as HandedOverSlo | undefined;
    if (state === undefined) return false;
    if (state.key !== this.handoverKey) {
      this.settings.logger.info('slo: the engine settings changed with the reload (history, sli_delay, recent_attempts, suspects or follow); starting afresh');
      return false;
    }
    this.engine = state.engine;
    const f = this.following;
    if (f !== undefined && state.following !== undefined) Object.assign(f, state.following);
    const firing = this.engine.firingByKind();
    this.settings.logger.info(
      { series: this.engine.seriesCount, firing: firing.burn_rate + firing.segment + firing.heartbeat + firing.release_regression },
      'slo: kept the SLI windows and alert states of the previous configuration across the reload',
    );
    return true;
  }

  private async rebuild(history: HistorySource): Promise<void> {
    const now = this.now();
    const sinceMs = now - this.engine.historyMs();
    const journeys = this.definitions?.current().journeys.map((j) => j.name) ?? [];
    try {
      const rows = await history.loadSli(sinceMs, journeys, { nowMs: now, rawFromMs: now - RAW_HISTORY_MS });
      this.engine.restoreHistory(rows, sinceMs, now);
      const alerts = await history.loadFiringAlerts(sinceMs);
      this.engine.restoreAlerts(alerts);
      this.settings.logger.info(
        { rows: rows.length, firing: alerts.length, since: new Date(sinceMs).toISOString() },
        `slo: rebuilt ${rows.length} SLI rows and ${alerts.length} firing alert(s) from history`,
      );
    } catch (err) {
      this.settings.logger.warn(
        { err: errorMessage(err) },
        `slo: could not rebuild SLI windows and alert states from ClickHouse (${errorMessage(err)}); starting with empty windows: ` +
          'long-window burn rates and baselines fill up as rows arrive, and alerts firing before the restart are announced again if still firing',
      );
    }
  }

  private count(events: readonly AlertEvent[]): void {
    for (const e of events) {
      if (e.status === 'resolved') this.emitted.resolved.inc();
      else if (e.repeat) this.emitted.repeat.inc();
      else this.emitted.firing.inc();
    }
  }

  private consumeRows(rows: SliWindow[]): Promise<void> {
    if (this.stopped) return Promise.reject(this.shutDownError());
    this.rows.inc(rows.length);
    try {
      this.engine.ingestRows(rows, this.now());
    } catch (err) {
      // A bug must not refuse data upstream forever: count, log rate-limited, accept.
      this.evaluationErrors.inc();
      this.errors.log('ingest', err);
    }
    return Promise.resolve();
  }

  private consumeAttempts(records: AttemptRecord[]): Promise<void> {
    if (this.stopped) return Promise.reject(this.shutDownError());
    this.attempts.inc(records.length);
    try {
      this.engine.ingestAttempts(records);
    } catch (err) {
      this.evaluationErrors.inc();
      this.errors.log('ingest', err);
    }
    return Promise.resolve();
  }

  private shutDownError(): RetryableError {
    return new RetryableError('PULSE_ERR_SHUTTING_DOWN', `slo connector ${this.settings.id} is shut down and accepts no more data; retry against a running instance`);
  }

  private apply(snapshot: JourneySnapshot): void {
    this.engine.setJourneys(snapshot.journeys, this.now());
    this.settings.logger.debug({ generation: snapshot.generation, journeys: snapshot.journeys.length }, `slo: alert rules of ${snapshot.journeys.length} journey(s) in force`);
  }
}

/** What a reload hands from one slo connector instance to the next (`CreateSettings.handover`). */
interface HandedOverSlo {
  readonly key: string;
  readonly engine: SloEngine;
  readonly following: Pick<Following, 'deltas' | 'primed' | 'lastReadMs' | 'attemptsFromSec' | 'failedPolls'> | undefined;
}

/** The state of `clickhouse.follow`. */
interface Following {
  readonly config: SloFollowConfig;
  readonly source: HistorySource;
  /** Replaced by the previous instance's on a reload that hands it over. */
  deltas: SliDeltas;
  /** Whether the rebuild from history (the first successful read) happened. */
  primed: boolean;
  /** Clock of the last successful read of SLI rows. */
  lastReadMs: number;
  /** Attempts decided from this second on are still to be read. */
  attemptsFromSec: number;
  failedPolls: number;
  timer: NodeJS.Timeout | undefined;
  polling: Promise<void> | undefined;
  readonly log: LogThrottle;
  readonly ok: BoundCounter;
  readonly failed: BoundCounter;
  readonly skipped: BoundCounter;
  readonly truncated: BoundCounter;
}
