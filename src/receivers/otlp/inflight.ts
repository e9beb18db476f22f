/**
 * The receiver's memory bound: bytes of request bodies held at once, across every connection and both transports.
 * A request reserves what it holds through a `Lease` — bytes as they arrive (never a declared length ahead of
 * them: idle connections that announce large bodies must not take the budget from senders that send), then the
 * decompression output before zlib allocates it — and gives it all back when answered. When a reservation would
 * exceed the budget the request is refused with a retryable status instead of being buffered, so a burst of large
 * or slow requests costs the sender a retry, not this process its heap.
 */
export class InflightBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.used;
  }

  /**
   * Reserves `n` bytes; `false` (nothing reserved) when that would go over the limit. (The config guarantees the
   * limit is at least the largest allowed body, so a request alone always fits.)
   */
  tryReserve(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** Whether `n` more bytes would fit now (nothing reserved). */
  fits(n: number): boolean {
    return this.used + n <= this.limit;
  }

  /** Counts `n` bytes that are already held (a decompressed copy): later requests see them, this one goes on. */
  add(n: number): void {
    this.used += n;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** What one request holds of the budget; `release()` returns all of it and may be called more than once. */
export class Lease {
  private held = 0;

  constructor(private readonly budget: InflightBudget) {}

  tryReserve(n: number): boolean {
    if (n === 0) return true;
    if (!this.budget.tryReserve(n)) return false;
    this.held += n;
    return true;
  }

  add(n: number): void {
    this.budget.add(n);
    this.held += n;
  }

  release(): void {
    this.budget.release(this.held);
    this.held = 0;
  }
}
