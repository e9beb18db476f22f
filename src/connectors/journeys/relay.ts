/**
 * The journeys connector split across two threads (`service.derived_signals.thread: worker`): the main thread
 * matches, tags and forwards, and captures each matched span (`captureSpan`, the few fields a decision needs); the
 * worker assembles attempts from those captures, derives SLI windows and feeds the derived pipelines.
 *
 * One message per consumed batch, to the connector's id on the other side:
 *
 *     { generation, nowMs, spans: [journeyOrder, traceId, spanId, parentSpanId, role, startNs, endNs,
 *                                  statusCode, service, version, segments | null, whereFailures | null, …] }
 *
 * A flat array of primitives with a fixed stride: structured clone copies it far faster than one object per span
 * (which it would encode key by key). `generation` names the journey snapshot `journeyOrder` indexes; the worker
 * receives every snapshot (service/derived-worker relays the store) before any span matched with it, because
 * both travel the same ordered channel and the store tells its listeners in registration order.
 *
 * Bounded: the main side counts spans sent and not yet acknowledged. Past `maxInFlight` it refuses new batches
 * with a retryable error (the sender retries, as with a full queue) instead of letting the worker's inbox grow.
 */
import { RetryableError } from '../../core/errors.js';
import type { ThreadLink } from '../../core/component.js';
import type { CompiledJourney } from '../../journeys/model.js';
import type { CapturedSpanSink } from '../../journeys/runtime/journey-runtime.js';
import { START_ROLE, type Candidate } from '../../journeys/runtime/matcher-index.js';
import { SpanRecord } from '../../journeys/runtime/span-record.js';

const NO_FAILURES: readonly string[] = Object.freeze([]);

/** Values per span in a message. */
const STRIDE = 12;

/** Captured spans on their way to the worker or not yet processed there, at most (~5 s of 20k journey spans/s). */
export const MAX_IN_FLIGHT_SPANS = 100_000;

export interface RelayMessage {
  readonly generation: number;
  readonly nowMs: number;
  readonly spans: unknown[];
  /** Requests refused for overload so far (`OverloadRefusals.count` on the main side): the worker watches it change. */
  readonly refusals: number;
}

export interface RelayAck {
  readonly ack: number;
}

/** Main side: collects the captures of one batch and posts them as one message. */
export class SpanRelay implements CapturedSpanSink {
  private spans: unknown[] = [];
  private inFlight = 0;
  private refusalsSent = 0;
  private readonly unlisten: () => void;

  constructor(
    private readonly link: ThreadLink,
    private readonly id: string,
    private readonly maxInFlight: number = MAX_IN_FLIGHT_SPANS,
  ) {
    this.unlisten = link.listen(id, (m) => {
      this.inFlight = Math.max(0, this.inFlight - (m as RelayAck).ack);
    });
  }

  /** Spans sent and not yet acknowledged by the worker. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Throws a RetryableError when the worker is this far behind; call before processing a batch. It is Pulse's own
   * overload (resource exhausted: 429 / RESOURCE_EXHAUSTED, and the receivers shed load), not a failing destination.
   */
  admit(): void {
    if (this.inFlight < this.maxInFlight) return;
    throw new RetryableError(
      'PULSE_ERR_BUSY',
      `journeys connector ${this.id}: ${this.inFlight} matched spans are waiting for the assembly thread (limit ${this.maxInFlight}); retry shortly`,
      { resourceExhausted: true },
    );
  }

  captured(candidate: Candidate, traceId: string, r: SpanRecord): void {
    this.spans.push(
      candidate.journeyOrder,
      traceId,
      r.spanId,
      r.parentSpanId,
      r.role,
      r.startNs,
      r.endNs,
      r.statusCode,
      r.service,
      r.version,
      r.segments ?? null,
      r.whereFailures.length === 0 ? null : r.whereFailures,
    );
  }

  /**
   * Posts what the batch captured, if anything, with `refusals` (requests refused for overload so far); a batch
   * that captured nothing still posts when `refusals` changed, so the worker learns of the overload in time.
   */
  send(generation: number, nowMs: number, refusals = 0): void {
    const spans = this.spans;
    if (spans.length === 0 && refusals === this.refusalsSent) return;
    this.spans = [];
    this.refusalsSent = refusals;
    this.inFlight += spans.length / STRIDE;
    const message: RelayMessage = { generation, nowMs, spans, refusals };
    this.link.post(this.id, message);
  }

  close(): void {
    this.unlisten();
  }
}

/** Worker side: what the assembler is handed for each relayed span. */
export type AddCaptured = (journey: CompiledJourney, stepName: string, traceId: string, record: SpanRecord, nowMs: number) => void;

/** Spans in a message: what the worker side acknowledges once it has handled the message, used or not. */
export function relayedCount(message: RelayMessage): number {
  return message.spans.length / STRIDE;
}

/**
 * Hands every span of `message` to `add`, with the journey it was matched by in `journeys` (the snapshot of the
 * message's generation).
 */
export function unpackRelayed(message: RelayMessage, journeys: readonly CompiledJourney[], add: AddCaptured): void {
  const s = message.spans;
  for (let i = 0; i < s.length; i += STRIDE) {
    const journey = journeys[s[i] as number];
    if (journey === undefined) continue;
    const role = s[i + 4] as number;
    const stepName = role === START_ROLE ? 'start' : (journey.steps[role]?.name ?? '');
    const record = new SpanRecord(
      s[i + 2] as string,
      s[i + 3] as string,
      role,
      s[i + 5] as bigint,
      s[i + 6] as bigint,
      s[i + 7] as number,
      s[i + 8] as string,
      s[i + 9] as string,
      (s[i + 10] as Array<string | undefined> | null) ?? undefined,
      (s[i + 11] as string[] | null) ?? NO_FAILURES,
    );
    add(journey, stepName, s[i + 1] as string, record, message.nowMs);
  }
}
