/**
 * `where` conditions: compiled once into `CompiledCondition`s (../model.ts) whose `test` allocates nothing, plus
 * the load-time check for conditions that can never hold.
 *
 * Value semantics (what a user sees in the README):
 * - A **string** (`POST`, `{ eq: "POST" }`) equals string attribute values only.
 * - A **number** (`200`, `{ eq: 200 }`, `in: [200, 201]`) compares numerically with int (`bigint`) and double
 *   values, and with string values that are decimal numbers (`"200"`, `"200.0"`): SDKs and proxies differ in how
 *   they send status codes, and the number the user wrote is the number they mean. Ints compare exactly, beyond
 *   2^53 too (`200n` vs `200` never goes through a lossy conversion).
 * - **true/false** equal boolean values only.
 * - `lt`/`lte`/`gt`/`gte` hold for int, double and decimal-text values in range; never for NaN, other text,
 *   booleans, bytes, arrays or maps.
 * - `regex` and `glob` test string values only (texts over 4096 characters never match a regex: see matchers.ts).
 * - An **absent** attribute fails every operator except `exists: false`, and `not` inverts: `{ not: POST }`
 *   holds for a span without the attribute.
 * - Arrays, maps and bytes values only ever satisfy `exists: true` (and `not` of something else).
 */
import type { AnyValue } from '../../core/model.js';
import type { CompiledCondition, StringMatcher } from '../model.js';
import { MAX_REGEX_INPUT, globMatcher } from './matchers.js';
import { checkRegex } from './regex-safety.js';
import type { ConditionOps, ConditionSpec, ScalarValue } from './schema.js';
import type { PathSegment } from '../../config/yaml-nodes.js';

interface Predicate {
  test(value: AnyValue | undefined): boolean;
}

/** Decimal text: `200`, `-1.5`, `1e3`, `.5`; not hex, not blank, not `Infinity`. */
const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The number a string attribute value stands for, or NaN. */
function numericText(text: string): number {
  return text.length <= 64 && DECIMAL.test(text) ? Number(text) : NaN;
}

class StringEquals implements Predicate {
  constructor(private readonly expected: string) {}
  test(value: AnyValue | undefined): boolean {
    return value === this.expected;
  }
}

class BooleanEquals implements Predicate {
  constructor(private readonly expected: boolean) {}
  test(value: AnyValue | undefined): boolean {
    return value === this.expected;
  }
}

class NumberEquals implements Predicate {
  /** The expected number as an exact bigint, when it is an integer (so an int64 compares without rounding). */
  private readonly asBigInt: bigint | undefined;
  constructor(private readonly expected: number) {
    this.asBigInt = Number.isInteger(expected) ? BigInt(expected) : undefined;
  }
  test(value: AnyValue | undefined): boolean {
    if (typeof value === 'number') return value === this.expected;
    if (typeof value === 'bigint') return value === this.asBigInt;
    if (typeof value === 'string') return numericText(value) === this.expected;
    return false;
  }
}

class OneOf implements Predicate {
  private readonly strings: ReadonlySet<string>;
  private readonly numbers: ReadonlySet<number>;
  private readonly ints: ReadonlySet<bigint>;
  private readonly booleans: ReadonlySet<boolean>;
  constructor(values: readonly ScalarValue[]) {
    this.strings = new Set(values.filter((v): v is string => typeof v === 'string'));
    const numbers = values.filter((v): v is number => typeof v === 'number');
    this.numbers = new Set(numbers);
    this.ints = new Set(numbers.filter((n) => Number.isInteger(n)).map((n) => BigInt(n)));
    this.booleans = new Set(values.filter((v): v is boolean => typeof v === 'boolean'));
  }
  test(value: AnyValue | undefined): boolean {
    if (typeof value === 'string') return this.strings.has(value) || (this.numbers.size > 0 && this.numbers.has(numericText(value)));
    if (typeof value === 'number') return this.numbers.has(value);
    // SameValueZero (Set#has) compares bigints by value.
    if (typeof value === 'bigint') return this.ints.has(value);
    if (typeof value === 'boolean') return this.booleans.has(value);
    return false;
  }
}

/** `exists: true` / `exists: false`. */
class Presence implements Predicate {
  constructor(private readonly present: boolean) {}
  test(value: AnyValue | undefined): boolean {
    return (value !== undefined) === this.present;
  }
}

