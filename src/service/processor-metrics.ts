/**
 * Counts what goes into and out of every processor, so a user can see where items (spans, attempts or SLI rows,
 * depending on the pipeline's signal) are dropped or refused:
 *
 * - `pulse_processor_incoming_items_total{processor,pipeline}`: items handed to the processor;
 * - `pulse_processor_outgoing_items_total{processor,pipeline}`: items the processor handed on;
 * - `pulse_processor_refused_items_total{processor,pipeline}`: items whose `consume()` rejected.
 *
 * Incoming minus outgoing minus refused is what the processor filtered out (or still holds, for `batch`).
 * The graph wraps the processor (incoming, refused) and the `next` it is given (outgoing). Labels are bound once
 * at build time, so counting is an addition per batch.
 */
import type { ConsumingComponent, Host } from '../core/component.js';
import { itemCount, type Consumer, type Signal, type SignalData } from '../core/consumer.js';
import type { BoundCounter, MetricsRegistry } from '../core/telemetry.js';

export interface ProcessorCounters {
  readonly incoming: BoundCounter;
  readonly outgoing: BoundCounter;
  readonly refused: BoundCounter;
}

export function processorCounters(metrics: MetricsRegistry, processor: string, pipeline: string): ProcessorCounters {
  const labels = { processor, pipeline };
  return {
    incoming: metrics.counter('pulse_processor_incoming_items_total', 'Items (spans, attempts or SLI rows) handed to a processor.').with(labels),
    outgoing: metrics.counter('pulse_processor_outgoing_items_total', 'Items (spans, attempts or SLI rows) a processor handed on to the next consumer.').with(labels),
    refused: metrics
      .counter('pulse_processor_refused_items_total', 'Items (spans, attempts or SLI rows) a processor refused (its consume() rejected).')
      .with(labels),
  };
}

/** Wraps the `next` a processor is created with, counting what it hands on. */
export function countOutgoing<S extends Signal>(signal: S, next: Consumer<SignalData[S]>, counter: BoundCounter): Consumer<SignalData[S]> {
  const count = itemCount[signal];
  return {
    mutatesData: next.mutatesData,
    consume(data) {
      counter.inc(count(data));
      return next.consume(data);
    },
  };
}

/** Wraps a processor, counting what it is handed and what it refuses; lifecycle calls pass straight through. */
export class ObservedProcessor<S extends Signal> implements ConsumingComponent<S> {
  readonly mutatesData: boolean;
  private readonly count: (data: SignalData[S]) => number;

  constructor(
    signal: S,
    private readonly inner: ConsumingComponent<S>,
    private readonly counters: ProcessorCounters,
  ) {
    this.mutatesData = inner.mutatesData;
    this.count = itemCount[signal];
  }

  start(host: Host): Promise<void> {
    return this.inner.start(host);
  }

  shutdown(deadline?: number): Promise<void> {
    return this.inner.shutdown(deadline);
  }

  consume(data: SignalData[S]): Promise<void> {
    const n = this.count(data);
    this.counters.incoming.inc(n);
    return this.inner.consume(data).catch((err: unknown) => this.onRefused(err, n));
  }

  private onRefused(err: unknown, n: number): never {
    this.counters.refused.inc(n);
    throw err;
  }
}
