/**
 * The part of request handling both transports share: metrics, the memory budget, handing a decoded batch to the
 * pipeline, turning what the pipeline threw into an answer for the sender, and counting and logging error answers.
 *
 * Error mapping (the transports turn the `Verdict` into status codes):
 * - `RetryableError` → `retry` (HTTP 429 when `resourceExhausted` else 503; gRPC RESOURCE_EXHAUSTED / UNAVAILABLE),
 *   with `retryAfterMs` from the error or 1 s;
 * - `PermanentError` → `permanent` (HTTP 400; gRPC INVALID_ARGUMENT);
 * - anything else (a bug) → `retry` as unavailable, logged rate-limited: dropping data for an unclassified error
 *   would be silent data loss.
 */
import type { Logger } from 'pino';
import type { Consumer } from '../../core/consumer.js';
import type { TraceBatch } from '../../core/model.js';
import type { OverloadRefusals } from '../../core/overload.js';
import type { BoundCounter, MetricsRegistry } from '../../core/telemetry.js';
import { PermanentError, RetryableError, errorMessage } from '../../core/errors.js';
import { LogThrottle } from '../../core/log-throttle.js';
import type { DecodeResult } from '../../otlp/index.js';
import { InflightBudget } from './inflight.js';

export type Transport = 'http' | 'grpc';

