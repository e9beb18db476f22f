/**
 * The `batch` processor: merges small trace batches into larger ones (fewer, bigger exports) and splits ones
 * that are too large.
 *
 * When a sender is answered (`wait_for_result`):
 * - `false` (default): `consume()` resolves as soon as the spans are buffered. A merged batch that downstream
 *   refuses with a retryable error is kept (it still counts towards `max_pending_spans`, so a downstream that
 *   stays down pushes back on new data) and sent again with backoff; one refused permanently is dropped and
 *   counted. Once shutdown began, a refused batch gets one more attempt, then is dropped and counted.
 * - `true`: `consume()` settles only when every span it brought has been handed downstream, with downstream's
 *   answer — resolved when every merged batch holding its spans was accepted, rejected with the first refusal
 *   otherwise, so the refusal reaches the sender (which retries). When one contributor's spans were split across
 *   two sends and only one was refused, the sender resends all of them: at-least-once. A serial sender then gets
 *   at most one request through per `timeout` while traffic is below `send_batch_size`.
 *
 * Memory bound: spans held (waiting + being sent) never exceed `max_pending_spans`, except that one batch is
 * always admitted when nothing is held (so a single request larger than the bound is not refused forever). Above
 * the bound `consume()` rejects at once with a resource-exhausted `RetryableError` (HTTP 429 / gRPC
 * RESOURCE_EXHAUSTED at the receiver).
 *
 * The processor never changes the objects it is given (`mutatesData: false`): merging concatenates the
 * `resourceSpans` lists into a new batch, splitting makes new ResourceSpans/ScopeSpans with sliced span lists.
 * A merged batch made of whole batches that still had their requests (`TraceBatch.received`) gets those requests
 * concatenated, so that the exporters can still send them as they came; a split one is encoded.
 */
import type { ConsumingComponent, CreateSettings } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import { errorMessage, isPermanent, RetryableError } from '../../core/errors.js';
import { cloneAttributes, concatReceived, type ReceivedRequest, type ResourceSpans, type ScopeSpans, type TraceBatch } from '../../core/model.js';
import type { BoundCounter, BoundGauge } from '../../core/telemetry.js';
import { jitteredInterval, type BackoffPolicy } from '../../exporters/exporterhelper/backoff.js';
import type { BatchConfig } from './config.js';

/** One consume() call whose spans are buffered or being sent. */
interface Contributor {
  /** Spans it brought (in non-empty resources). */
  total: number;
  /** The request its batch was decoded from, if unchanged (`TraceBatch.received`). */
  readonly received: ReceivedRequest | undefined;
  /** Spans still waiting in the buffer. */
  unsent: number;
  /** Sends holding some of its spans that have not settled. */
  inFlight: number;
  failed: boolean;
  error: unknown;
  /** Answer the sender (`wait_for_result: true`); no-ops otherwise, where the sender was answered on arrival. */
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A merged batch handed downstream, held until downstream accepted it or it was dropped. */
interface Send {
  readonly batch: TraceBatch;
  readonly owners: readonly Contributor[];
  /** Retries so far (`wait_for_result: false`). */
  retries: number;
  /** Whether the latest attempt was made after shutdown began: a refusal of it drops the batch. */
  lastChance: boolean;
}

/** One ResourceSpans waiting in the buffer; a contributor's entries are adjacent. */
interface Entry {
  rs: ResourceSpans;
  spans: number;
  owner: Contributor;
}

type Trigger = 'size' | 'timeout' | 'shutdown';
type DropReason = 'permanent' | 'shutdown';

/**
 * Backoff between attempts of a refused merged batch (`wait_for_result: false`). Short at first: what refuses is
 * usually a full queue or memory pressure in this process, which clears in well under a second. A `retryAfterMs`
 * on the refusal is honoured, up to `MAX_RETRY_AFTER_MS`.
 */
const RETRY: BackoffPolicy = { initial_interval: 200, max_interval: 5_000, multiplier: 2, randomization_factor: 0.5 };
const MAX_RETRY_AFTER_MS = 30_000;

function noop(): void {}

export class BatchProcessor implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;

