/**
 * The traces side of the generic helper: what `createQueuedExporter<TraceBatch>()` needs to count, size, merge and
 * persist trace batches. Every traces exporter (otlp, otlphttp, later ClickHouse and Kafka) passes these; an
 * exporter built around one client object (send, start, close) uses `createQueuedTracesExporter()`.
 */
import type { CreateSettings } from '../../core/component.js';
import { concatReceived, type TraceBatch } from '../../core/model.js';
import { decodeTraceRequest, encodeTraceRequest, type TraceResponse } from '../../otlp/index.js';
import type { ExporterHelperConfig } from './config.js';
import { createQueuedExporter, type ItemCodec, type QueuedExporter } from './queued-exporter.js';
import type { SendResult } from './sender.js';

/**
 * Memory of one queued span: its decoded objects (strings, attribute objects, bigints) with the ~8 attributes
 * typical of instrumented services — measured ~1160 bytes for tests/support/traces.ts's realistic batches as the
 * protobuf decoder builds them (Node 20) — plus the ~420 bytes of request it keeps so that it can be forwarded by
 * copying (`Span.rawBuf`), and ~55 more when it came gzipped (`TraceBatch.received`). Used only to bound the
 * in-memory queue (`max_bytes`); an estimate from the span count costs nothing, where measuring would walk every
 * attribute.
 */
export const SPAN_HEAP_BYTES_ESTIMATE = 1650;

export function traceItemCount(batch: TraceBatch): number {
  return batch.spanCount;
}

export function traceBatchSizeEstimate(batch: TraceBatch): number {
  return batch.spanCount * SPAN_HEAP_BYTES_ESTIMATE;
}

/**
 * Concatenates batches (resources are not deduplicated: cheaper, and the wire format allows repeats). When every
 * batch still has the request it came as, so does the result: those requests concatenated (`concatReceived`).
 */
export function mergeTraceBatches(batches: TraceBatch[]): TraceBatch {
  const resourceSpans = [];
  let spanCount = 0;
  for (const b of batches) {
    for (const rs of b.resourceSpans) resourceSpans.push(rs);
    spanCount += b.spanCount;
  }
  return { resourceSpans, spanCount, received: concatReceived(batches.map((b) => b.received)) };
}

/** Persistent-queue codec: OTLP protobuf, exact to the nanosecond and readable by any OTLP tool. */
export const traceBatchCodec: ItemCodec<TraceBatch> = {
  // A request nothing changed is stored as it came; decoding it gives the batch back its `received` bytes.
  encode: (batch) => batch.received?.protobuf ?? encodeTraceRequest(batch),
  // Bytes that passed the queue file's checksum are what encode() wrote, so decode() sees only valid requests.
  decode: (bytes) => decodeTraceRequest(bytes).batch,
};

/** Everything `createQueuedExporter<TraceBatch>()` takes from the signal, in one spread. */
export const traceItemFunctions = {
  itemCount: traceItemCount,
  sizeOf: traceBatchSizeEstimate,
  merge: mergeTraceBatches,
  codec: traceBatchCodec,
};

/** A destination client as the OTLP exporters have one: sends one batch, opens and closes its connections. */
export interface TraceClient {
  /** See `SendFn` for the error contract. */
  send(batch: TraceBatch, signal: AbortSignal): Promise<SendResult>;
  /** Runs before the queue opens (load TLS files, create the connection pool); reject to fail start. */
  start(): Promise<void>;
  /** Runs after the queue drained or the shutdown deadline passed. */
  close(): Promise<void>;
}

/** A queued traces exporter that sends through `client`. */
export function createQueuedTracesExporter(
  settings: CreateSettings,
  config: ExporterHelperConfig,
  client: TraceClient,
): QueuedExporter<TraceBatch> {
  return createQueuedExporter<TraceBatch>({
    settings,
    config,
    ...traceItemFunctions,
    send: (batch, signal) => client.send(batch, signal),
    start: () => client.start(),
    shutdown: () => client.close(),
    // A trace batch is encoded when sent, so any exporter of the same type can send what this one queued.
    handover: true,
  });
}

/**
 * What an OTLP export response means for the helper's accounting: its `partial_success` rejected spans (with the
 * destination's message) are counted as rejected by the destination; an empty one means all were accepted.
 */
export function tracePartialSuccess(response: TraceResponse): SendResult {
  return response.rejectedSpans > 0 ? { rejectedItems: response.rejectedSpans, rejectMessage: response.errorMessage } : {};
}
