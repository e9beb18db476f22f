/**
 * The one narrow interface data flows through. A producer calls `consume(data)` and awaits it:
 *
 * - resolving means the consumer took the data (an exporter: queued it, bounded; a processor: passed it on);
 * - rejecting with a `RetryableError` means "not now": the producer retries or pushes back to its own sender;
 * - rejecting with a `PermanentError` means the data is bad and was dropped (and counted) downstream.
 *
 * After `consume()` is called the caller no longer touches `data`. A consumer that changes the data it receives
 * sets `mutatesData`, and fan-out gives it its own copy when other consumers read the same data; one that changes a
 * trace batch in place also calls `markChanged(batch)` first, so that the exporters do not forward the request it
 * was decoded from (`TraceBatch.received`).
 */
import type { TraceBatch } from './model.js';
import type { AttemptRecord, SliWindow } from '../journeys/model.js';
import type { AlertEvent } from '../alerts/model.js';

/**
 * The signals that flow through pipelines, and the unit each carries:
 * - `traces`: OTLP spans;
 * - `attempts`: decided journey attempts (the journeys connector produces them);
 * - `journey_metrics`: SLI window rows by journey × segment × window (the journeys connector produces them);
 * - `alerts`: alert events, firing and resolved (SLO evaluation produces them).
 */
export interface SignalData {
  traces: TraceBatch;
  attempts: AttemptRecord[];
  journey_metrics: SliWindow[];
  alerts: AlertEvent[];
}

export type Signal = keyof SignalData;

export const SIGNALS: readonly Signal[] = ['traces', 'attempts', 'journey_metrics', 'alerts'];

export interface Consumer<T> {
  readonly mutatesData: boolean;
  consume(data: T): Promise<void>;
}

/** How many items a unit of data holds, for metrics (spans for traces). */
export const itemCount: { [S in Signal]: (data: SignalData[S]) => number } = {
  traces: (batch) => batch.spanCount,
  attempts: (records) => records.length,
  journey_metrics: (rows) => rows.length,
  alerts: (events) => events.length,
};