/** Values of the `outcome` label of `pulse_receiver_requests_total`. */
export const OUTCOMES = [
  'ok', // answered success (possibly with partial_success)
  'bad_request', // malformed body, bad compression, bad framing
  'too_large', // over max_request_body_size / max_recv_msg_size
  'unsupported', // content type, encoding, method or path not served
  'unauthorized', // missing or wrong bearer token
  'forbidden', // CORS preflight refused
  'refused', // retryable: pipeline busy or down, or the in-flight budget is full
  'rejected', // the pipeline refused the data as permanently bad
  'aborted', // the client went away or timed out before the answer
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const DEFAULT_RETRY_AFTER_MS = 1000;

export type Verdict =
  | { readonly kind: 'ok' }
  | { readonly kind: 'retry'; readonly resourceExhausted: boolean; readonly retryAfterMs: number; readonly message: string }
  | { readonly kind: 'permanent'; readonly message: string };

type RetryVerdict = Extract<Verdict, { kind: 'retry' }>;

const OK: Verdict = { kind: 'ok' };

/**
 * Load shedding. Once the pipeline refused a request because something downstream is full, the next requests
 * are refused before they are read, inflated, decoded and matched, for a short window: 5 ms after the first such
 * refusal, doubling with each refusal in a row up to 40 ms. The first request after a window is handled in full:
 * accepted, the shedding ends; refused, a longer window starts. Under overload this keeps the CPU for requests
 * the pipeline can take, instead of spending it on ones it will refuse (BENCHMARKS.md, *Overload*).
 */
const SHED_FIRST_MS = 5;
const SHED_MAX_MS = 40;

/** Counters of one transport, bound once so the request path only adds numbers. */
export interface TransportMetrics {
  readonly transport: Transport;
  readonly acceptedSpans: BoundCounter;
  readonly refusedSpans: BoundCounter;
  readonly requests: Readonly<Record<Outcome, BoundCounter>>;
}

export class Ingest {
  readonly budget: InflightBudget;
  private readonly pipelineErrors = new LogThrottle(10_000);
  /** Load shedding (see SHED_FIRST_MS): the answer while shedding, `undefined` when not; until `shedUntil` (epoch ms). */
  private shedVerdict: RetryVerdict | undefined;
  private shedUntil = 0;
  private shedWindowMs = 0;
  private readonly shedCounter: BoundCounter;
  private readonly badRequests = new LogThrottle(30_000);

  constructor(
    private readonly receiverId: string,
    private readonly logger: Logger,
    private readonly metrics: MetricsRegistry,
    private readonly next: Consumer<TraceBatch>,
    maxInflightBytes: number,
    /** Where requests refused for overload are counted for the journeys connector (see core/overload.ts). */
    private readonly overload?: OverloadRefusals,
  ) {
    this.budget = new InflightBudget(maxInflightBytes);
    metrics
      .gauge('pulse_receiver_inflight_bytes', 'Bytes of request bodies a receiver holds right now (as sent plus decompressed)')
      .observe((set) => set({ receiver: receiverId }, this.budget.bytes));
    this.shedCounter = metrics
      .counter('pulse_receiver_shed_requests_total', 'Requests a receiver refused without reading them, because the pipeline had just refused one for being full')
      .with({ receiver: receiverId });
  }

  /**
   * The answer for a request that arrives while shedding load (refused at once, before its body is read), or
   * `undefined` when it should be handled. Counted as a refused request, not per span: its spans are unknown.
   */
  shedding(): RetryVerdict | undefined {
    if (this.shedVerdict === undefined || Date.now() >= this.shedUntil) return undefined;
    this.shedCounter.inc();
    this.overload?.add();
    return this.shedVerdict;
  }

  metricsFor(transport: Transport): TransportMetrics {
    const accepted = this.metrics.counter('pulse_receiver_accepted_spans_total', 'Spans a receiver handed to its pipeline successfully');
    const refused = this.metrics.counter(
      'pulse_receiver_refused_spans_total',
      'Spans a receiver could not deliver: refused by the pipeline or rejected by the decoder (e.g. an empty trace id)',
    );
    const requests = this.metrics.counter('pulse_receiver_requests_total', 'Export requests a receiver answered, by outcome');
    const labels = { receiver: this.receiverId, transport };
    const byOutcome = {} as Record<Outcome, BoundCounter>;
    for (const o of OUTCOMES) byOutcome[o] = requests.with({ ...labels, outcome: o });
    return { transport, acceptedSpans: accepted.with(labels), refusedSpans: refused.with(labels), requests: byOutcome };
  }

  /**
   * Hands a decoded request to the pipeline. Spans the decoder rejected are counted as refused; an empty batch
   * is not passed on. Never throws.
   */
  async deliver(decoded: DecodeResult, m: TransportMetrics): Promise<Verdict> {
    if (decoded.rejectedSpans > 0) m.refusedSpans.inc(decoded.rejectedSpans);
    const batch = decoded.batch;
    const n = batch.spanCount;
    if (n === 0) return OK;
    try {
      await this.next.consume(batch);
      m.acceptedSpans.inc(n);
      this.shedVerdict = undefined;
      this.shedWindowMs = 0;
      return OK;
    } catch (err) {
      m.refusedSpans.inc(n);
      if (err instanceof PermanentError) return { kind: 'permanent', message: err.message };
      if (err instanceof RetryableError) {
        const verdict: RetryVerdict = {
          kind: 'retry',
          resourceExhausted: err.resourceExhausted,
          retryAfterMs: err.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS,
          message: err.message,
        };
        if (err.resourceExhausted) {
          this.overload?.add();
          this.startShedding(verdict);
        }
        return verdict;
      }
      const skipped = this.pipelineErrors.take('pipeline');
      if (skipped !== undefined) {
        this.logger.warn({ err, skipped }, 'the pipeline failed with an unclassified error; answering "retry later" (PULSE_ERR_PIPELINE)');
      }
      return {
        kind: 'retry',
        resourceExhausted: false,
        retryAfterMs: DEFAULT_RETRY_AFTER_MS,
        message: `the pipeline failed: ${errorMessage(err)}`,
      };
    }
  }

  private startShedding(refusal: RetryVerdict): void {
    this.shedWindowMs = this.shedWindowMs === 0 ? SHED_FIRST_MS : Math.min(this.shedWindowMs * 2, SHED_MAX_MS);
    this.shedUntil = Date.now() + this.shedWindowMs;
    this.shedVerdict = { ...refusal, message: `${refusal.message} (refused without reading it: the pipeline is full)` };
  }

  /**
   * Counts a request answered with an error under `outcome` and logs it, rate-limited: a bad request (the sender
   * must change something), or a refusal (`refused`: retryable, the sender did nothing wrong, but an operator needs
   * to see that data is being turned away). `sender` names who sent it (address, user agent when known).
   */
  recordError(m: TransportMetrics, outcome: Outcome, message: string, sender?: Sender): void {
    m.requests[outcome].inc();
    if (outcome === 'refused') this.logRefused(m.transport, message, sender);
    else this.logBadRequest(m.transport, outcome, message, sender);
  }

  /**
   * Why a request was refused because the in-flight budget is full (answered retryable, unread); counts the
   * refusal as one for overload.
   */
  busy(): string {
    this.overload?.add();
    return `the receiver holds its limit of ${this.budget.limit} bytes of requests in flight (max_inflight_bytes); retry later`;
  }

  /** Logs a bad request: at debug each time, at warn at most every 30 s with a count. */
  private logBadRequest(transport: Transport, outcome: Outcome, message: string, sender: Sender | undefined): void {
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ transport, outcome, ...senderFields(sender) }, message);
    const skipped = this.badRequests.take('bad_request');
    if (skipped !== undefined) {
      this.logger.warn({ transport, outcome, skipped, ...senderFields(sender) }, `refused a request: ${message}`);
    }
  }

  /** Logs a retryable refusal at most every 30 s, with how many went unlogged. */
  private logRefused(transport: Transport, message: string, sender: Sender | undefined): void {
    const skipped = this.badRequests.take('refused');
    if (skipped !== undefined) {
      this.logger.warn({ transport, outcome: 'refused', skipped, ...senderFields(sender) }, `answered a request "retry later": ${message}`);
    }
  }
}

/** Who sent a request, for the log lines of refused ones. */
export interface Sender {
  readonly socket: { readonly remoteAddress?: string | undefined } | undefined;
  readonly userAgent: string | undefined;
}

function senderFields(sender: Sender | undefined): { peer?: string; user_agent?: string } {
  if (sender === undefined) return {};
  const out: { peer?: string; user_agent?: string } = {};
  const peer = sender.socket?.remoteAddress;
  if (peer !== undefined) out.peer = peer;
  if (sender.userAgent !== undefined) out.user_agent = sender.userAgent.slice(0, 200);
  return out;
}
