import type { TraceBatch } from '../core/model.js';

/**
 * A decoded export request. Spans that are well-formed protobuf/JSON but unusable (an empty or wrong-length trace
 * id or span id) are left out of `batch` and reported here, so the receiver can answer with `partial_success`.
 */
export interface DecodeResult {
  batch: TraceBatch;
  rejectedSpans: number;
  /** Why spans were rejected (the first reason, with a count when there were several); '' when none were. */
  rejectReason: string;
}
