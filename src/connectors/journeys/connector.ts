/**
 * The `journeys` connector: the exporter end of a traces pipeline and the receiver end of up to three others.
 *
 *     traces in ──▶ match (one index) ──▶ tag in place ──▶ traces out (at once, never waits for assembly)
 *                        └─ journey-relevant spans only ──▶ attempt assembly ──▶ attempts out
 *                                                                  └──▶ SLI windows ──▶ journey_metrics out
 *
 * `inputs.traces.consume(batch)` matches and tags synchronously, hands matched spans to the assembler (which
 * copies what it needs), and returns the `traces` output's own answer, so refusals downstream reach the sender.
 * A periodic tick (one unref'd timer) decides attempts and closes SLI windows, and hands results to the
 * `attempts` / `journey_metrics` outputs through bounded senders. Definitions come from a `JourneySource` (the
 * shared `JourneyStore` of the directory); every reload rebuilds the index.
 *
 * Split across threads (`settings.thread`, see relay.ts): on the main side `consume` matches, tags, captures
 * matched spans for the worker and forwards; there is no tick. On the worker side the connector has no input of
 * its own: it assembles the captures the main side relays, and ticks and hands out as above.
 */
import type { ConnectorComponent, ConnectorOutputs, CreateSettings, Host } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import { RetryableError } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import type { AttemptRecord, CompiledJourney, JourneySnapshot, SliWindow } from '../../journeys/model.js';
import { JourneyRuntime } from '../../journeys/runtime/journey-runtime.js';
import { JourneyMetrics } from '../../journeys/runtime/metrics.js';
import { BoundedSender, dropCounters } from '../shared/bounded-sender.js';
import { UnexpectedErrorLog } from '../shared/error-log.js';
import { FollowedJourneys, type JourneySource, type JourneySourceOptions } from '../shared/journey-source.js';
import type { JourneysConnectorConfig } from './config.js';
import { SpanRelay, relayedCount, unpackRelayed, type RelayAck, type RelayMessage } from './relay.js';

export type { JourneySource, JourneySourceOptions };

export interface JourneysConnectorDeps {
  openSource(directory: string, options: JourneySourceOptions): JourneySource;
  /** Wall clock, ms since epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Period of the decision tick. Default `TICK_INTERVAL_MS`. */
  readonly tickIntervalMs?: number;
}

/**
 * How often attempts are decided and windows closed: well under settle_delay, cheap when nothing is due. Each tick
 * hands out what came due since the last one in one piece of event-loop work, so a shorter tick means shorter
 * pauses for the requests waiting behind it: at 75k spans/s (~5.5k attempts/s) 50 ms instead of 100 ms took the
 * forward p99 from 33–36 ms to 23–24 ms and the longest event-loop delay from 58–75 ms to 35–41 ms.
 */
export const TICK_INTERVAL_MS = 50;
/** Derived items waiting for a refusing output, at most, per output. */
export const MAX_BUFFERED_OUTPUT_ITEMS = 100_000;
/** Items per send to an output. */
export const MAX_OUTPUT_BATCH = 10_000;

/** Snapshots whose spans may still be in flight to the worker side, by generation: the newest few. */
const KEPT_GENERATIONS = 4;

export class JourneysConnector implements ConnectorComponent {
  readonly inputs: { readonly traces?: Consumer<TraceBatch> };

