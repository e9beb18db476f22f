/**
 * The consistent-hash ring that picks a backend for a trace id. It is built the way the OpenTelemetry Collector's
 * `loadbalancing` exporter builds its ring, so that Pulse sidecars and Collector agents given the same endpoint
 * strings send a trace to the same backend:
 *
 * - the endpoints are sorted; each gets 100 points at `crc32(endpoint bytes + one byte i) % 36000`, i = 0…99;
 *   a point already taken by an earlier endpoint is skipped;
 * - a trace goes to the first point at or after `crc32(its 16 id bytes) % 36000`, wrapping round to the first.
 *
 * crc32 is the IEEE polynomial (zlib's, Go's `crc32.NewIEEE`). Adding or removing one of N backends moves about
 * 1/N of the trace ids; the rest keep their backend.
 */
import { crc32, crc32OfBinary } from '../../core/crc32.js';

const POSITIONS = 36_000;
const POINTS_PER_ENDPOINT = 100;

export class HashRing {
  /** The distinct endpoints, sorted; `owner` holds indexes into it. */
  readonly endpoints: readonly string[];
  /** Ring points, ascending, and the endpoint index owning each. */
  private readonly points: Uint32Array;
  private readonly owner: Uint16Array;

  constructor(endpoints: readonly string[]) {
    this.endpoints = [...new Set(endpoints)].sort();
    const taken = new Set<number>();
    const items: Array<[number, number]> = [];
    const encoder = new TextEncoder();
    this.endpoints.forEach((endpoint, index) => {
      const name = encoder.encode(endpoint);
      const bytes = new Uint8Array(name.length + 1);
      bytes.set(name);
      for (let i = 0; i < POINTS_PER_ENDPOINT; i++) {
        bytes[name.length] = i;
        const pos = crc32(bytes) % POSITIONS;
        if (taken.has(pos)) continue;
        taken.add(pos);
        items.push([pos, index]);
      }
    });
    items.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(items, (x) => x[0]);
    this.owner = Uint16Array.from(items, (x) => x[1]);
  }

  /** Index (into `endpoints`) of the backend for a trace id (binary string); -1 when the ring is empty. */
  indexFor(traceId: string): number {
    const points = this.points;
    const n = points.length;
    if (n === 0) return -1;
    const pos = crc32OfBinary(traceId) % POSITIONS;
    // first point >= pos
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return this.owner[lo === n ? 0 : lo]!;
  }
}
