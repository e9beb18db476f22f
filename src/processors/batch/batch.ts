/**
 * The `batch` processor: merges small trace batches into larger ones (fewer, bigger exports) and splits ones
 * that are too large.
 *
 * Backpressure contract: `consume()` settles only when every span it brought has been handed downstream, with
 * downstream's answer — resolved when every merged batch holding its spans was accepted, rejected with the first
 * refusal otherwise. A refusal by the exporter therefore reaches the sender (which retries) instead of vanishing
 * in a buffer. When one contributor's spans were split across two sends and only one was refused, the sender
 * resends all of them: at-least-once.
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
import { RetryableError } from '../../core/errors.js';
import { cloneAttributes, concatReceived, type ReceivedRequest, type ResourceSpans, type ScopeSpans, type TraceBatch } from '../../core/model.js';
import type { BoundCounter, BoundGauge } from '../../core/telemetry.js';
import type { BatchConfig } from './config.js';

/** One consume() call waiting for its spans to be handed downstream. */
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
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One ResourceSpans waiting in the buffer; a contributor's entries are adjacent. */
interface Entry {
  rs: ResourceSpans;
  spans: number;
  owner: Contributor;
}

type Trigger = 'size' | 'timeout' | 'shutdown';

export class BatchProcessor implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;

  private entries: Entry[] = [];
  /** Spans in `entries`. */
  private buffered = 0;
  /** Spans handed downstream whose send has not settled. */
  private sending = 0;
  private sendsInFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private stopping: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  /** Set while refusing because of max_pending_spans, so that only the change of state is logged. */
  private refusedSinceFull = -1;

  private readonly sends: Record<Trigger, BoundCounter>;
  private readonly pendingGauge: BoundGauge;
  private readonly refusedCounter: BoundCounter;

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
    return new Promise<void>((resolve, reject) => {
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
    });
  }

  /** Sends everything pending, then waits for every send in flight to settle. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.closed = true;
      this.sendAll('shutdown');
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
    return Promise.reject(
      new RetryableError(
        'PULSE_ERR_BATCH_FULL',
        `batch processor ${this.settings.id} holds ${held} spans and max_pending_spans is ${this.config.max_pending_spans}: the exporters are not keeping up; retry later, or raise max_pending_spans`,
        { resourceExhausted: true },
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
    let sent: Promise<void>;
    try {
      const received = whole ? concatReceived(owners.map((o) => o.received)) : undefined;
      sent = this.next.consume({ resourceSpans, spanCount: count, received });
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => this.settle(owners, count, false, undefined),
      (err: unknown) => this.settle(owners, count, true, err),
    );
  }

  private settle(owners: readonly Contributor[], count: number, failed: boolean, error: unknown): void {
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
