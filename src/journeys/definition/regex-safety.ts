/**
 * Load-time checks that keep a journey file from stalling the data plane with a regular expression.
 *
 * Node's regex engine backtracks: a pattern in which the same text can be consumed in many different ways takes
 * exponential (or high-polynomial) time on a text that almost matches, and span names and attribute values come
 * from the outside world. `checkRegex` parses the pattern (regex-ast.ts) and rejects, with a message saying why
 * and how to rewrite it:
 *
 * - patterns over 1000 characters, and `{n,m}` counts over 1000;
 * - backreferences (`\1`, `\k<name>`) and lookarounds (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`): names never need
 *   them, and they defeat every bound on matching time;
 * - **nested repetition**: a repeated group (`(…)+`, `(…)*`, `(…){2,}`) that contains a repetition of varying
 *   length (`a+`, `.*`, `x?`) or a choice whose branches can match the same text (`a|aa`, `\w|\d`), unless every
 *   pass through the group must also consume a character that the inner part cannot (`([^/]+/)+` and
 *   `([a-z]+\.)+` are fine: the `/` and `.` fix where each pass ends). `(a+)+`, `(a*)*`, `(a|aa)+`, `(.*a){10}`
 *   and `(\w+\s?)+` are rejected;
 * - **chains of overlapping repetitions**: three or more unbounded repetitions in a row that can consume the same
 *   characters, with nothing in between that only one of them can match (`^.*,.*,.*$` is rejected — cubic time;
 *   `^[^,]*,[^,]*,[^,]*$` is fine). An unanchored pattern is tried at every position of the text, which counts as
 *   one such repetition in front: `foo.*bar.*baz` is rejected (measured: 0.7 s on a 4 KB text), `^foo.*bar.*baz`
 *   and `foo.*bar` are fine. "In a row" means along any way through the pattern, because the engine tries them
 *   all: a part that can match nothing separates nothing (`^a*,*a*,*a*x`), and a repetition inside an optional
 *   part (`(\d+)?`, `(a+){0,1}`, `(a+|)`) or one branch of a choice (`(a+|b)`) still follows the ones around
 *   it: `^(\d+)?\.?(\d+)?\.?(\d+)?-rc$` is rejected (measured: 36 s on 4096 digits), `^\d+(\.\d+)?(\.\d+)?-rc$`
 *   is fine.
 *
 * The analysis is deliberately cautious (it may reject a pattern that would in fact be fast, never the reverse
 * for the shapes above); the messages suggest the usual rewrite. What passes can still take time quadratic in
 * the text's length (two overlapping repetitions), which matchers.ts bounds by the length of the text. Patterns
 * are compiled in Unicode mode (`u`), which also makes the syntax strict (`\:` is an error there, write `:`).
 *
 * A leading or trailing `.*` (or `.*?`) of an unanchored pattern changes nothing for "does it match" (the regex
 * is searched anywhere in the text), so it is removed before compiling: `.*checkout.*` runs as `checkout`, in
 * linear rather than quadratic time.
 */
import { CharSet, DOT, parseRegex, type AlternationNode, type QuantifierNode, type RegexNode, type SequenceNode } from './regex-ast.js';

export const MAX_PATTERN_LENGTH = 1000;
export const MAX_REPETITION_COUNT = 1000;
/** A repetition allowing more than this many passes counts as unbounded for the chain rule. */
const UNBOUNDED_FROM = 100;

export type RegexCheck =
  | {
      readonly ok: true;
      /** Compiled with the `u` flag (and never `g`/`y`, so `test` keeps no state between calls). */
      readonly regex: RegExp;
      /** The pattern that was compiled, after removing a redundant leading/trailing `.*`. */
      readonly compiledSource: string;
      /** The pattern matches every text (`.*`): callers may use an "any" matcher instead. */
      readonly matchesEverything: boolean;
    }
  | { readonly ok: false; readonly message: string };

