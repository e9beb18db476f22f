/**
 * Zod building blocks shared by every component's config schema, so that durations, sizes and addresses are
 * written the same way everywhere in a Pulse config file.
 */
import { z } from 'zod';

const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `10s`, `1.5m`, `2h`, `28d` to milliseconds; `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_MS[m[2]!]!;
}

/**
 * A duration written as `250ms`, `10s`, `5m`, `1h`, `28d`; parsed to milliseconds. A bare `0` is zero too (YAML
 * reads it as a number): it needs no unit, and the docs write "0 = off" for settings such as
 * `reload_poll_interval`. Any other bare number is refused, since its unit would be a guess.
 */
export function duration() {
  return z
    .union([z.string(), z.number()])
    .describe('A duration: a number and a unit (ns, us, ms, s, m, h, d), for example 500ms, 10s, 5m; or 0')
    // For editors: text, or the number 0 (any other number is refused below, with a message saying why).
    .meta({ anyOf: [{ type: 'string' }, { const: 0 }] })
    .transform((value, ctx) => {
      if (typeof value === 'number') {
        if (value === 0) return 0;
        ctx.addIssue({ code: 'custom', message: `${value} is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h (only 0 needs no unit)` });
        return z.NEVER;
      }
      const text = value;
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h` });
        return z.NEVER;
      }
      return ms;
    });
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i;
const SIZE_BYTES: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

export function parseByteSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'b').toLowerCase()]!);
}

/** A size in bytes: a number, or text like `20MiB`, `512KiB`, `1GiB`. */
export function byteSize() {
  return z
    .union([z.number().int().nonnegative(), z.string()])
    .describe('A size in bytes: a whole number, or a number with a unit (B, KiB, MiB, GiB, KB, MB, GB), for example 20MiB')
    .transform((v, ctx) => {
      if (typeof v === 'number') return v;
      const n = parseByteSize(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${v}" is not a size: write a number and a unit, like 512KiB or 20MiB` });
        return z.NEVER;
      }
      return n;
    });
}

export interface HostPort {
  host: string;
  port: number;
}

/** Splits `host:port`, `[::1]:port` or `:port` (all interfaces); `undefined` when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A listening address, `host:port` (`:4318` or `0.0.0.0:4318` for all interfaces; port 0 picks a free port). */
export function listenAddress() {
  return z
    .string()
    .describe('host:port to listen on, for example 0.0.0.0:4318, 127.0.0.1:4318 or :4318')
    .transform((text, ctx) => {
      const hp = parseHostPort(text);
      if (!hp) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a listening address: write host:port, like 0.0.0.0:4318` });
        return z.NEVER;
      }
      return hp;
    });
}
