/**
 * Requests Pulse refused because it was overloaded, not because they were wrong: shed unread by a receiver, refused
 * while a receiver held its in-flight byte limit, or refused by the pipeline as full (429 / RESOURCE_EXHAUSTED).
 * Their senders send them again, maybe later than the journeys connector waits for an attempt's spans, so the
 * connector watches this count to tell its own overload from a journey's missing step (journeys/runtime/assembler.ts,
 * *Pulse's own overload*). One per process, shared by every graph: receivers add, the journeys connector reads.
 */
export class OverloadRefusals {
  private n = 0;

  /** One request refused for overload. */
  add(): void {
    this.n++;
  }

  /** Requests refused for overload since the process started. */
  get count(): number {
    return this.n;
  }
}
