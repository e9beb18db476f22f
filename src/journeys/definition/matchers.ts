/**
 * `StringMatcher` implementations (the contract is in ../model.ts): how a service or span name selector of a
 * journey file is tested against a name. Every matcher is built once when a snapshot is compiled; `matches`
 * allocates nothing and runs in time linear in the name (globs use a hand-written matcher rather than a regex so
 * that `*a*b*c` cannot backtrack; regexes were checked by regex-safety.ts).
 *
 * | written as                     | kind    | notes                                                      |
 * |--------------------------------|---------|------------------------------------------------------------|
 * | `frontend`                     | `exact` | `values` = [frontend], indexed by the runtime              |
 * | `[frontend, web]`              | `set`   | `values` = the list (a list with a glob in it is a `glob`)  |
 * | `POST /api/*`, `ch?ckout`      | `glob`  | `*` any run of characters, `?` one; `\*` `\?` `\\` literal  |
 * | `{ regex: "^send (a\|b)$" }`   | `regex` | searched anywhere unless anchored; see regex-safety.ts     |
 * | omitted, `*`, `{ regex: ".*" }`| `any`   | matches every name                                         |
 */
import type { StringMatcher } from '../model.js';
import { checkRegex } from './regex-safety.js';

/**
 * Texts longer than this never match a regex (a service or span name never is; a long attribute value such as a
 * full URL might be). Patterns that pass regex-safety.ts can still take time quadratic in the text's length;
 * this bounds one test to a few milliseconds whatever a span carries.
 */
export const MAX_REGEX_INPUT = 4096;

const STAR = -1;
const ONE = -2;

class ExactMatcher implements StringMatcher {
  readonly kind = 'exact';
  readonly values: readonly string[];
  constructor(
    private readonly value: string,
    readonly source: string,
  ) {
    this.values = Object.freeze([value]);
    Object.freeze(this);
  }
  matches(name: string): boolean {
    return name === this.value;
  }
}

class SetMatcher implements StringMatcher {
  readonly kind = 'set';
  private readonly set: ReadonlySet<string>;
  constructor(
    readonly values: readonly string[],
    readonly source: string,
  ) {
    this.set = new Set(values);
    Object.freeze(this);
  }
  matches(name: string): boolean {
    return this.set.has(name);
  }
}

class AnyMatcher implements StringMatcher {
  readonly kind = 'any';
  readonly values: readonly string[] = Object.freeze([]);
  constructor(readonly source: string) {
    Object.freeze(this);
  }
  matches(): boolean {
    return true;
  }
}

class RegexMatcher implements StringMatcher {
  readonly kind = 'regex';
  readonly values: readonly string[] = Object.freeze([]);
  constructor(
    private readonly regex: RegExp,
    readonly source: string,
  ) {
    Object.freeze(this);
  }
  matches(name: string): boolean {
    return name.length <= MAX_REGEX_INPUT && this.regex.test(name);
  }
}

/**
 * A glob, as a list of UTF-16 code units with `STAR`/`ONE` for the wildcards. Common shapes take a shortcut
 * (`prefix*`, `*suffix`, `*part*`); anything else runs the classic two-pointer wildcard match, which backtracks
 * only to the last `*` and so is O(name × pattern) at worst.
 */
class GlobMatcher implements StringMatcher {
  readonly kind = 'glob';
  readonly values: readonly string[] = Object.freeze([]);
  private readonly shape: 'prefix' | 'suffix' | 'contains' | 'general';
  private readonly literal: string;
  constructor(
    private readonly tokens: Int32Array,
    readonly source: string,
  ) {
    const stars = tokens.filter((t) => t === STAR).length;
    const ones = tokens.includes(ONE);
    const text = String.fromCharCode(...tokens.filter((t) => t >= 0));
    const first = tokens[0];
    const last = tokens[tokens.length - 1];
    if (!ones && stars === 1 && last === STAR) this.shape = 'prefix';
    else if (!ones && stars === 1 && first === STAR) this.shape = 'suffix';
    else if (!ones && stars === 2 && first === STAR && last === STAR && tokens.length > 2) this.shape = 'contains';
    else this.shape = 'general';
    this.literal = text;
    Object.freeze(this);
  }

  matches(name: string): boolean {
    switch (this.shape) {
      case 'prefix':
        return name.startsWith(this.literal);
      case 'suffix':
        return name.endsWith(this.literal);
      case 'contains':
        return name.includes(this.literal);
      case 'general':
        return globMatch(this.tokens, name);
    }
  }
}

