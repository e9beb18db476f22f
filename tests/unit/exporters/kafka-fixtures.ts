/**
 * Test helpers for the kafka exporter: alert events as SLO evaluation makes them, and a small validator for the
 * subset of JSON Schema draft-07 that schemas/alert-event.schema.json uses (no validator package is installed).
 */
import { randomUUID } from 'node:crypto';
import type { AlertEvent } from '../../../src/alerts/model.js';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');

/** A firing segment alert with suspects, a release and exemplars; override any field. */
export function segmentAlert(over: Partial<AlertEvent> = {}): AlertEvent {
  return {
    id: randomUUID(),
    fingerprint: '5f1c0e8a9b7d4c2e8f0a1b2c3d4e5f60',
    journey: 'checkout',
    kind: 'segment',
    severity: 'page',
    status: 'firing',
    startsAtMs: T0,
    endsAtMs: undefined,
    eventTimeMs: T0 + 5000,
    repeat: false,
    segment: { key: 'customer.tier', value: 'enterprise' },
    objective: { target: 0.995, windowMs: 30 * 86_400_000 },
    errorBudgetRemaining: 0.62,
    burnRates: [
      { window: '1h', windowMs: 3_600_000, burnRate: 21.5, threshold: 14.4 },
      { window: '5m', windowMs: 300_000, burnRate: 38.2, threshold: 14.4 },
    ],
    attempts: 412,
    failures: 97,
    suspects: [
      { dimension: 'service.version:payments', value: '2.5.0', attempts: 120, failures: 88, failureRatio: 0.733, shareOfFailures: 0.907, lift: 3.11 },
      { dimension: 'customer.tier', value: 'enterprise', attempts: 150, failures: 90, failureRatio: 0.6, shareOfFailures: 0.928, lift: 2.55 },
    ],
    release: undefined,
    exemplarTraceIds: ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7a3ce929d0e0e4736'],
    owner: 'team-payments',
    runbook: 'https://runbooks.example.com/checkout',
    summary: 'checkout failing for customer.tier=enterprise: payments 2.5.0 (lift 3.1)',
    ...over,
  };
}

/** Its resolved event. */
export function resolvedOf(firing: AlertEvent, endsAtMs = firing.eventTimeMs + 600_000): AlertEvent {
  return { ...firing, id: randomUUID(), status: 'resolved', repeat: false, endsAtMs, eventTimeMs: endsAtMs };
}

/**
 * Events numbered `seq` for a few fingerprints, the number in `summary` (`seq=<n>`), so a reader can check order
 * per fingerprint and completeness.
 */
export function numberedAlert(fingerprint: string, seq: number): AlertEvent {
  return segmentAlert({ fingerprint, summary: `seq=${seq}`, eventTimeMs: T0 + seq, repeat: seq > 0 });
}

export function seqOf(summary: string): number {
  const m = /^seq=(\d+)$/.exec(summary);
  if (!m) throw new Error(`not a numbered event: ${summary}`);
  return Number(m[1]);
}

type Schema = Record<string, unknown>;

/**
 * Checks `value` against a draft-07 schema using type, const, enum, required, properties, additionalProperties
 * (false or a schema), items, anyOf, minimum, maximum, minLength, pattern and format date-time; returns the
 * problems as `path: message` (empty when valid). Throws on a keyword it does not implement, so a schema change
 * cannot silently skip checks.
 */
export function validate(schema: Schema, value: unknown, path = '$'): string[] {
  const known = new Set([
    '$schema', '$id', 'title', 'description', 'type', 'const', 'enum', 'required', 'properties', 'additionalProperties',
    'items', 'anyOf', 'minimum', 'maximum', 'minLength', 'pattern', 'format', 'default',
  ]);
  for (const k of Object.keys(schema)) if (!known.has(k)) throw new Error(`validate(): keyword ${k} at ${path} is not implemented`);
  const out: string[] = [];
  if (schema.anyOf !== undefined) {
    const branches = (schema.anyOf as Schema[]).map((s) => validate(s, value, path));
    if (!branches.some((b) => b.length === 0)) out.push(`${path}: matches no anyOf branch (${branches.map((b) => b.join('; ')).join(' | ')})`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => hasType(value, t))) {
      out.push(`${path}: expected ${types.join('|')}, got ${JSON.stringify(value)}`);
      return out;
    }
  }
  if ('const' in schema && value !== schema.const) out.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !(schema.enum as unknown[]).includes(value)) out.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${path}: does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) {
      out.push(`${path}: not an RFC 3339 date-time`);
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((v, i) => out.push(...validate(schema.items as Schema, v, `${path}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in obj)) out.push(`${path}: missing ${key}`);
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [key, v] of Object.entries(obj)) {
      if (props[key] !== undefined) out.push(...validate(props[key], v, `${path}.${key}`));
      else if (schema.additionalProperties === false) out.push(`${path}: unexpected key ${key}`);
    }
  }
  return out;
}

function hasType(v: unknown, t: string): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    default:
      return typeof v === t;
  }
}

/** Every key path of a JSON value's objects (`data.suspects[].lift`), for "exactly the documented keys" checks. */
export function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.length > 0 ? keyPaths(value[0], `${prefix}[]`) : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    return [p, ...keyPaths(v, p)];
  });
}

/** Key paths a schema declares (following anyOf, properties and items). */
export function schemaKeyPaths(schema: Schema, prefix = ''): string[] {
  const out: string[] = [];
  for (const branch of (schema.anyOf as Schema[] | undefined) ?? []) out.push(...schemaKeyPaths(branch, prefix));
  if (schema.items !== undefined) out.push(...schemaKeyPaths(schema.items as Schema, `${prefix}[]`));
  for (const [k, s] of Object.entries((schema.properties as Record<string, Schema> | undefined) ?? {})) {
    const p = prefix === '' ? k : `${prefix}.${k}`;
    out.push(p, ...schemaKeyPaths(s, p));
  }
  return out;
}