class Not implements Predicate {
  constructor(private readonly inner: Predicate) {}
  test(value: AnyValue | undefined): boolean {
    return !this.inner.test(value);
  }
}

class RegexTest implements Predicate {
  constructor(private readonly regex: RegExp | undefined) {}
  test(value: AnyValue | undefined): boolean {
    if (typeof value !== 'string' || value.length > MAX_REGEX_INPUT) return false;
    return this.regex === undefined || this.regex.test(value);
  }
}

class GlobTest implements Predicate {
  constructor(private readonly glob: StringMatcher) {}
  test(value: AnyValue | undefined): boolean {
    return typeof value === 'string' && this.glob.matches(value);
  }
}

/**
 * `gt`/`gte` and `lt`/`lte` in one test. Relational operators between a bigint and a number compare the exact
 * mathematical values (`9007199254740993n > 9007199254740992` is true), so ints need no conversion.
 */
class Range implements Predicate {
  constructor(
    private readonly low: number,
    private readonly lowInclusive: boolean,
    private readonly high: number,
    private readonly highInclusive: boolean,
  ) {}
  test(value: AnyValue | undefined): boolean {
    if (typeof value === 'string') return this.inRange(numericText(value));
    if (typeof value === 'number' || typeof value === 'bigint') return this.inRange(value);
    return false;
  }
  private inRange(v: number | bigint): boolean {
    const aboveLow = this.lowInclusive ? v >= this.low : v > this.low;
    if (!aboveLow) return false;
    return this.highInclusive ? v <= this.high : v < this.high;
  }
}

class AllOf implements Predicate {
  constructor(private readonly parts: readonly Predicate[]) {}
  test(value: AnyValue | undefined): boolean {
    for (let i = 0; i < this.parts.length; i++) if (!this.parts[i]!.test(value)) return false;
    return true;
  }
}

class KeyedCondition implements CompiledCondition {
  constructor(
    readonly key: string,
    readonly source: string,
    private readonly predicate: Predicate,
  ) {
    Object.freeze(this);
  }
  test(value: AnyValue | undefined): boolean {
    return this.predicate.test(value);
  }
}

function isOps(spec: ConditionSpec): spec is ConditionOps {
  return typeof spec === 'object' && spec !== null;
}

function show(v: ScalarValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

interface Built {
  readonly predicate: Predicate;
  readonly source: string;
}

/** The lower and upper bound of a condition's `gt`/`gte`/`lt`/`lte`, the tighter one when both forms are given. */
function bounds(ops: ConditionOps): { low: number; lowInclusive: boolean; high: number; highInclusive: boolean } | undefined {
  if (ops.gt === undefined && ops.gte === undefined && ops.lt === undefined && ops.lte === undefined) return undefined;
  let low = -Infinity;
  let lowInclusive = false;
  if (ops.gte !== undefined) [low, lowInclusive] = [ops.gte, true];
  if (ops.gt !== undefined && ops.gt >= low) [low, lowInclusive] = [ops.gt, false];
  let high = Infinity;
  let highInclusive = false;
  if (ops.lte !== undefined) [high, highInclusive] = [ops.lte, true];
  if (ops.lt !== undefined && ops.lt <= high) [high, highInclusive] = [ops.lt, false];
  return { low, lowInclusive, high, highInclusive };
}

function build(key: string, spec: ConditionSpec): Built {
  if (!isOps(spec)) return buildEquals(key, spec);
  const parts: Built[] = [];
  if (spec.exists !== undefined) parts.push({ predicate: new Presence(spec.exists), source: spec.exists ? `${key} exists` : `${key} does not exist` });
  if (spec.eq !== undefined) parts.push(buildEquals(key, spec.eq));
  if (spec.in !== undefined) parts.push({ predicate: new OneOf(spec.in), source: `${key} in [${spec.in.map(show).join(', ')}]` });
  if (spec.regex !== undefined) {
    const checked = checkRegex(spec.regex);
    if (!checked.ok) throw new Error(`PULSE_ERR_JOURNEYS: unchecked regex ${spec.regex}: ${checked.message}`);
    parts.push({ predicate: new RegexTest(checked.matchesEverything ? undefined : checked.regex), source: `${key} =~ /${spec.regex}/` });
  }
  if (spec.glob !== undefined) parts.push({ predicate: new GlobTest(globMatcher(spec.glob)), source: `${key} like ${JSON.stringify(spec.glob)}` });
  const range = bounds(spec);
  if (range) {
    const text: string[] = [];
    if (range.low !== -Infinity) text.push(`${key} ${range.lowInclusive ? '>=' : '>'} ${range.low}`);
    if (range.high !== Infinity) text.push(`${key} ${range.highInclusive ? '<=' : '<'} ${range.high}`);
    parts.push({ predicate: new Range(range.low, range.lowInclusive, range.high, range.highInclusive), source: text.join(' and ') });
  }
  if (spec.not !== undefined) {
    const inner = build(key, spec.not);
    parts.push({ predicate: new Not(inner.predicate), source: `not (${inner.source})` });
  }
  if (parts.length === 1) return parts[0]!;
  return { predicate: new AllOf(parts.map((p) => p.predicate)), source: parts.map((p) => p.source).join(' and ') };
}

function buildEquals(key: string, v: ScalarValue): Built {
  const predicate = typeof v === 'string' ? new StringEquals(v) : typeof v === 'number' ? new NumberEquals(v) : new BooleanEquals(v);
  return { predicate, source: `${key} == ${show(v)}` };
}

/** Compiles one `key: condition` entry of a `where` map. */
export function compileCondition(key: string, spec: ConditionSpec): CompiledCondition {
  const built = build(key, spec);
  return new KeyedCondition(key, built.source, built.predicate);
}

/** Compiles a `where` map, in the order written. */
export function compileWhere(where: Readonly<Record<string, ConditionSpec>> | undefined): readonly CompiledCondition[] {
  if (!where) return Object.freeze([]);
  return Object.freeze(Object.entries(where).map(([key, spec]) => compileCondition(key, spec)));
}

/** A text that shows how a condition was written, independent of key order (to compare selectors). */
export function canonicalCondition(spec: ConditionSpec): string {
  if (!isOps(spec)) return JSON.stringify({ eq: spec });
  const entries = Object.entries(spec)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, k === 'not' ? canonicalCondition(v as ConditionSpec) : v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(entries));
}

