/**
 * CORS for OTLP/HTTP, so browser exporters on other origins can post spans.
 *
 * - An allowed origin is exact (`https://app.example.com`), has `*` wildcards (`https://*.example.com`), or is `*`
 *   (any origin). Patterns are compiled once.
 * - Actual requests from an allowed origin get `Access-Control-Allow-Origin: <origin>` (the origin echoed, never
 *   `*`, so the answer is right for credentialed requests too) and `Vary: Origin` (so caches keep answers apart).
 * - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin asking for POST and allowed
 *   headers gets 204 with the allow headers; anything else gets 403 with a message saying what was not allowed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CorsConfig } from './config.js';

/** Headers a browser exporter needs without any configuration. */
const DEFAULT_ALLOWED_HEADERS = ['content-type', 'content-encoding', 'accept', 'origin', 'x-requested-with'];

export type PreflightResult = { ok: true } | { ok: false; reason: string };

export class CorsPolicy {
  private readonly anyOrigin: boolean;
  private readonly exact: Set<string>;
  private readonly patterns: RegExp[];
  private readonly anyHeader: boolean;
  private readonly allowedHeaders: Set<string>;
  private readonly maxAge: string | undefined;

  constructor(config: CorsConfig) {
    this.anyOrigin = config.allowed_origins.includes('*');
    this.exact = new Set();
    this.patterns = [];
    for (const o of config.allowed_origins) {
      if (o.includes('*')) this.patterns.push(wildcardToRegExp(o.toLowerCase()));
      else this.exact.add(o.toLowerCase());
    }
    this.anyHeader = config.allowed_headers.includes('*');
    this.allowedHeaders = new Set([...DEFAULT_ALLOWED_HEADERS, ...config.allowed_headers.map((h) => h.toLowerCase())]);
    this.maxAge = config.max_age > 0 ? String(config.max_age) : undefined;
  }

  isAllowedOrigin(origin: string): boolean {
    if (this.anyOrigin) return true;
    const o = origin.toLowerCase();
    if (this.exact.has(o)) return true;
    for (const p of this.patterns) if (p.test(o)) return true;
    return false;
  }

  /** Adds the headers of an actual (non-preflight) response; call before writing the head. */
  decorate(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (origin !== undefined && this.isAllowedOrigin(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      // Browser exporters back off by it when throttled (429/503); a cross-origin script cannot read it otherwise.
      res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    }
  }

  /** Checks a preflight and, when it passes, sets the allow headers on `res` (the caller writes the status). */
  preflight(req: IncomingMessage, res: ServerResponse): PreflightResult {
    res.setHeader('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    const origin = req.headers.origin;
    if (origin === undefined) return { ok: false, reason: 'a CORS preflight needs an Origin header' };
    if (!this.isAllowedOrigin(origin)) {
      return { ok: false, reason: `origin ${origin} is not allowed; add it to cors.allowed_origins` };
    }
    const method = req.headers['access-control-request-method'];
    if (method !== undefined && method.trim().toUpperCase() !== 'POST') {
      return { ok: false, reason: `method ${method} is not allowed; OTLP/HTTP accepts POST` };
    }
    const requested = parseHeaderList(req.headers['access-control-request-headers']);
    if (!this.anyHeader) {
      for (const h of requested) {
        if (!this.allowedHeaders.has(h)) return { ok: false, reason: `request header ${h} is not allowed; add it to cors.allowed_headers` };
      }
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Methods', 'POST');
    if (requested.length > 0) res.setHeader('Access-Control-Allow-Headers', requested.join(', '));
    if (this.maxAge !== undefined) res.setHeader('Access-Control-Max-Age', this.maxAge);
    return { ok: true };
  }
}

function parseHeaderList(v: string | undefined): string[] {
  if (v === undefined) return [];
  const out: string[] = [];
  for (const part of v.split(',')) {
    const h = part.trim().toLowerCase();
    if (h !== '') out.push(h);
  }
  return out;
}

/** `https://*.example.com` → /^https:\/\/.*\.example\.com$/ (everything but `*` matched literally). */
function wildcardToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
