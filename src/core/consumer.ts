/**
 * The one narrow interface data flows through. A producer calls `consume(data)` and awaits it:
 *
 * - resolving means the consumer took the data (an exporter: queued it, bounded; a processor: passed it on);
 * - rejecting with a `RetryableError` means "not now": the producer retries or pushes back to its own sender;
 * - rejecting with a `PermanentError` means the data is bad and was dropped (and counted) downstream.
 *
 * After `consume()` is called the caller no longer touches `data`. A consumer that changes the data it receives
 * sets `mutatesData`, and fan-out gives it its own copy when other consumers read the same data.
 */
import type { TraceBatch } from './model.js';

/** The signals that flow through pipelines, and the unit each carries. Later components add attempts, journey
 * metrics and alerts. */
export interface SignalData {
  traces: TraceBatch;
}

export type Signal = keyof SignalData;

export const SIGNALS: readonly Signal[] = ['traces'];

export interface Consumer<T> {
  readonly mutatesData: boolean;
  consume(data: T): Promise<void>;
}

/** How many items a unit of data holds, for metrics (spans for traces). */
export const itemCount: { [S in Signal]: (data: SignalData[S]) => number } = {
  traces: (batch) => batch.spanCount,
};
