/**
 * A bounded pool of reusable ArrayBuffers, for bytes that live only until one asynchronous step has read them: a
 * compressed request body until it is inflated, an encoded forward body until gzip has read it.
 *
 * Why: V8 starts a young-generation GC (a 5–10 ms pause here) for every ~32 MB of young ArrayBuffers, whatever
 * `--max-semi-space-size` says, and a fresh buffer per request is what fills that quota. Bounded: at most `maxKept`
 * idle buffers of at most `maxBufferBytes` each are kept; a bigger request, or one arriving while every kept
 * buffer is in use, gets a buffer of its own and the GC takes it as before. Sizes are rounded up to a power of two
 * (at least `minBytes`) so that requests of nearby sizes share buffers.
 *
 * The caller owns a buffer from `take` until it hands it to `give`, and must not touch it afterwards.
 */
export class BufferPool {
  private readonly idle: ArrayBuffer[] = [];
  /** Buffers handed out by `take`/`tryTake` and not given back yet. */
  private lent = 0;

  constructor(
    private readonly maxKept: number,
    private readonly maxBufferBytes: number,
    private readonly minBytes: number,
  ) {}

  /** An ArrayBuffer of at least `n` bytes. */
  take(n: number): ArrayBuffer {
    this.lent++;
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const ab = idle[i]!;
      if (ab.byteLength >= n) {
        idle[i] = idle[idle.length - 1]!;
        idle.pop();
        return ab;
      }
    }
    return new ArrayBuffer(n <= this.maxBufferBytes ? roundUp(n, this.minBytes) : n);
  }

  /**
   * `take`, but only while the pool's own memory stays bounded: `undefined` when `n` is over `maxBufferBytes` or
   * `maxKept` buffers are out already. For memory a request holds before it has earned it (bytes not received yet).
   */
  tryTake(n: number): ArrayBuffer | undefined {
    if (n > this.maxBufferBytes || this.lent >= this.maxKept) return undefined;
    return this.take(n);
  }

  give(ab: ArrayBuffer): void {
    if (this.lent > 0) this.lent--;
    if (ab.byteLength <= this.maxBufferBytes && this.idle.length < this.maxKept) this.idle.push(ab);
  }

  /** Idle buffers kept. */
  get kept(): number {
    return this.idle.length;
  }
}

function roundUp(n: number, min: number): number {
  let size = min;
  while (size < n) size *= 2;
  return size;
}
