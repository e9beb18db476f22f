/**
 * Reusable buffers for compressed request bodies.
 *
 * A compressed body lives only until it is inflated (the spans point into the inflated bytes, never into it), yet
 * reading it into a fresh buffer per request allocates an ArrayBuffer the size of the body, and V8 starts a
 * young-generation GC (a 5–10 ms pause) for every ~32 MB of young ArrayBuffers. So bodies with a declared length
 * are read into a buffer taken from here and given back once inflated. Bounded: at most `maxKept` idle buffers of
 * at most `maxBufferBytes` each; a bigger body, or one arriving while every kept buffer is in use, gets a buffer of
 * its own as before. Identity bodies never come here: their spans keep pointing into them.
 */
export class BodyBufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    private readonly maxKept = 16,
    private readonly maxBufferBytes = 1024 * 1024,
  ) {}

  /** A buffer of at least `n` bytes, the caller's until `give` (sizes are rounded up to a power of two, ≥ 16 KiB). */
  take(n: number): Buffer {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const b = idle[i]!;
      if (b.length >= n) {
        idle[i] = idle[idle.length - 1]!;
        idle.pop();
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(n <= this.maxBufferBytes ? roundUp(n) : n);
  }

  /** Gives a buffer from `take` back; the caller must not touch it afterwards. */
  give(b: Buffer): void {
    if (b.length <= this.maxBufferBytes && this.idle.length < this.maxKept) this.idle.push(b);
  }

  /** Idle buffers kept (for tests). */
  get kept(): number {
    return this.idle.length;
  }
}

function roundUp(n: number): number {
  let size = 16 * 1024;
  while (size < n) size *= 2;
  return size;
}
