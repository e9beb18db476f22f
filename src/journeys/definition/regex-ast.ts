/**
 * A parser for the JavaScript regular expressions journey files may contain, producing the syntax tree that
 * regex-safety.ts inspects. It follows the Unicode-mode (`u` flag) grammar, which is what Pulse compiles
 * patterns with: the caller has already compiled the pattern with `new RegExp(source, 'u')`, so the parser may
 * assume the text is valid and only needs to understand its structure (it still throws `RegexSyntaxError` on
 * anything it cannot read, rather than guessing).
 *
 * Every consuming atom carries a `CharSet`: the code points it can match. Sets are exact for literals, classes
 * and `\d \w \s .`; Unicode property escapes (`\p{…}`) are treated as "any character", which only ever makes the
 * safety check more cautious.
 */

/** A set of code points, as sorted, non-overlapping, non-adjacent inclusive ranges `[lo0, hi0, lo1, hi1, …]`. */
export class CharSet {
  private constructor(private readonly ranges: readonly number[]) {}

  static readonly MAX = 0x10ffff;
  static readonly EMPTY = new CharSet([]);
  static readonly ANY = new CharSet([0, CharSet.MAX]);

  static of(...codePoints: number[]): CharSet {
    return CharSet.fromRanges(codePoints.flatMap((c) => [c, c]));
  }

  static range(lo: number, hi: number): CharSet {
    return CharSet.fromRanges([lo, hi]);
  }

  /** Normalises any list of `[lo, hi]` pairs (unsorted, overlapping) into a set. */
  static fromRanges(pairs: readonly number[]): CharSet {
    const items: Array<[number, number]> = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const lo = pairs[i]!;
      const hi = pairs[i + 1]!;
      if (lo <= hi) items.push([lo, hi]);
    }
    items.sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [lo, hi] of items) {
      const last = out.length - 1;
      if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
      else out.push(lo, hi);
    }
    return new CharSet(out);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  union(other: CharSet): CharSet {
    if (other.isEmpty) return this;
    if (this.isEmpty) return other;
    return CharSet.fromRanges([...this.ranges, ...other.ranges]);
  }

  complement(): CharSet {
    const out: number[] = [];
    let next = 0;
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (this.ranges[i]! > next) out.push(next, this.ranges[i]! - 1);
      next = this.ranges[i + 1]! + 1;
    }
    if (next <= CharSet.MAX) out.push(next, CharSet.MAX);
    return new CharSet(out);
  }

  intersects(other: CharSet): boolean {
    let i = 0;
    let j = 0;
    const a = this.ranges;
    const b = other.ranges;
    while (i < a.length && j < b.length) {
      if (a[i + 1]! < b[j]!) i += 2;
      else if (b[j + 1]! < a[i]!) j += 2;
      else return true;
    }
    return false;
  }

  /** Every code point of `this` is in `other`. */
  isSubsetOf(other: CharSet): boolean {
    return !this.intersects(other.complement());
  }

  has(codePoint: number): boolean {
    for (let i = 0; i < this.ranges.length; i += 2) if (codePoint >= this.ranges[i]! && codePoint <= this.ranges[i + 1]!) return true;
    return false;
  }

  /** The single code point of a one-element set, else `undefined` (used to recognise literal text). */
  get single(): number | undefined {
    return this.ranges.length === 2 && this.ranges[0] === this.ranges[1] ? this.ranges[0] : undefined;
  }
}