/** Validates and compiles one pattern for `test()` use. */
export function checkRegex(source: string): RegexCheck {
  if (source.length > MAX_PATTERN_LENGTH) {
    return { ok: false, message: `the regex is ${source.length} characters long; the limit is ${MAX_PATTERN_LENGTH}` };
  }
  try {
    new RegExp(source, 'u');
  } catch (err) {
    const why = (err as Error).message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '');
    const hint = /escape/i.test(why)
      ? ' (patterns are compiled in Unicode mode: escape only ^ $ \\ . * + ? ( ) [ ] { } | / and use \\d \\w \\s for classes)'
      : '';
    return { ok: false, message: `not a valid regular expression: ${why}${hint}` };
  }
  let tree: AlternationNode;
  try {
    tree = parseRegex(source);
  } catch (err) {
    return { ok: false, message: `the regex could not be checked for safety (${(err as Error).message}); simplify it` };
  }
  const compiledSource = stripRedundantWildcards(source, tree);
  const checked = compiledSource === source ? tree : parseRegex(compiledSource);
  const problem = new SafetyCheck(compiledSource).run(checked);
  if (problem !== undefined) return { ok: false, message: problem };
  return { ok: true, regex: new RegExp(compiledSource, 'u'), compiledSource, matchesEverything: compiledSource === '' };
}

/** `.*` / `.*?` over `.` (greedy or lazy, no minimum). */
function isDotStar(node: RegexNode): boolean {
  return node.type === 'quantifier' && node.min === 0 && node.max === Infinity && node.body.type === 'char' && node.body.set === DOT;
}

function stripRedundantWildcards(source: string, tree: AlternationNode): string {
  if (tree.branches.length !== 1) return source;
  const items = tree.branches[0]!.items;
  let first = 0;
  let last = items.length - 1;
  while (first <= last && isDotStar(items[first]!)) first++;
  while (last >= first && isDotStar(items[last]!)) last--;
  if (first > last) return '';
  if (first === 0 && last === items.length - 1) return source;
  return source.slice(items[first]!.start, items[last]!.end);
}

interface Info {
  min: number;
  max: number;
  /** Every character the node can consume. */
  chars: CharSet;
  /** Characters a non-empty match can start with. */
  first: CharSet;
  /** Characters a non-empty match can end with. */
  last: CharSet;
  nullable: boolean;
  /** The one text the node matches, when it is literal text. */
  literal: string | undefined;
}

const EMPTY_INFO: Info = { min: 0, max: 0, chars: CharSet.EMPTY, first: CharSet.EMPTY, last: CharSet.EMPTY, nullable: true, literal: '' };

class SafetyCheck {
  private readonly infos = new Map<RegexNode, Info>();

  constructor(private readonly source: string) {}

  private text(node: RegexNode): string {
    return this.source.slice(node.start, node.end);
  }

