/**
 * Finding the YAML node a problem is about, so every issue carries the `line:col` of what the user wrote.
 *
 * Validation works on plain JS values (`node.toJS()`), and reports problems as paths (`['protocols', 'grpc',
 * 'endpoint']`). `locate()` walks the same path through the parsed document and `offsetOf()` picks the offset
 * to report: the value itself when it is a scalar or a flow collection (`[a, b]`), else the key that holds it
 * (a block map or list starts on the next line, and an empty value has no text of its own), else the deepest node that exists (a missing field is
 * reported at the key of the map that lacks it).
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { ConfigIssue } from './model.js';

export type PathSegment = string | number;

export interface Located {
  /** The deepest node reached (`null` when even the starting value is absent or empty). */
  readonly node: Node | null;
  /** The key of the map entry whose value is `node`, when there is one. */
  readonly key: Node | null;
  /** The path segments that do not exist in the document. */
  readonly rest: readonly PathSegment[];
}

/** The text of a scalar map key (`null` for keys that are maps, lists or empty). */
export function keyText(key: unknown): string | null {
  if (isScalar(key) && key.value !== null && typeof key.value !== 'object') return String(key.value);
  return null;
}

function deref(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) return node.resolve(doc) ?? null;
  return (node as Node | null | undefined) ?? null;
}

/** Walks `path` from `start` (a value node and the key holding it) as far as the document goes. */
export function locate(doc: Document, start: { node: Node | null; key: Node | null }, path: readonly PathSegment[]): Located {
  let node = deref(doc, start.node);
  let key = start.key;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    let next: { node: Node | null; key: Node | null } | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (pair) next = { node: deref(doc, pair.value), key: pair.key as Node };
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item !== undefined) next = { node: deref(doc, item), key: null };
    }
    if (!next) return { node, key, rest: path.slice(i) };
    ({ node, key } = next);
  }
  return { node, key, rest: [] };
}

function start(node: Node | null): number | undefined {
  return node?.range?.[0];
}

/** Where to report a problem about the located node (see the file comment). */
export function offsetOf(loc: Located, fallback = 0): number {
  const n = loc.node;
  if (loc.rest.length === 0 && isScalar(n) && n.range && n.range[0] !== n.range[1]) return n.range[0];
  // A flow collection (`[a, b]`, `{}`) is on the key's line: point at it. A block one starts on the next line.
  if (loc.rest.length === 0 && (isMap(n) || isSeq(n)) && n.flow) return start(n) ?? 0;
  return start(loc.key) ?? start(n) ?? fallback;
}

/**
 * Collects errors and warnings for one file, with positions. Nothing stops at the first problem: the loader
 * checks everything it can and hands back every issue, sorted by position.
 */
export class IssueCollector {
  private readonly errorList: ConfigIssue[] = [];
  private readonly warningList: ConfigIssue[] = [];

  /** Where the file's last non-blank character is: a problem found at the end of the file is shown there. */
  private readonly lastOffset: number | undefined;

  constructor(
    readonly file: string,
    private readonly lines: LineCounter | undefined,
    text?: string,
  ) {
    this.lastOffset = text === undefined ? undefined : Math.max(0, text.trimEnd().length - 1);
  }

  private at(offset: number, message: string, severity: 'error' | 'warning'): ConfigIssue {
    // yaml reports what is missing at the end (a closing quote or bracket) past the last line; an editor has no
    // such line to jump to.
    const at = this.lastOffset !== undefined && offset > this.lastOffset ? this.lastOffset : offset;
    const { line, col } = this.lines ? this.lines.linePos(at) : { line: 1, col: 1 };
    return severity === 'error' ? { file: this.file, line, col, message } : { file: this.file, line, col, message, severity };
  }

  error(offset: number, message: string): void {
    this.errorList.push(this.at(offset, message, 'error'));
  }

  warning(offset: number, message: string): void {
    this.warningList.push(this.at(offset, message, 'warning'));
  }

  /** An error about the whole file (it cannot be read): position 0:0, printed without one. */
  fileError(message: string): void {
    this.errorList.push({ file: this.file, line: 0, col: 0, message });
  }

