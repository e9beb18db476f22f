/**
 * The journeys data plane's own metrics. Counters are bound once per (journey, …) label set and cached, so
 * counting an event costs a Map lookup at most; the per-span counters (`matched`) are bound per journey when the
 * index is built and indexed by the journey's position. The decision-delay histogram is bound once per
 * `decided_by` value, up front, so its series exist (at zero) from the first scrape.
 */
import type { BoundCounter, BoundHistogram, Counter, MetricsRegistry } from '../../core/telemetry.js';
import type { AttemptRecord } from '../model.js';
import type { AbandonReason } from './assembler.js';
import type { DecidedBy } from './attempt-record.js';

/**
 * Upper bounds (seconds) of `pulse_journey_decision_delay_seconds`: fine around the default `settle_delay`, coarse
 * up to a minute for `trace_wait`. A decision comes at the first tick (50 ms) at or after its deadline, so with
 * the defaults complete attempts mostly land in (0.5, 0.75] and timeouts in (10, 15].
 */
export const DECISION_DELAY_BUCKETS_SECONDS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 15, 30, 60];

/** A slot per `decided_by` value (a Record, so a new value fails to compile until it has one). */
const DECIDED_BY_SLOT: Readonly<Record<DecidedBy, number>> = { complete: 0, timeout: 1, evicted: 2, flush: 3 };
const DECIDED_BY_VALUES = Object.keys(DECIDED_BY_SLOT).length;

export class JourneyMetrics {
  readonly spansTagged: BoundCounter;
  readonly resentSpans: BoundCounter;
  readonly processErrors: BoundCounter;
  private readonly matched: Counter;
  private readonly attempts: Counter;
  private readonly orphans: Counter;
  private readonly abandoned: Counter;
  private readonly extended: Counter;
  private readonly late: Counter;
  private readonly evicted: Counter;
  private readonly duplicates: Counter;
  private readonly overflow: Counter;
  private readonly lateAttempts: Counter;
  private readonly folded: Counter;
  private readonly cache = new Map<string, BoundCounter>();
  /**
   * `pulse_journey_attempts_total` bound per journey, by slot: (success 0, failure 1) × `DECIDED_BY_VALUES` +
   * `DECIDED_BY_SLOT`.
   */
  private readonly attemptCounters = new Map<string, Array<BoundCounter | undefined>>();
  private readonly delay: Readonly<Record<DecidedBy, BoundHistogram>>;

  constructor(
    readonly registry: MetricsRegistry,
    readonly connector: string,
  ) {
    const c = (name: string, help: string) => registry.counter(name, help);
    this.spansTagged = c('pulse_journey_spans_tagged_total', 'Spans that matched at least one journey and were tagged with journey.name and journey.step.').with({ connector });
    this.resentSpans = c(
      'pulse_journey_resent_spans_total',
      'Journey spans in a request received before (the same request sent again, e.g. after Pulse refused it): tagged and passed on, not assembled again.',
    ).with({ connector });
    this.processErrors = c(
      'pulse_journey_process_errors_total',
      'Batches whose journey matching failed with an unexpected error; they were forwarded untagged.',
    ).with({ connector });
    this.matched = c('pulse_journey_spans_matched_total', 'Spans matched by a journey selector (start or step), by journey.');
    this.attempts = c('pulse_journey_attempts_total', 'Journey attempts decided, by journey, outcome and what decided them (complete, timeout, evicted, flush).');
    this.orphans = c('pulse_journey_orphan_steps_total', 'Step spans dropped because no start span of their journey arrived in their trace within trace_wait.');
    this.abandoned = c(
      'pulse_journey_abandoned_attempts_total',
      'Attempts still missing a required step at shutdown or reload (reason shutdown), or after Pulse refused spans for overload through their extended wait (reason overload): dropped undecided rather than reported as missing_step failures.',
    );
    this.extended = c(
      'pulse_journey_extended_waits_total',
      'Incomplete attempts (or orphan steps) given one more trace_wait because Pulse refused spans for overload around their time: senders may still resend the missing ones.',
    );
    this.late = c('pulse_journey_late_spans_total', 'Journey spans that arrived after their attempt was decided; counted and dropped from assembly (still tagged).');
    this.evicted = c('pulse_journey_evicted_attempts_total', 'Attempts decided early because max_pending_attempts was reached.');
    this.duplicates = c('pulse_journey_duplicate_spans_total', 'Journey spans received again (same span id) while their attempt was pending; ignored.');
    this.overflow = c('pulse_journey_overflow_spans_total', 'Journey spans not buffered because their attempt already held the most spans one attempt may hold.');
    this.lateAttempts = c('pulse_journey_late_attempts_total', 'Attempts decided after their SLI window was emitted; emitted as an extra partial row.');
    this.folded = c('pulse_journey_segment_values_folded_total', 'Attempts whose segment value was folded into __other__ by the cardinality guard, by journey and dimension.');
    const delay = registry.histogram(
      'pulse_journey_decision_delay_seconds',
      'Seconds from the arrival of the first span of an attempt (its start or a step) to its decision, by what decided it (complete, timeout, evicted, flush).',
      DECISION_DELAY_BUCKETS_SECONDS,
    );
    const d = (decided_by: DecidedBy) => delay.with({ connector, decided_by });
    this.delay = { complete: d('complete'), timeout: d('timeout'), evicted: d('evicted'), flush: d('flush') };
  }

