/**
 * Turns zod issues into messages a person can act on, each with the path (inside one config section) of what it
 * is about; the loader maps the path to a `line:col`. zod's own wording is kept only where it is already clear
 * (custom messages from components' refinements, formats); types, enums, ranges and unknown keys are reworded,
 * and unknown keys get a "did you mean" among the keys that object allows.
 */
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import type { PathSegment } from './yaml-nodes.js';

export interface SchemaProblem {
  /** Path of the value concerned, relative to the value that was validated. */
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** Report at the key (an unknown key) rather than at the value. */
  readonly atKey: boolean;
}

type Issue = z.core.$ZodIssue;

/** `receivers.otlp.protocols.grpc` / `service.pipelines.traces.exporters[1]`. */
export function formatPath(prefix: string, path: readonly PathSegment[]): string {
  let out = prefix;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function toSegments(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

function valueAt(input: unknown, path: readonly PathSegment[]): unknown {
  let v = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a map of keys to values',
  record: 'a map of keys to values',
  array: 'a list',
  tuple: 'a list',
  null: 'an empty value',
  date: 'a date',
  bigint: 'a whole number',
};

function expected(kind: string): string {
  return EXPECTED[kind] ?? kind;
}

/** How the user's value reads, for "expected …, got …". */
export function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list of ${v.length}`;
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v)}`;
    case 'number':
      return `the number ${v}`;
    case 'boolean':
      return `${v}`;
    case 'object':
      return 'a map';
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      break;
  }
  return typeof v;
}

function bound(issue: { minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean; exact?: boolean; origin: string }, small: boolean): string {
  const n = small ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  const many = Number(n) !== 1;
  const unit =
    issue.origin === 'string' ? (many ? ' characters' : ' character') : issue.origin === 'array' || issue.origin === 'set' ? (many ? ' items' : ' item') : '';
  if (issue.exact) return `must have exactly ${n}${unit}`;
  if (unit) return `must have ${small ? 'at least' : 'at most'} ${n}${unit}`;
  if (small) return inclusive ? `must be at least ${n}` : `must be greater than ${n}`;
  return inclusive ? `must be at most ${n}` : `must be less than ${n}`;
}

/** `parent: "name" is required (what)`, for a missing field. */
function required(prefix: string, path: readonly PathSegment[], what: string): SchemaProblem {
  const parent = formatPath(prefix, path.slice(0, -1));
  const name = path[path.length - 1];
  return { path, atKey: false, message: `${parent === '' ? '' : `${parent}: `}"${String(name)}" is required (${what})` };
}

/** Whether a union branch failed only because the value has another type (also through a nested union). */
function typeMismatch(branch: readonly Issue[]): boolean {
  return branch.some(
    (i) => i.path.length === 0 && (i.code === 'invalid_type' || (i.code === 'invalid_union' && i.errors.length > 0 && i.errors.every(typeMismatch))),
  );
}

/** The types a union branch expected, nested unions included (`a string or a number or true or false`). */
function mismatchedTypes(branch: readonly Issue[]): string[] {
  return branch.flatMap((i) => (i.code === 'invalid_type' ? [expected(i.expected)] : i.code === 'invalid_union' && i.path.length === 0 ? i.errors.flatMap(mismatchedTypes) : []));
}