  private entries: Entry[] = [];
  /** Spans in `entries`. */
  private buffered = 0;
  /** Spans handed downstream whose send has not settled (including sends waiting to be retried). */
  private sending = 0;
  private sendsInFlight = 0;
  /** Refused sends waiting for their next attempt, with the timer that makes it. */
  private readonly retryTimers = new Map<Send, NodeJS.Timeout>();
  /** Sends refused at least once and not settled yet: a streak of refusals is logged when it starts and ends. */
  private retryingSends = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private stopping: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  /** Set while refusing because of max_pending_spans, so that only the change of state is logged. */
  private refusedSinceFull = -1;
  /**
   * The last answer from downstream was a refusal that was not "resource exhausted" (a destination down): a full
   * processor then says so too, so the receivers do not shed load (see `refuse`).
   */
  private downstreamFailing = false;

  private readonly sends: Record<Trigger, BoundCounter>;
  private readonly pendingGauge: BoundGauge;
  private readonly refusedCounter: BoundCounter;
  private readonly retriesCounter: BoundCounter;
  private readonly dropped: Record<DropReason, BoundCounter>;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: BatchConfig,
    private readonly next: Consumer<TraceBatch>,
  ) {
    const labels = { processor: settings.id };
    const sends = settings.metrics.counter('pulse_processor_batch_sends_total', 'Merged batches the batch processor handed on, by what triggered the send.');
    this.sends = {
      size: sends.with({ ...labels, trigger: 'size' }),
      timeout: sends.with({ ...labels, trigger: 'timeout' }),
      shutdown: sends.with({ ...labels, trigger: 'shutdown' }),
    };
    this.pendingGauge = settings.metrics
      .gauge('pulse_processor_batch_pending_spans', 'Spans the batch processor holds: waiting to be merged plus being sent downstream.')
      .with(labels);
    this.refusedCounter = settings.metrics
      .counter('pulse_processor_batch_refused_spans_total', 'Spans the batch processor refused because max_pending_spans was reached.')
      .with(labels);
    this.retriesCounter = settings.metrics
      .counter('pulse_processor_batch_retries_total', 'Merged batches the batch processor sent again after downstream refused them (wait_for_result: false).')
      .with(labels);
    const dropped = settings.metrics.counter(
      'pulse_processor_batch_dropped_spans_total',
      'Spans the batch processor dropped after accepting them (wait_for_result: false): refused permanently downstream, or still refused when shutting down.',
    );
    this.dropped = { permanent: dropped.with({ ...labels, reason: 'permanent' }), shutdown: dropped.with({ ...labels, reason: 'shutdown' }) };
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  consume(batch: TraceBatch): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new RetryableError('PULSE_ERR_SHUTTING_DOWN', `batch processor ${this.settings.id} is shut down and accepts no more data; retry against a running instance`),
      );
    }
    const held = this.buffered + this.sending;
    if (held > 0 && held + batch.spanCount > this.config.max_pending_spans) return this.refuse(batch.spanCount, held);
    if (this.refusedSinceFull >= 0) {
      this.settings.logger.info(`accepting data again; ${this.refusedSinceFull} span(s) were refused while max_pending_spans was reached`);
      this.refusedSinceFull = -1;
    }
    if (!this.config.wait_for_result) {
      this.buffer(batch, noop, noop);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => this.buffer(batch, resolve, reject));
  }

  /** Adds a batch's non-empty resources to the buffer and sends what is due; `resolve`/`reject` answer its sender. */
  private buffer(batch: TraceBatch, resolve: () => void, reject: (err: unknown) => void): void {
    const owner: Contributor = { total: 0, received: batch.received, unsent: 0, inFlight: 0, failed: false, error: undefined, resolve, reject };
    for (const rs of batch.resourceSpans) {
      let spans = 0;
      for (const ss of rs.scopeSpans) spans += ss.spans.length;
      // A resource without spans carries nothing to export.
      if (spans === 0) continue;
      this.entries.push({ rs, spans, owner });
      owner.unsent += spans;
    }
    owner.total = owner.unsent;
    if (owner.unsent === 0) return resolve();
    this.buffered += owner.unsent;
    this.pendingGauge.inc(owner.unsent);
    if (this.config.timeout === 0) return this.sendAll('timeout');
    while (this.buffered >= this.config.send_batch_size) this.sendOne('size');
    if (this.buffered === 0) this.stopTimer();
    else if (!this.timer) this.startTimer();
  }

  /**
   * Sends everything pending, gives every refused send waiting for a retry its last attempt now, then waits for
   * every send in flight to settle. Idempotent.
   */
  shutdown(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.closed = true;
      this.sendAll('shutdown');
      for (const [send, timer] of this.retryTimers) {
        clearTimeout(timer);
        this.attempt(send);
      }
      this.retryTimers.clear();
      if (this.sendsInFlight === 0) resolve();
      else this.drained = resolve;
    });
    return this.stopping;
  }

  private refuse(spans: number, held: number): Promise<void> {
    this.refusedCounter.inc(spans);
    if (this.refusedSinceFull < 0) {
      this.refusedSinceFull = 0;
      this.settings.logger.warn(
        `refusing data: ${held} spans held reached max_pending_spans (${this.config.max_pending_spans}); the next stage is not keeping up`,
      );
    }
    this.refusedSinceFull += spans;
    // Full because downstream is slower than the input: "resource exhausted" (429), and the receivers shed load.
    // Full because downstream is failing: "unavailable" (503), so the receivers go on reading requests, and a
    // journeys connector before this processor goes on seeing every span while the destination is down.
    const why = this.downstreamFailing ? 'downstream is failing' : 'the exporters are not keeping up';
    return Promise.reject(
      new RetryableError(
        'PULSE_ERR_BATCH_FULL',
        `batch processor ${this.settings.id} holds ${held} spans and max_pending_spans is ${this.config.max_pending_spans}: ${why}; retry later, or raise max_pending_spans`,
        { resourceExhausted: !this.downstreamFailing },
      ),
    );
  }

  private startTimer(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sendAll('timeout');
    }, this.config.timeout);
    // A pending flush must not keep the process alive; shutdown() flushes instead.
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sendAll(trigger: Trigger): void {
    this.stopTimer();
    while (this.buffered > 0) this.sendOne(trigger);
  }

  /** Takes up to `send_batch_max_size` spans (all when 0) off the front of the buffer and hands them on. */
  private sendOne(trigger: Trigger): void {
    const max = this.config.send_batch_max_size;
    const count = max > 0 && this.buffered > max ? max : this.buffered;
    const resourceSpans: ResourceSpans[] = [];
    const owners: Contributor[] = [];
    // Whether every contributor of this send is in it whole (none split with another send): then the send is their
    // requests one after the other, and can go on as those requests (`TraceBatch.received`).
    let whole = true;
    let need = count;
    let taken = 0;
    while (need > 0) {
      const e = this.entries[taken]!;
      if (owners[owners.length - 1] !== e.owner) {
        owners.push(e.owner);
        e.owner.inFlight++;
        if (e.owner.unsent !== e.owner.total) whole = false;
      }
      if (e.spans <= need) {
        resourceSpans.push(e.rs);
        need -= e.spans;
        e.owner.unsent -= e.spans;
        taken++;
      } else {
        const [head, tail] = splitResourceSpans(e.rs, need);
        resourceSpans.push(head);
        e.rs = tail;
        e.spans -= need;
        e.owner.unsent -= need;
        need = 0;
      }
    }
    // Contributors are adjacent, so only the last one can have spans left for the next send.
    if (owners[owners.length - 1]!.unsent !== 0) whole = false;
    this.entries.splice(0, taken);
    this.buffered -= count;
    this.sending += count;
    this.sendsInFlight++;
    this.sends[trigger].inc();
    const received = whole ? concatReceived(owners.map((o) => o.received)) : undefined;
    this.attempt({ batch: { resourceSpans, spanCount: count, received }, owners, retries: 0, lastChance: false });
  }

  /** Hands a merged batch downstream (again, for a retry) and handles the answer. */
  private attempt(send: Send): void {
    send.lastChance = this.closed;
    let sent: Promise<void>;
    try {
      sent = this.next.consume(send.batch);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        this.downstreamFailing = false;
        this.settle(send, false, undefined);
      },
      (err: unknown) => {
        this.downstreamFailing = !isPermanent(err) && !(err instanceof RetryableError && err.resourceExhausted);
        this.refused(send, err);
      },
    );
  }

  private refused(send: Send, err: unknown): void {
    if (this.config.wait_for_result) return this.settle(send, true, err);
    const spans = send.batch.spanCount;
    if (isPermanent(err)) return this.drop(send, 'permanent', `downstream refused ${spans} span(s) permanently: ${errorMessage(err)}`);
    if (send.lastChance) return this.drop(send, 'shutdown', `shutting down and downstream still refused ${spans} span(s): ${errorMessage(err)}`);
    if (this.closed) return this.attempt(send);
    if (send.retries === 0 && this.retryingSends++ === 0) {
      this.settings.logger.warn(`downstream refused ${spans} span(s) (${errorMessage(err)}); keeping them and retrying with backoff`);
    }
    const asked = err instanceof RetryableError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS) : 0;
    const wait = Math.max(asked, jitteredInterval(RETRY, send.retries));
    send.retries++;
    const timer = setTimeout(() => {
      this.retryTimers.delete(send);
      this.retriesCounter.inc();
      this.attempt(send);
    }, wait);
    // A pending retry must not keep the process alive; shutdown() makes the last attempt instead.
    timer.unref();
    this.retryTimers.set(send, timer);
  }

  private drop(send: Send, reason: DropReason, message: string): void {
    this.dropped[reason].inc(send.batch.spanCount);
    this.settings.logger.error(`dropped: ${message}`);
    this.settle(send, false, undefined);
  }

  private settle(send: Send, failed: boolean, error: unknown): void {
    const { owners } = send;
    const count = send.batch.spanCount;
    if (send.retries > 0 && --this.retryingSends === 0) {
      this.settings.logger.info('no refused batch is waiting for a retry any more');
    }
    this.sending -= count;
    this.sendsInFlight--;
    this.pendingGauge.dec(count);
    for (const o of owners) {
      o.inFlight--;
      if (failed && !o.failed) {
        o.failed = true;
        o.error = error;
      }
      if (o.inFlight === 0 && o.unsent === 0) {
        if (o.failed) o.reject(o.error);
        else o.resolve();
      }
    }
    if (this.sendsInFlight === 0 && this.drained) this.drained();
  }
}

