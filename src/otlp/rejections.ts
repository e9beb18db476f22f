/**
 * Counts spans a decoder leaves out of a batch (well-formed but unusable: bad ids) and words the first reason for
 * the OTLP `partial_success.error_message`, e.g.
 * `2 spans rejected: trace_id must be 16 bytes and not all zero (first at resource_spans[0].scope_spans[1].spans[3])`.
 */
export class SpanRejections {
  count = 0;
  private reason = '';
  private where = '';

  /** Records one rejected span. `where` is built only for the first one, so the caller passes its parts. */
  reject(reason: string, prefix: string, resourceIndex: number, scopeIndex: number, scopeField: string, spanIndex: number, spanField: string): void {
    if (this.count++ === 0) {
      this.reason = reason;
      this.where = `${prefix}[${resourceIndex}].${scopeField}[${scopeIndex}].${spanField}[${spanIndex}]`;
    }
  }

  message(): string {
    if (this.count === 0) return '';
    return `${this.count} ${this.count === 1 ? 'span' : 'spans'} rejected: ${this.reason} (first at ${this.where})`;
  }
}
