/**
 * HTTP `Retry-After` (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date. Returns milliseconds to wait, or
 * `undefined` when absent or unreadable (the exporter then uses its own backoff).
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