export interface ConditionProblem {
  /** Path inside the condition (`['in']`), empty for the condition as a whole. */
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** The attribute values that could satisfy `eq: v` (a number also matches its int and text forms). */
function candidates(v: ScalarValue): AnyValue[] {
  if (typeof v !== 'number') return [v];
  const out: AnyValue[] = [v, String(v)];
  if (Number.isInteger(v)) out.push(BigInt(v));
  return out;
}

/**
 * Ways a condition can never hold, so that the rule it belongs to can never match (a selector) or never pass (a
 * success rule): `in: []`, an empty range (`{ gt: 10, lt: 5 }`), `exists: false` with an operator that needs a
 * value, and `eq`/`in` values that the other operators of the same condition all rule out.
 */
export function unsatisfiable(key: string, spec: ConditionSpec): ConditionProblem | undefined {
  if (!isOps(spec)) return undefined;
  if (spec.in !== undefined && spec.in.length === 0) {
    return { path: ['in'], message: '"in: []" lists no values, so this condition never holds' };
  }
  const range = bounds(spec);
  if (range && (range.low > range.high || (range.low === range.high && !(range.lowInclusive && range.highInclusive)))) {
    const text = build(key, { gt: spec.gt, gte: spec.gte, lt: spec.lt, lte: spec.lte }).source;
    return { path: [], message: `"${text}" never holds: no number is in that range` };
  }
  if (spec.exists === false) {
    const needsValue = (['eq', 'in', 'regex', 'glob', 'lt', 'lte', 'gt', 'gte'] as const).find((op) => spec[op] !== undefined);
    if (needsValue) {
      return { path: ['exists'], message: `"exists: false" never holds together with "${needsValue}", which needs a value` };
    }
  }
  const { predicate } = build(key, spec);
  const operators = Object.values(spec).filter((v) => v !== undefined).length;
  if (spec.eq !== undefined && operators > 1 && !candidates(spec.eq).some((c) => predicate.test(c))) {
    return { path: [], message: `"eq: ${show(spec.eq)}" and the other operators of this condition never hold together` };
  }
  if (spec.in !== undefined && operators > 1 && !spec.in.flatMap(candidates).some((c) => predicate.test(c))) {
    return { path: ['in'], message: 'none of the values in "in" satisfies the other operators of this condition, so it never holds' };
  }
  return undefined;
}