  get hasErrors(): boolean {
    return this.errorList.length > 0;
  }

  errors(): ConfigIssue[] {
    return sortByPosition(this.errorList);
  }

  warnings(): ConfigIssue[] {
    return sortByPosition(this.warningList);
  }
}

/** Sorted by line, then column; issues at the same position keep the order they were found in. */
export function sortByPosition(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * The offset of the next character at or after `offset` that is not whitespace or part of a `#` comment, or
 * `text.length` when only blanks and comments follow. yaml reports a duplicate key where the previous entry
 * ended; `yamlSyntaxErrors` uses this to point at the duplicate key itself.
 */
export function skipBlank(text: string, offset: number): number {
  let i = offset;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#') {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else {
      break;
    }
  }
  return i;
}

/**
 * yaml's syntax errors of one document, as the config and journey loaders report them: at `offset`, `message`
 * prefixed `YAML syntax: `. Two of yaml's reports are reworded:
 * - a duplicate key is reported where the previous entry ended; it is moved to the duplicate key itself, and the
 *   message names the key and, in a block map, the line of its first occurrence (yaml only says "Map keys must be
 *   unique");
 * - a key on a tab-indented line also comes out as a duplicate of a key of the outer map (`\tkind: server` under
 *   `spec:` clashes with `kind: Journey`), which only confuses: that echo is left out, the tab error stays.
 */
export function yamlSyntaxErrors(errors: ReadonlyArray<{ code: string; pos: [number, number]; message: string }>, text: string): Array<{ code: string; offset: number; message: string }> {
  const tabbedLines = new Set<number>();
  for (const e of errors) if (e.code === 'TAB_AS_INDENT') tabbedLines.add(lineStartOf(text, e.pos[0]));
  const out: Array<{ code: string; offset: number; message: string }> = [];
  for (const e of errors) {
    if (e.code !== 'DUPLICATE_KEY') {
      out.push({ code: e.code, offset: e.pos[0], message: `YAML syntax: ${e.message}` });
      continue;
    }
    const next = skipBlank(text, e.pos[0]);
    const offset = next < text.length ? next : e.pos[0];
    if (tabbedLines.has(lineStartOf(text, offset))) continue;
    out.push({ code: e.code, offset, message: duplicateKeyMessage(text, offset) });
  }
  return out;
}

/** The message for a duplicate key at `offset`: names the key and, in a block map, the line of its first occurrence. */
function duplicateKeyMessage(text: string, offset: number): string {
  const key = keyTextAt(text, offset);
  if (key === undefined) return 'YAML syntax: a key appears twice in this map; keep one';
  const lineStart = lineStartOf(text, offset);
  const indent = offset - lineStart;
  const first = text.slice(lineStart, offset).trim() === '' ? firstOccurrenceLine(text, lineStart, indent, key) : undefined;
  return `YAML syntax: the key "${key}" appears twice in this map${first !== undefined ? ` (first on line ${first})` : ''}; keep one`;
}

/** The key written at `offset` (`name:`, `"name":`, `'name':`), or undefined when none is there. */
function keyTextAt(text: string, offset: number): string | undefined {
  const q = text[offset];
  if (q === '"' || q === "'") {
    const end = text.indexOf(q, offset + 1);
    return end < 0 ? undefined : text.slice(offset + 1, end);
  }
  const m = /^([^:\n#,{}[\]]+?)\s*:(?:\s|$)/.exec(text.slice(offset, offset + 300));
  return m?.[1];
}

/** The offset where the line holding `offset` starts. */
function lineStartOf(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** The 1-based line where `key` first appears at `indent` in the block map that holds the line at `lineStart`. */
function firstOccurrenceLine(text: string, lineStart: number, indent: number, key: string): number | undefined {
  const lines = text.slice(0, lineStart).split('\n');
  lines.pop(); // what follows the last newline: the duplicate's own line, not before it
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const body = line.trimStart();
    if (body === '' || body.startsWith('#')) continue;
    const at = line.length - body.length;
    if (at < indent) return undefined; // the map ended: its parent's line
    if (at === indent && keyTextAt(line, at) === key) return i + 1;
  }
  return undefined;
}