  matchedFor(journey: string): BoundCounter {
    return this.bound(this.matched, journey, { journey });
  }

  /**
   * Counts one decided attempt. Called once per attempt, so the bound counter is found by journey, then by a slot
   * for (outcome, decided_by), without building a cache key or a label object.
   */
  attempt(record: AttemptRecord): void {
    let slots = this.attemptCounters.get(record.journey);
    if (slots === undefined) {
      slots = new Array<BoundCounter | undefined>(2 * DECIDED_BY_VALUES).fill(undefined);
      this.attemptCounters.set(record.journey, slots);
    }
    const slot = (record.outcome === 'success' ? 0 : DECIDED_BY_VALUES) + DECIDED_BY_SLOT[record.decidedBy];
    let counter = slots[slot];
    if (counter === undefined) {
      counter = this.bound(this.attempts, `${record.journey}\0${record.outcome}\0${record.decidedBy}`, {
        journey: record.journey,
        outcome: record.outcome,
        decided_by: record.decidedBy,
      });
      slots[slot] = counter;
    }
    counter.inc();
  }

  /** One decided attempt waited `delayMs` (arrival clock) between its group's first span and its decision. */
  decisionDelay(decidedBy: DecidedBy, delayMs: number): void {
    this.delay[decidedBy].observe(delayMs / 1000);
  }

  orphanSteps(journey: string, n: number): void {
    this.bound(this.orphans, journey, { journey }).inc(n);
  }

  abandonedAttempts(journey: string, n: number, reason: AbandonReason): void {
    this.bound(this.abandoned, `${journey}\0${reason}`, { journey, reason }).inc(n);
  }

  extendedWait(journey: string): void {
    this.bound(this.extended, journey, { journey }).inc();
  }

  lateSpan(journey: string): void {
    this.bound(this.late, journey, { journey }).inc();
  }

  evictedAttempts(journey: string, n: number): void {
    this.bound(this.evicted, journey, { journey }).inc(n);
  }

  duplicateSpan(journey: string): void {
    this.bound(this.duplicates, journey, { journey }).inc();
  }

  overflowSpan(journey: string): void {
    this.bound(this.overflow, journey, { journey }).inc();
  }

  lateAttempt(journey: string): void {
    this.bound(this.lateAttempts, journey, { journey }).inc();
  }

  foldedValue(journey: string, dimension: string): void {
    this.bound(this.folded, `${journey}\0${dimension}`, { journey, dimension }).inc();
  }

  private bound(counter: Counter, key: string, labels: Record<string, string>): BoundCounter {
    const cacheKey = `${counter.name}\0${key}`;
    let b = this.cache.get(cacheKey);
    if (b === undefined) {
      b = counter.with({ connector: this.connector, ...labels });
      this.cache.set(cacheKey, b);
    }
    return b;
  }
}