  /** Replaced at start by the previous config's runtime when a reload hands it over (`adoptHandover`). */
  private runtime: JourneyRuntime;
  /** What a runtime handed over on a reload must match to be adopted: the options it was built with. */
  private readonly handoverKey: string;
  private readonly metrics: JourneyMetrics;
  private readonly now: () => number;
  private readonly attemptsOut: BoundedSender<AttemptRecord> | undefined;
  private readonly windowsOut: BoundedSender<SliWindow> | undefined;
  private readonly errors: UnexpectedErrorLog;
  private readonly unobserve: Array<() => void> = [];
  private definitions: FollowedJourneys | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** Main side of a split: where captured spans go. */
  private readonly relay: SpanRelay | undefined;
  /** Generation of the snapshot the index was built from (main side: stamped on relayed spans). */
  private generation = 0;
  /** Worker side of a split: journeys by snapshot generation, for relayed spans. */
  private readonly byGeneration = new Map<number, readonly CompiledJourney[]>();
  private unlistenRelay: (() => void) | undefined;
  /** `OverloadRefusals.count` (or the relayed one) when last looked at; see `watchOverload`. */
  private refusalsSeen: number;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: JourneysConnectorConfig,
    private readonly outputs: ConnectorOutputs,
    private readonly deps: JourneysConnectorDeps,
  ) {
    this.now = deps.now ?? Date.now;
    // Refusals before this instance existed (an earlier graph, before a reload) concern attempts it never held.
    this.refusalsSeen = settings.overload?.count ?? 0;
    this.errors = new UnexpectedErrorLog(settings.logger, 'journeys connector');
    const registry = settings.metrics;
    this.metrics = new JourneyMetrics(registry, settings.id);
    const thread = settings.thread;
    this.relay = thread?.side === 'main' ? new SpanRelay(thread, settings.id) : undefined;
    const runtimeOptions = {
      traceWaitMs: config.trace_wait,
      settleDelayMs: config.settle_delay,
      maxPendingAttempts: config.max_pending_attempts,
      maxRememberedRequests: config.max_remembered_requests,
      overloadExtraWaits: config.overload_extra_waits,
      keepAttempts: outputs.attempts !== undefined,
      tagSpans: config.tag_spans,
      sli: {
        windowMs: config.sli.window,
        allowedLatenessMs: config.sli.allowed_lateness,
        maxSegmentValues: config.sli.max_segment_values,
      },
    };
    this.handoverKey = JSON.stringify(runtimeOptions);
    this.runtime = new JourneyRuntime({ ...runtimeOptions, ...(this.relay && { capture: this.relay }) }, this.metrics);
    const dropped = registry.counter(
      'pulse_journey_output_dropped_total',
      'Attempt records and SLI rows the journeys connector dropped because its output refused them (reason: overflow, permanent, shutdown).',
    );
    const sender = <T>(consumer: Consumer<T[]> | undefined, signal: 'attempts' | 'journey_metrics') =>
      consumer &&
      new BoundedSender<T>(consumer, {
        maxWaiting: MAX_BUFFERED_OUTPUT_ITEMS,
        maxBatch: MAX_OUTPUT_BATCH,
        dropped: dropCounters((reason) => dropped.with({ connector: settings.id, signal, reason })),
        wording: { items: `${signal} item(s)`, output: 'the consumer', refuser: `${signal} consumer`, unit: 'item(s)', retry: 'on the next tick', awaited: 'a consumer' },
        logger: settings.logger,
      });
    this.attemptsOut = sender(outputs.attempts, 'attempts');
    this.windowsOut = sender(outputs.journey_metrics, 'journey_metrics');

    const labels = { connector: settings.id };
    // Split across threads, each half reports what it holds: the main side the definitions it matches with, the
    // worker side the attempts it assembles.
    if (thread?.side !== 'main') {
      this.unobserve.push(
        registry
          .gauge('pulse_journey_pending_attempts', 'Journey attempts (journey × trace, including orphan steps waiting for their start) held by the journeys connector.')
          .observe((set) => set(labels, this.runtime.pendingAttempts)),
      );
    }
    if (thread?.side !== 'worker') {
      this.unobserve.push(
        registry
          .gauge('pulse_journey_definitions_loaded', 'Journey definitions the journeys connector currently matches against.')
          .observe((set) => set(labels, this.runtime.journeyCount)),
        registry
          .gauge('pulse_journey_remembered_requests', 'Requests with journey spans the journeys connector remembers, to recognise one sent again (max_remembered_requests).')
          .observe((set) => set(labels, this.runtime.rememberedRequests)),
      );
    }

    this.inputs = thread?.side === 'worker' ? {} : { traces: { mutatesData: config.tag_spans, consume: (batch) => this.consumeTraces(batch) } };
    if (this.relay) {
      this.unobserve.push(
        registry
          .gauge('pulse_journey_relayed_spans_in_flight', 'Matched spans the journeys connector sent to its assembly thread and that were not processed there yet.')
          .observe((set) => set(labels, this.relay!.pending)),
      );
    }
  }

  async start(_host: Host): Promise<void> {
    this.definitions = await FollowedJourneys.start(
      (directory, options) => this.deps.openSource(directory, options),
      this.config.directory,
      this.settings,
      this.config.reload_poll_interval,
    );
    this.adoptHandover();
    this.definitions.follow((snapshot, what) => this.apply(snapshot, what));
    const thread = this.settings.thread;
    if (thread?.side === 'worker') this.unlistenRelay = thread.listen(this.settings.id, (m) => this.assembleRelayed(m as RelayMessage));
    // The main side of a split decides nothing: the worker side ticks. It only tells the worker of requests refused
    // for overload while no batch reaches it to carry the count (every request shed): the worker must know before
    // the deadlines of the attempts those requests would have completed.
    this.timer = this.relay
      ? setInterval(() => this.relayRefusals(), this.deps.tickIntervalMs ?? TICK_INTERVAL_MS)
      : setInterval(() => this.tick(), this.deps.tickIntervalMs ?? TICK_INTERVAL_MS);
    // Pending attempts must not keep the process alive; shutdown() flushes them instead.
    this.timer.unref();
  }

  /**
   * Decides attempts whose time has come, closes SLI windows and hands the results to the outputs. Run by the
   * timer; public so tests can drive time.
   */
  tick(): void {
    try {
      const now = this.now();
      this.watchOverload(this.settings.overload?.count ?? 0, now);
      this.runtime.tick(now);
    } catch (err) {
      this.errors.log('tick', err);
    }
    this.handOut();
  }

  /** Main side of a split: posts the overload refusal count to the worker if it moved since the last message. */
  private relayRefusals(): void {
    try {
      this.relay?.send(this.generation, this.now(), this.settings.overload?.count ?? 0);
    } catch (err) {
      this.errors.log('tick', err);
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
    this.definitions?.unfollow();
    this.relay?.close();
    this.unlistenRelay?.();
    // A reload to a config with this connector, unchanged: the pending attempts and open SLI windows go on in the
    // new instance, and their late steps still find them.
    const handingOver = this.handOver();
    if (!handingOver) {
      try {
        // Shutdown or reload: attempts still waiting for a required step are counted, not failed (the step may be
        // in flight); complete ones are decided now.
        this.runtime.flush(this.now(), 'abandon');
      } catch (err) {
        this.errors.log('flush', err);
      }
    }
    this.handOut();
    await Promise.all([this.attemptsOut?.drain(), this.windowsOut?.drain()]);
    for (const off of this.unobserve.splice(0)) off();
    await this.definitions?.release();
  }

  /**
   * Leaves the runtime (pending attempts, open SLI windows, remembered requests) for the next config's instance
   * when a reload keeps this connector. Not when split across threads: the worker side goes with the worker, and
   * the main side's runtime captures into this instance's relay.
   */
  private handOver(): boolean {
    const slot = this.settings.handover;
    if (this.settings.thread !== undefined || slot?.continues() !== true) return false;
    slot.put([{ key: this.handoverKey, runtime: this.runtime }], this.runtime.pendingAttempts, () => undefined);
    return true;
  }

  /** At start: adopts what the previous config's instance handed over, when built with the same options. */
  private adoptHandover(): void {
    const state = this.settings.handover?.take()?.[0] as { key: string; runtime: JourneyRuntime } | undefined;
    if (state === undefined || this.settings.thread !== undefined) return;
    if (state.key !== this.handoverKey) {
      // Built with other options (trace_wait, sli.window, …): decide what it held as at a shutdown.
      state.runtime.flush(this.now(), 'abandon');
      this.handOut(state.runtime);
      this.settings.logger.info('journeys: the connector settings changed with the reload; pending attempts were decided as at a shutdown');
      return;
    }
    this.runtime = state.runtime;
    this.settings.logger.info({ pending: this.runtime.pendingAttempts }, 'journeys: kept the pending attempts and open SLI windows across the reload');
  }

  private consumeTraces(batch: TraceBatch): Promise<void> {
    if (this.stopped) {
      return Promise.reject(
        new RetryableError('PULSE_ERR_SHUTTING_DOWN', `journeys connector ${this.settings.id} is shut down and accepts no more data; retry against a running instance`),
      );
    }
    try {
      this.relay?.admit();
    } catch (err) {
      return Promise.reject(err);
    }
    try {
      const now = this.now();
      this.runtime.process(batch, now);
      this.relay?.send(this.generation, now, this.settings.overload?.count ?? 0);
    } catch (err) {
      // A bug must not cost the user their traces: forward the batch (possibly partly tagged) and count.
      this.metrics.processErrors.inc();
      this.errors.log('process', err);
    }
    const next = this.outputs.traces;
    if (next === undefined) return Promise.resolve();
    try {
      return next.consume(batch);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Hands what `runtime` decided and closed to the outputs (another runtime: one handed over that this one did not adopt). */
  private handOut(runtime: JourneyRuntime = this.runtime): void {
    const attempts = runtime.takeAttempts();
    if (attempts.length > 0) this.attemptsOut?.push(attempts);
    const windows = runtime.takeWindows();
    if (windows.length > 0) this.windowsOut?.push(windows);
    // Sends run in the background; their outcome is handled (and counted) by the senders.
    void this.attemptsOut?.pump();
    void this.windowsOut?.pump();
  }

  /**
   * Tells the runtime when the count of requests refused for overload moved (at `nowMs`, the arrival clock): spans
   * may be missing that their senders will send again (see `Assembler.overloaded`).
   */
  private watchOverload(refusals: number, nowMs: number): void {
    if (refusals === this.refusalsSeen) return;
    this.refusalsSeen = refusals;
    this.runtime.overloaded(nowMs);
  }

  /** Worker side: assembles the spans one batch matched on the main side, then acknowledges them. */
  private assembleRelayed(message: RelayMessage): void {
    try {
      this.watchOverload(message.refusals, message.nowMs);
      const journeys = this.byGeneration.get(message.generation);
      if (journeys === undefined) throw new Error(`relayed spans of unknown journey generation ${message.generation}`);
      unpackRelayed(message, journeys, (journey, step, traceId, record, nowMs) => this.runtime.addCaptured(journey, step, traceId, record, nowMs));
    } catch (err) {
      this.metrics.processErrors.inc();
      this.errors.log('process', err);
    }
    const ack: RelayAck = { ack: relayedCount(message) };
    this.settings.thread?.post(this.settings.id, ack);
  }

  private apply(snapshot: JourneySnapshot, what: 'loaded' | 'reloaded'): void {
    this.runtime.setJourneys(snapshot.journeys);
    this.generation = snapshot.generation;
    this.byGeneration.set(snapshot.generation, snapshot.journeys);
    for (const g of this.byGeneration.keys()) if (g <= snapshot.generation - KEPT_GENERATIONS) this.byGeneration.delete(g);
    const names = snapshot.journeys.map((j) => j.name).join(', ');
    // The store logs loads and reloads with their files; this line only ties the index rebuild to a generation.
    this.settings.logger.debug(
      { generation: snapshot.generation, journeys: snapshot.journeys.length },
      `journeys ${what} from ${this.config.directory}: ${snapshot.journeys.length} journey(s)${names ? ` (${names})` : ''}`,
    );
  }
}
