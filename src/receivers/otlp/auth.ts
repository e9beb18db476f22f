/**
 * Bearer-token check shared by both transports. Both sides are hashed to a fixed length before
 * `timingSafeEqual`, so neither the comparison time nor an early length mismatch tells a caller how much of a
 * guessed token was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class BearerAuth {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** `true` when `header` (the Authorization value) is `Bearer <the token>`; the scheme is case-insensitive. */
  check(header: string | undefined): boolean {
    if (header === undefined) return false;
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), this.expected);
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