const LINE_TERMINATORS = CharSet.of(0x0a, 0x0d, 0x2028, 0x2029);
export const DIGIT = CharSet.range(0x30, 0x39);
export const WORD = CharSet.fromRanges([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);
export const SPACE = CharSet.fromRanges([
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
  0xfeff, 0xfeff,
]);
/** `.` without the `s` flag: anything but a line terminator. */
export const DOT = LINE_TERMINATORS.complement();

interface Span {
  /** Offsets in the pattern text, for quoting the part a message is about. */
  readonly start: number;
  readonly end: number;
}

/** One character from a set: a literal, a class, `.`, `\d` … */
export interface CharNode extends Span {
  readonly type: 'char';
  readonly set: CharSet;
}

export interface AssertionNode extends Span {
  readonly type: 'assertion';
  readonly kind: '^' | '$' | 'word-boundary' | 'not-word-boundary';
}

export interface LookaroundNode extends Span {
  readonly type: 'lookaround';
  readonly body: AlternationNode;
}

export interface BackreferenceNode extends Span {
  readonly type: 'backreference';
}

export interface GroupNode extends Span {
  readonly type: 'group';
  readonly capturing: boolean;
  readonly body: AlternationNode;
}

export interface QuantifierNode extends Span {
  readonly type: 'quantifier';
  readonly min: number;
  /** `Infinity` for `*`, `+`, `{n,}`. */
  readonly max: number;
  readonly lazy: boolean;
  readonly body: RegexNode;
}

export interface SequenceNode extends Span {
  readonly type: 'sequence';
  readonly items: readonly RegexNode[];
}

/** `a|b|c`; a pattern or group without `|` is an alternation of one branch. */
export interface AlternationNode extends Span {
  readonly type: 'alternation';
  readonly branches: readonly SequenceNode[];
}

export type RegexNode = CharNode | AssertionNode | LookaroundNode | BackreferenceNode | GroupNode | QuantifierNode | SequenceNode | AlternationNode;

export class RegexSyntaxError extends Error {}

const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');

/** Parses a Unicode-mode pattern (without delimiters or flags). */
export function parseRegex(source: string): AlternationNode {
  return new Parser(source).parse();
}

class Parser {
  private pos = 0;

  constructor(private readonly src: string) {}

  parse(): AlternationNode {
    const node = this.alternation();
    if (this.pos < this.src.length) this.fail(`unexpected "${this.src[this.pos]}"`);
    return node;
  }

  private fail(message: string): never {
    throw new RegexSyntaxError(`${message} at offset ${this.pos}`);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private eat(text: string): boolean {
    if (this.src.startsWith(text, this.pos)) {
      this.pos += text.length;
      return true;
    }
    return false;
  }

  private alternation(): AlternationNode {
    const start = this.pos;
    const branches = [this.sequence()];
    while (this.eat('|')) branches.push(this.sequence());
    return { type: 'alternation', branches, start, end: this.pos };
  }

  private sequence(): SequenceNode {
    const start = this.pos;
    const items: RegexNode[] = [];
    while (this.pos < this.src.length && this.peek() !== '|' && this.peek() !== ')') items.push(this.term());
    return { type: 'sequence', items, start, end: this.pos };
  }

  private term(): RegexNode {
    const start = this.pos;
    const atom = this.atom();
    const q = this.quantifier();
    if (!q) return atom;
    return { type: 'quantifier', ...q, body: atom, start, end: this.pos };
  }

  private quantifier(): { min: number; max: number; lazy: boolean } | undefined {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) this.fail('malformed {…} repetition');
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.pos += m[0].length - 1;
    } else return undefined;
    this.pos++;
    const lazy = this.eat('?');
    return { min, max, lazy };
  }

  private atom(): RegexNode {
    const start = this.pos;
    const c = this.peek()!;
    switch (c) {
      case '^':
      case '$':
        this.pos++;
        return { type: 'assertion', kind: c, start, end: this.pos };
      case '.':
        this.pos++;
        return { type: 'char', set: DOT, start, end: this.pos };
      case '(':
        return this.group();
      case '[':
        return this.charClass();
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
      case '{':
      case '}':
      case ']':
      case ')':
        return this.fail(`nothing to repeat before "${c}"`);
      default: {
        const cp = this.src.codePointAt(this.pos)!;
        this.pos += cp > 0xffff ? 2 : 1;
        return { type: 'char', set: CharSet.of(cp), start, end: this.pos };
      }
    }
  }

  private group(): RegexNode {
    const start = this.pos;
    this.pos++;
    let kind: 'capture' | 'plain' | 'look' = 'capture';
    if (this.eat('?:')) kind = 'plain';
    else if (this.eat('?=') || this.eat('?!') || this.eat('?<=') || this.eat('?<!')) kind = 'look';
    else if (this.eat('?<')) {
      const close = this.src.indexOf('>', this.pos);
      if (close < 0) this.fail('unterminated group name');
      this.pos = close + 1;
    } else if (this.peek() === '?') this.fail('unknown group syntax "(?"');
    const body = this.alternation();
    if (!this.eat(')')) this.fail('unterminated group');
    if (kind === 'look') return { type: 'lookaround', body, start, end: this.pos };
    return { type: 'group', capturing: kind === 'capture', body, start, end: this.pos };
  }

  private charClass(): CharNode {
    const start = this.pos;
    this.pos++;
    const negated = this.eat('^');
    let set = CharSet.EMPTY;
    while (this.peek() !== ']') {
      if (this.pos >= this.src.length) this.fail('unterminated character class');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.pos++;
        const hi = this.classAtom();
        const a = lo.single;
        const b = hi.single;
        if (a === undefined || b === undefined) this.fail('a class escape cannot be a range end');
        set = set.union(CharSet.range(a, b));
      } else {
        set = set.union(lo);
      }
    }
    this.pos++;
    return { type: 'char', set: negated ? set.complement() : set, start, end: this.pos };
  }

  private classAtom(): CharSet {
    if (this.peek() !== '\\') {
      const cp = this.src.codePointAt(this.pos)!;
      this.pos += cp > 0xffff ? 2 : 1;
      return CharSet.of(cp);
    }
    this.pos++;
    const c = this.peek();
    if (c === 'b') {
      this.pos++;
      return CharSet.of(0x08);
    }
    if (c === '-') {
      this.pos++;
      return CharSet.of(0x2d);
    }
    const set = this.characterEscape();
    if (set === 'backreference' || set === 'assertion') this.fail(`"\\${c}" is not allowed in a class`);
    return set;
  }

  private escape(): RegexNode {
    const start = this.pos;
    this.pos++;
    const c = this.peek();
    if (c === 'b' || c === 'B') {
      this.pos++;
      return { type: 'assertion', kind: c === 'b' ? 'word-boundary' : 'not-word-boundary', start, end: this.pos };
    }
    const set = this.characterEscape();
    if (set === 'backreference') return { type: 'backreference', start, end: this.pos };
    if (set === 'assertion') this.fail('unexpected assertion');
    return { type: 'char', set, start, end: this.pos };
  }

  /** After a backslash (already consumed): the set an escape stands for, or that it is a backreference. */
  private characterEscape(): CharSet | 'backreference' | 'assertion' {
    const c = this.peek();
    if (c === undefined) this.fail('"\\" at end of pattern');
    this.pos++;
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return DIGIT.complement();
      case 'w':
        return WORD;
      case 'W':
        return WORD.complement();
      case 's':
        return SPACE;
      case 'S':
        return SPACE.complement();
      case 'f':
        return CharSet.of(0x0c);
      case 'n':
        return CharSet.of(0x0a);
      case 'r':
        return CharSet.of(0x0d);
      case 't':
        return CharSet.of(0x09);
      case 'v':
        return CharSet.of(0x0b);
      case 'p':
      case 'P': {
        // Unicode properties: treated as "any character", which is only ever more cautious.
        if (!this.eat('{')) this.fail('malformed \\p{…}');
        const close = this.src.indexOf('}', this.pos);
        if (close < 0) this.fail('unterminated \\p{…}');
        this.pos = close + 1;
        return CharSet.ANY;
      }
      case 'c': {
        const letter = this.peek();
        if (letter === undefined || !/[A-Za-z]/.test(letter)) this.fail('malformed \\c escape');
        this.pos++;
        return CharSet.of(letter.charCodeAt(0) % 32);
      }
      case 'x': {
        const hex = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.pos));
        if (!hex) this.fail('malformed \\x escape');
        this.pos += 2;
        return CharSet.of(parseInt(hex[0], 16));
      }
      case 'u': {
        const braced = /^\{([0-9a-fA-F]+)\}/.exec(this.src.slice(this.pos));
        const plain = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.pos));
        const m = braced ?? plain;
        if (!m) this.fail('malformed \\u escape');
        this.pos += m[0].length;
        return CharSet.of(parseInt(braced ? braced[1]! : m[0], 16));
      }
      case 'k': {
        if (!this.eat('<')) this.fail('malformed \\k<name>');
        const close = this.src.indexOf('>', this.pos);
        if (close < 0) this.fail('unterminated \\k<name>');
        this.pos = close + 1;
        return 'backreference';
      }
      default:
        break;
    }
    if (c === '0' && !/[0-9]/.test(this.peek() ?? '')) return CharSet.of(0);
    if (/[1-9]/.test(c)) {
      while (/[0-9]/.test(this.peek() ?? '')) this.pos++;
      return 'backreference';
    }
    if (SYNTAX_CHARS.has(c)) return CharSet.of(c.codePointAt(0)!);
    return this.fail(`unknown escape "\\${c}"`);
  }
}