  run(tree: AlternationNode): string | undefined {
    const nodes: RegexNode[] = [];
    const collect = (n: RegexNode): void => {
      nodes.push(n);
      for (const child of children(n)) collect(child);
    };
    collect(tree);
    for (const n of nodes) {
      if (n.type === 'lookaround') {
        return `lookarounds like "${this.text(n)}" are not supported: names never need them and they make matching time unbounded; to exclude values, use a where condition with not: { regex: "…" }`;
      }
      if (n.type === 'backreference') {
        return `backreferences like "${this.text(n)}" are not supported: matching them can take exponential time, and names never need them`;
      }
      if (n.type === 'quantifier' && ((n.max !== Infinity && n.max > MAX_REPETITION_COUNT) || n.min > MAX_REPETITION_COUNT)) {
        return `the repetition "${this.text(n)}" allows more than ${MAX_REPETITION_COUNT} passes; use at most ${MAX_REPETITION_COUNT}, or + / *`;
      }
    }
    for (const n of nodes) {
      if (n.type === 'quantifier' && n.max > 1 && this.info(n.body).max > 0) {
        const problem = this.nestedRepetition(n);
        if (problem !== undefined) return problem;
      }
    }
    for (const n of nodes) {
      if (n.type !== 'sequence') continue;
      const top = tree.branches.includes(n);
      const first = flatten(n.items)[0];
      const anchored = first !== undefined && first.type === 'assertion' && first.kind === '^';
      const problem = this.overlappingChain(n, top && !anchored);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }

  info(node: RegexNode): Info {
    let info = this.infos.get(node);
    if (!info) {
      info = this.compute(node);
      this.infos.set(node, info);
    }
    return info;
  }

  private compute(node: RegexNode): Info {
    switch (node.type) {
      case 'char': {
        const single = node.set.single;
        return { min: 1, max: 1, chars: node.set, first: node.set, last: node.set, nullable: false, literal: single === undefined ? undefined : String.fromCodePoint(single) };
      }
      case 'assertion':
        return EMPTY_INFO;
      case 'lookaround':
      case 'backreference':
        return { min: 0, max: Infinity, chars: CharSet.ANY, first: CharSet.ANY, last: CharSet.ANY, nullable: true, literal: undefined };
      case 'group':
        return this.info(node.body);
      case 'quantifier': {
        const b = this.info(node.body);
        const max = b.max === 0 ? 0 : node.max * b.max;
        const literal = node.min === node.max && b.literal !== undefined && node.min * b.literal.length <= MAX_REPETITION_COUNT ? b.literal.repeat(node.min) : undefined;
        return { min: node.min * b.min, max, chars: b.chars, first: b.first, last: b.last, nullable: node.min === 0 || b.nullable, literal };
      }
      case 'sequence': {
        let min = 0;
        let max = 0;
        let chars = CharSet.EMPTY;
        let first = CharSet.EMPTY;
        let last = CharSet.EMPTY;
        let nullable = true;
        let literal: string | undefined = '';
        for (const item of node.items) {
          const i = this.info(item);
          min += i.min;
          max += i.max;
          chars = chars.union(i.chars);
          if (nullable) first = first.union(i.first);
          // The last characters: this item's, plus the previous ones' when this item can match nothing.
          last = i.nullable ? last.union(i.last) : i.last;
          nullable &&= i.nullable;
          literal = literal !== undefined && i.literal !== undefined ? literal + i.literal : undefined;
        }
        return { min, max, chars, first, last, nullable, literal };
      }
      case 'alternation': {
        const infos = node.branches.map((b) => this.info(b));
        return {
          min: Math.min(...infos.map((i) => i.min)),
          max: Math.max(...infos.map((i) => i.max)),
          chars: infos.reduce((s, i) => s.union(i.chars), CharSet.EMPTY),
          first: infos.reduce((s, i) => s.union(i.first), CharSet.EMPTY),
          last: infos.reduce((s, i) => s.union(i.last), CharSet.EMPTY),
          nullable: infos.some((i) => i.nullable),
          literal: infos.length === 1 ? infos[0]!.literal : undefined,
        };
      }
    }
  }

  /**
   * Two branches of `alt` that can match the same text, or a prefix of each other's text — so that a repetition
   * of the choice can split one text in several ways. Literal branches are exact (a prefix-free set of words is
   * never ambiguous: `(GET|POST)+`, `(ab|ac)+`); other branches are compared by their first characters.
   */
  private ambiguousBranches(alt: AlternationNode): [SequenceNode, SequenceNode] | undefined {
    const branches = alt.branches;
    if (branches.length < 2) return undefined;
    const infos = branches.map((b) => this.info(b));
    const allLiteral = infos.every((i) => i.literal !== undefined);
    for (let i = 0; i < branches.length; i++) {
      for (let j = 0; j < branches.length; j++) {
        if (i === j) continue;
        const a = infos[i]!;
        const b = infos[j]!;
        if (allLiteral) {
          if (i < j ? b.literal!.startsWith(a.literal!) || a.literal!.startsWith(b.literal!) : false) return [branches[i]!, branches[j]!];
        } else if (a.nullable || (i < j && a.first.intersects(b.first))) {
          return [branches[i]!, branches[j]!];
        }
      }
    }
    return undefined;
  }

  private nestedRepetition(loop: QuantifierNode): string | undefined {
    let body: RegexNode = loop.body;
    while (body.type === 'group') body = body.body;
    if (body.type === 'char') return undefined;
    let sequences: readonly SequenceNode[];
    if (body.type === 'alternation' && body.branches.length > 1) {
      const pair = this.ambiguousBranches(body);
      if (pair) return this.alternationMessage(loop, body, pair);
      sequences = body.branches;
    } else if (body.type === 'alternation') {
      sequences = body.branches;
    } else {
      sequences = [{ type: 'sequence', items: [body], start: body.start, end: body.end }];
    }
    for (const seq of sequences) {
      const delimiters = mandatoryItems(seq.items, this);
      for (const risky of this.riskyParts(seq)) {
        const riskyChars = this.info(risky).chars;
        const delimited = delimiters.some((d) => !contains(d, risky) && !this.info(d).chars.intersects(riskyChars));
        if (delimited) continue;
        if (risky.type === 'alternation') return this.alternationMessage(loop, risky, this.ambiguousBranches(risky)!);
        return (
          `"${this.text(loop)}" repeats a group containing the repetition "${this.text(risky)}", and nothing separates the passes: ` +
          'on a text that almost matches, the engine tries exponentially many ways to split it (catastrophic backtracking). ' +
          'Make each pass end in a character the inner repetition cannot match (e.g. "([^/]+/)+" rather than "(.+/)+"), or drop one repetition ("a+" rather than "(a+)+")'
        );
      }
    }
    return undefined;
  }

  private alternationMessage(loop: QuantifierNode, alt: AlternationNode, pair: [SequenceNode, SequenceNode]): string {
    return (
      `"${this.text(loop)}" repeats a choice whose branches "${this.text(pair[0])}" and "${this.text(pair[1])}" can match the same text: ` +
      'on a text that almost matches, the engine tries exponentially many ways to split it (catastrophic backtracking). ' +
      `Make the branches of "${this.text(alt)}" start with different characters, or merge them ("a+" rather than "(a|aa)+")`
    );
  }

  /** Parts of a repeated body whose length varies in ways that can overlap: repetitions and ambiguous choices. */
  private riskyParts(seq: SequenceNode): RegexNode[] {
    const out: RegexNode[] = [];
    const walk = (n: RegexNode): void => {
      if (n.type === 'quantifier' && n.max > n.min && this.info(n.body).max > 0) out.push(n);
      if (n.type === 'alternation' && this.ambiguousBranches(n)) out.push(n);
      for (const c of children(n)) walk(c);
    };
    walk(seq);
    return out;
  }

  /**
   * Three or more unbounded repetitions in a row where the text can be split between each one and the next in
   * many ways — the next can take over characters the previous one ends with, and everything that must match
   * between them can also be consumed by the previous one: the time to fail grows with the cube of the text's
   * length (or worse). A pattern not anchored with `^` is tried at every position of the text, which counts as
   * one more such repetition in front of it.
   *
   * "In a row" follows every way through the sequence, because the engine tries them all: a part that can match
   * nothing (`x?`, `,*`, `(\d+)?`, `(a+){0,3}`, `(a+|)`) may be skipped, and a repetition inside it, or inside one
   * branch of a choice (`(a+|b)`), links up with the ones around it when that part is taken. Only a repetition of
   * more than UNBOUNDED_FROM passes is a link itself; the body of a shorter one is walked pass by pass.
   */
  private overlappingChain(seq: SequenceNode, unanchored: boolean): string | undefined {
    const start: Chain = unanchored ? [{ id: 'search', chars: CharSet.ANY, last: CharSet.ANY, text: '', optional: false }] : [];
    const walked = this.walkChains(seq.items, new ChainSet([start]), undefined);
    return walked instanceof ChainSet ? undefined : this.chainMessage(walked);
  }

  /** A repetition that counts as unbounded for the chain rule (more than UNBOUNDED_FROM passes of something). */
  private isChainLink(node: RegexNode): boolean {
    return node.type === 'quantifier' && (node.max === Infinity || node.max > UNBOUNDED_FROM) && this.info(node.body).max > 0;
  }

  private containsChainLink(node: RegexNode): boolean {
    return this.isChainLink(node) || children(node).some((c) => this.containsChainLink(c));
  }

  /**
   * The chains that can be running after `items`, starting from each of `chains`, or the first chain of three
   * links found (as the texts to quote). `shown` is the text to quote for a link found inside `items`: the item of
   * the checked sequence that holds it, which is what the author wrote next to the others.
   */
  private walkChains(items: readonly RegexNode[], chains: ChainSet, shown: string | undefined): ChainSet | Chain {
    let current = chains;
    for (const item of flatten(items)) {
      const text = shown ?? this.text(item);
      let next: ChainSet | Chain;
      if (this.isChainLink(item)) {
        const { chars, last, nullable } = this.info(item);
        next = current.extend({ id: `${item.start}:${item.end}`, chars, last, text, optional: shown !== undefined });
        // `x*` can match nothing too: then the chains run past it as if it were not there.
        if (next instanceof ChainSet && nullable) next = new ChainSet([...next.chains, ...current.skipped().chains]);
      } else if (item.type === 'group' && item.body.branches.length > 1) {
        // A choice: every branch is a way through (an empty branch is the way around).
        next = this.walkBranches(item.body, current, text);
      } else if (item.type === 'quantifier' && this.containsChainLink(item.body)) {
        next = this.walkPasses(item, current, text);
      } else if (this.info(item).min >= 1) {
        // Something that must match: a chain goes on only when its last link can consume it too.
        const chars = this.info(item).chars;
        next = current.map((c) => (c.length > 0 && c[c.length - 1]!.chars.intersects(chars) ? c : []));
      } else if (this.info(item).max > 0) {
        next = current.skipped(); // it can match nothing, so it is no separator
      } else {
        continue; // an assertion (^, $, \b)
      }
      if (!(next instanceof ChainSet)) return next;
      current = next;
    }
    return current;
  }

  private walkBranches(alt: AlternationNode, chains: ChainSet, shown: string): ChainSet | Chain {
    const out: Chain[] = [];
    for (const branch of alt.branches) {
      const walked = this.walkChains(branch.items, chains, shown);
      if (!(walked instanceof ChainSet)) return walked;
      out.push(...walked.chains);
    }
    return new ChainSet(out);
  }

  /**
   * A repetition of at most UNBOUNDED_FROM passes whose body holds a link: the chains after min … max passes
   * (zero passes, the part skipped, when min is 0). The set after one pass depends only on the set before it, so once a set comes back the
   * rest repeats: its cycle stands for every later pass (which may count a few passes too many — only cautious).
   */
  private walkPasses(loop: QuantifierNode, chains: ChainSet, shown: string): ChainSet | Chain {
    const out: Chain[] = loop.min === 0 ? [...chains.skipped().chains] : [];
    const seen: ChainSet[] = [chains];
    let current = chains;
    for (let pass = 1; pass <= loop.max; pass++) {
      const walked = this.walkChains([loop.body], current, shown);
      if (!(walked instanceof ChainSet)) return walked;
      current = walked;
      if (pass >= loop.min) out.push(...current.chains);
      const again = seen.findIndex((s) => s.equals(current));
      if (again >= 0) {
        for (const s of seen.slice(again)) out.push(...s.chains);
        break;
      }
      seen.push(current);
    }
    return new ChainSet(out);
  }

  private chainMessage(chain: Chain): string {
    const texts = chain.map((link) => link.text);
    const search = texts[0] === '';
    const shown = texts.filter((t) => t !== '').map((t) => `"${t}"`);
    const list = `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
    const what = search
      ? `the regex is not anchored with ^, so it is tried at every position of the text, and ${list} can then match the same characters`
      : `${list} follow each other and can match the same characters`;
    const optional = chain.some((link) => link.optional);
    const why = optional ? ' (optional parts and choices count: the engine tries every way through them)' : '';
    return (
      `${what}${why}: on a text that does not match, matching time grows with the cube of its length or worse. ` +
      `Use classes that cannot overlap (e.g. "[^,]*," rather than ".*,")` +
      `${optional ? ', put the separator inside the optional part ("\\d+(\\.\\d+)?" rather than "(\\d+)?\\.?(\\d+)?")' : ''}` +
      `${search ? ', anchor it with ^ when the text starts with it,' : ''} ` +
      'or use a glob ("*foo*bar*baz*"), which runs in linear time'
    );
  }
}

/** One unbounded repetition of a chain: what it can consume, and the characters it can end with. */
interface ChainLink {
  /** Tells links apart (the node's offsets). */
  readonly id: string;
  readonly chars: CharSet;
  readonly last: CharSet;
  /** What the message quotes. */
  readonly text: string;
  /** Found inside an optional part or a choice, or followed by a part skipped (the message then says why that counts). */
  readonly optional: boolean;
}

/** The overlapping links running so far (at most two: a third is reported); empty when none is running. */
type Chain = readonly ChainLink[];

/** The chains one way or another through a sequence may have reached, without repeats. */
class ChainSet {
  readonly chains: readonly Chain[];
  private readonly keys: ReadonlySet<string>;

  constructor(chains: readonly Chain[]) {
    const byKey = new Map<string, Chain>();
    for (const c of chains) {
      // Only the length and the last link matter for what can follow.
      const key = c.length === 0 ? '' : `${c.length}@${c[c.length - 1]!.id}`;
      if (!byKey.has(key)) byKey.set(key, c);
    }
    this.chains = [...byKey.values()];
    this.keys = new Set(byKey.keys());
  }

  map(f: (c: Chain) => Chain): ChainSet {
    return new ChainSet(this.chains.map(f));
  }

  /** Each chain followed by `link`: one link longer when they overlap, else a new chain; a chain of three when one reaches it. */
  extend(link: ChainLink): ChainSet | Chain {
    const out: Chain[] = [];
    for (const c of this.chains) {
      const prev = c[c.length - 1];
      const next = prev !== undefined && prev.last.intersects(link.chars) ? [...c, link] : [link];
      if (next.length >= 3) return next;
      out.push(next);
    }
    return new ChainSet(out);
  }

  /** The same chains, with a part that can match nothing skipped after their last link. */
  skipped(): ChainSet {
    return this.map((c) => (c.length === 0 || c[c.length - 1]!.optional ? c : [...c.slice(0, -1), { ...c[c.length - 1]!, optional: true }]));
  }

  equals(other: ChainSet): boolean {
    return this.keys.size === other.keys.size && [...this.keys].every((k) => other.keys.has(k));
  }
}

function children(n: RegexNode): readonly RegexNode[] {
  switch (n.type) {
    case 'alternation':
      return n.branches;
    case 'sequence':
      return n.items;
    case 'group':
    case 'lookaround':
    case 'quantifier':
      return [n.body];
    case 'char':
    case 'assertion':
    case 'backreference':
      return [];
  }
}

function contains(haystack: RegexNode, needle: RegexNode): boolean {
  if (haystack === needle) return true;
  return children(haystack).some((c) => contains(c, needle));
}

/** The items of a sequence, with single-branch groups (`(ab)`, `(?:ab)`) opened up. */
function flatten(items: readonly RegexNode[]): RegexNode[] {
  const out: RegexNode[] = [];
  for (const item of items) {
    if (item.type === 'group' && item.body.branches.length === 1) out.push(...flatten(item.body.branches[0]!.items));
    else out.push(item);
  }
  return out;
}

/** Items every match of the sequence must consume at least one character of. */
function mandatoryItems(items: readonly RegexNode[], check: SafetyCheck): RegexNode[] {
  return flatten(items).filter((i) => check.info(i).min >= 1);
}