function globMatch(pattern: Int32Array, name: string): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < name.length) {
    const t = p < pattern.length ? pattern[p]! : undefined;
    if (t !== undefined && t !== STAR && (t === ONE || t === name.charCodeAt(s))) {
      p++;
      s++;
    } else if (t === STAR) {
      starP = p++;
      starS = s;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === STAR) p++;
  return p === pattern.length;
}

/** Any of several matchers (a list that contains globs). Checked one by one, like a glob. */
class AnyOfMatcher implements StringMatcher {
  readonly kind = 'glob';
  readonly values: readonly string[] = Object.freeze([]);
  constructor(
    private readonly matchers: readonly StringMatcher[],
    readonly source: string,
  ) {
    Object.freeze(this);
  }
  matches(name: string): boolean {
    for (let i = 0; i < this.matchers.length; i++) if (this.matchers[i]!.matches(name)) return true;
    return false;
  }
}

/** A glob's tokens, or the literal text when it has no wildcard (`\*` `\?` `\\` are literal characters). */
export function parseGlob(pattern: string): { tokens: Int32Array; literal: string | undefined } {
  const tokens: number[] = [];
  let wild = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === 0x5c /* \ */ && i + 1 < pattern.length && '*?\\'.includes(pattern[i + 1]!)) {
      tokens.push(pattern.charCodeAt(++i));
    } else if (c === 0x2a /* * */) {
      // `**` is the same as `*`: collapsing keeps the token list short.
      if (tokens[tokens.length - 1] !== STAR) tokens.push(STAR);
      wild = true;
    } else if (c === 0x3f /* ? */) {
      tokens.push(ONE);
      wild = true;
    } else {
      tokens.push(c);
    }
  }
  return { tokens: Int32Array.from(tokens), literal: wild ? undefined : String.fromCharCode(...tokens) };
}

/** A name pattern as the schema outputs it (see schema.ts `namePattern`). */
export type NamePattern = string | readonly string[] | { readonly regex: string };

/** A matcher for a name pattern; omitted (`undefined`) matches every name. Throws on an unsafe regex (validated earlier). */
export function compileNamePattern(pattern: NamePattern | undefined): StringMatcher {
  if (pattern === undefined) return new AnyMatcher('*');
  if (typeof pattern === 'string') return compileGlob(pattern, pattern);
  if ('regex' in pattern && !Array.isArray(pattern)) {
    const checked = checkRegex(pattern.regex);
    if (!checked.ok) throw new Error(`PULSE_ERR_JOURNEYS: unchecked regex ${pattern.regex}: ${checked.message}`);
    const source = `/${pattern.regex}/`;
    return checked.matchesEverything ? new AnyMatcher(source) : new RegexMatcher(checked.regex, source);
  }
  const list = pattern as readonly string[];
  const source = `[${list.join(', ')}]`;
  const parts = list.map((p) => compileGlob(p, p));
  if (parts.some((m) => m.kind === 'any')) return new AnyMatcher(source);
  if (parts.every((m) => m.kind === 'exact')) {
    const values = [...new Set(parts.flatMap((m) => m.values))];
    return values.length === 1 ? new ExactMatcher(values[0]!, source) : new SetMatcher(Object.freeze(values), source);
  }
  return new AnyOfMatcher(Object.freeze(parts), source);
}

function compileGlob(pattern: string, source: string): StringMatcher {
  const { tokens, literal } = parseGlob(pattern);
  if (literal !== undefined) return new ExactMatcher(literal, source);
  if (tokens.length === 1 && tokens[0] === STAR) return new AnyMatcher(source);
  return new GlobMatcher(tokens, source);
}

/** The matcher for one glob (`where` conditions' `{ glob: "*checkout*" }`). */
export function globMatcher(pattern: string): StringMatcher {
  return compileGlob(pattern, pattern);
}

/**
 * Whether every name `inner` matches is also matched by `outer`, when that can be told for sure (used to find
 * steps that can never match because an earlier selector takes all their spans). `false` means "not known".
 */
export function covers(outer: StringMatcher, inner: StringMatcher): boolean {
  if (outer.kind === 'any') return true;
  if (inner.kind === 'exact' || inner.kind === 'set') return inner.values.every((v) => outer.matches(v));
  return outer.kind === inner.kind && outer.source === inner.source;
}