/** Explains every issue of a failed `safeParse` of `input` against `schema`. */
export function explainZodIssues(issues: readonly Issue[], schema: z.ZodType, input: unknown, prefix: string): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const explain = (issue: Issue, base: readonly PathSegment[]): void => {
    const path = [...base, ...toSegments(issue.path)];
    const where = formatPath(prefix, path);
    const value = valueAt(input, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(schema, path);
        for (const key of issue.keys) out.push(unknownKeyProblem(prefix, path, key, allowed));
        return;
      }
      case 'invalid_type':
        if (value === undefined) {
          out.push(required(prefix, path, expected(issue.expected)));
        } else {
          out.push({ path, atKey: false, message: `${where}: expected ${expected(issue.expected)}, got ${describeValue(value)}` });
        }
        return;
      case 'invalid_value': {
        if (value === undefined && path.length > 0) {
          out.push(required(prefix, path, issue.values.length === 1 ? `write ${String(path[path.length - 1])}: ${String(issue.values[0])}` : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`));
          return;
        }
        const strings = issue.values.filter((v): v is string => typeof v === 'string');
        const hint = typeof value === 'string' ? didYouMean(value, strings) : '';
        const options = issue.values.map((v) => JSON.stringify(v)).join(', ');
        const msg = issue.values.length === 1 ? `must be ${options}` : `must be one of ${options}`;
        out.push({ path, atKey: false, message: `${where}: ${msg}, got ${describeValue(value)}${hint}` });
        return;
      }
      case 'too_small':
        out.push({ path, atKey: false, message: `${where}: ${bound(issue, true)}, got ${describeValue(value)}` });
        return;
      case 'too_big':
        out.push({ path, atKey: false, message: `${where}: ${bound(issue, false)}, got ${describeValue(value)}` });
        return;
      case 'not_multiple_of':
        out.push({ path, atKey: false, message: `${where}: must be a multiple of ${issue.divisor}, got ${describeValue(value)}` });
        return;
      case 'invalid_union': {
        const branches = issue.errors;
        // The branch whose type the value has explains the problem (`{ in: GET }`: the operator map, not "expected
        // a string"). A branch that is itself a union of other types (a scalar) is a type mismatch as a whole.
        const partial = branches.find((b) => b.length > 0 && !typeMismatch(b));
        if (partial) {
          for (const inner of partial) explain(inner, path);
          return;
        }
        const kinds = [...new Set(branches.flatMap(mismatchedTypes))];
        if (value === undefined && kinds.length > 0 && path.length > 0) {
          out.push(required(prefix, path, kinds.join(' or ')));
          return;
        }
        const msg = kinds.length > 0 ? `expected ${kinds.join(' or ')}, got ${describeValue(value)}` : issue.message;
        // A list where a value or an operator map goes (`method: [GET, POST]`): what was meant is `in`.
        const hint = Array.isArray(value) && allowedKeys(schema, path).includes('in') ? `; for one of several values write { in: ${listText(value)} }` : '';
        out.push({ path, atKey: false, message: `${where}: ${msg}${hint}` });
        return;
      }
      case 'invalid_key':
      case 'invalid_element':
        for (const inner of issue.issues) explain(inner, path);
        return;
      case 'invalid_format':
      case 'custom':
        out.push({ path, atKey: false, message: `${where}: ${issue.message}` });
        return;
      default:
        out.push({ path, atKey: false, message: `${where}: ${(issue as Issue).message}` });
    }
  };
  for (const issue of issues) explain(issue, []);
  return out;
}

interface LooseDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): LooseDef {
  return schema._zod.def as unknown as LooseDef;
}

/** Schema kinds that accept any key in a map at their level. */
const OPEN_KINDS = new Set(['record', 'map', 'any', 'unknown', 'custom', 'transform']);

/**
 * The keys the object schema(s) at `path` allow, found by walking the zod schema the way the input is walked
 * (through optional/default/nullable wrappers, the input side of pipes, union options, record values, array
 * elements). `open` when something there accepts any key (a record, a loose object, `z.unknown()`), or when
 * the walk reaches no object schema at all: then nothing can be said about keys.
 */
export function keysAt(schema: z.ZodType, path: readonly PathSegment[]): { keys: string[]; open: boolean } {
  const keys = new Set<string>();
  let open = false;
  let objects = 0;
  const lazies = new Set<z.ZodType>();
  const walk = (s: z.ZodType | undefined, i: number): void => {
    if (!s) return;
    const def = defOf(s);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        return walk(def.innerType, i);
      case 'pipe':
        return walk(def.in, i);
      case 'lazy':
        if (lazies.has(s)) return;
        lazies.add(s);
        return walk(def.getter?.(), i);
      case 'union':
        for (const o of def.options ?? []) walk(o, i);
        return;
      case 'intersection':
        walk(def.left, i);
        walk(def.right, i);
        return;
      case 'object':
        if (i === path.length) {
          objects++;
          // strictObject: catchall never; z.object: no catchall (strips unknown keys); looseObject/catchall: open.
          if (def.catchall && defOf(def.catchall).type !== 'never') open = true;
          for (const k of Object.keys(def.shape ?? {})) keys.add(k);
          return;
        }
        return walk(def.shape?.[String(path[i])], i + 1);
      case 'record':
      case 'map':
        if (i < path.length) walk(def.valueType, i + 1);
        else open = true;
        return;
      case 'array':
        if (i < path.length) walk(def.element, i + 1);
        return;
      case 'tuple':
        if (i < path.length && typeof path[i] === 'number') walk(def.items?.[path[i] as number], i + 1);
        return;
      default:
        if (OPEN_KINDS.has(def.type)) open = true;
        return;
    }
  };
  walk(schema, 0);
  return { keys: [...keys], open: open || objects === 0 };
}

/** A list as YAML shows it in flow style: `[GET, POST]`. */
function listText(values: readonly unknown[]): string {
  return `[${values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}]`;
}

/** The keys allowed at `path` (empty when unknown), for suggestions. */
export function allowedKeys(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  return keysAt(schema, path).keys;
}

function unknownKeyProblem(prefix: string, path: readonly PathSegment[], key: string, allowed: readonly string[]): SchemaProblem {
  const where = formatPath(prefix, path);
  if (key === '<<') {
    return { path: [...path, key], atKey: true, message: `${where === '' ? '' : `${where}: `}YAML merge keys (<<) are not supported: write the keys out (an alias of a whole value, *name, works)` };
  }
  const hint = didYouMean(key, allowed);
  const list = hint === '' && allowed.length > 0 && allowed.length <= 12 ? `; allowed keys: ${allowed.join(', ')}` : '';
  return { path: [...path, key], atKey: true, message: `${where === '' ? 'unknown top-level key' : `${where}: unknown key`} "${key}"${hint}${list}` };
}

/**
 * Keys in `input` that the schema does not define, wherever an object schema says which keys it has. zod only
 * reports these for `z.strictObject`; a plain `z.object` silently drops them, and a silently ignored typo
 * (`retry_on_falure:`) is the worst kind of config error, so the loader checks every component this way too.
 */
export function unknownKeyProblems(schema: z.ZodType, input: unknown, prefix: string): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const walk = (value: unknown, path: PathSegment[]): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, [...path, i]));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const { keys, open } = keysAt(schema, path);
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!open && !keys.includes(k)) out.push(unknownKeyProblem(prefix, path, k, keys));
      else walk(v, [...path, k]);
    }
  };
  walk(input, []);
  return out;
}