/**
 * Splits one ResourceSpans after its first `n` spans (0 < n < its span count). The head reuses the resource and
 * whole scopes; the tail gets its own copy of the resource (and of the scope split in two), because head and
 * tail travel in different batches and a processor further down may change one while an exporter reads the other.
 */
function splitResourceSpans(rs: ResourceSpans, n: number): [ResourceSpans, ResourceSpans] {
  const head: ScopeSpans[] = [];
  const tail: ScopeSpans[] = [];
  let need = n;
  for (const ss of rs.scopeSpans) {
    if (need === 0) tail.push(ss);
    else if (ss.spans.length <= need) {
      head.push(ss);
      need -= ss.spans.length;
    } else {
      head.push({ scope: ss.scope, spans: ss.spans.slice(0, need), schemaUrl: ss.schemaUrl });
      const scope = { ...ss.scope, attributes: cloneAttributes(ss.scope.attributes) };
      tail.push({ scope, spans: ss.spans.slice(need), schemaUrl: ss.schemaUrl });
      need = 0;
    }
  }
  const resource = { attributes: cloneAttributes(rs.resource.attributes), droppedAttributesCount: rs.resource.droppedAttributesCount };
  return [
    { resource: rs.resource, scopeSpans: head, schemaUrl: rs.schemaUrl },
    { resource, scopeSpans: tail, schemaUrl: rs.schemaUrl },
  ];
}
