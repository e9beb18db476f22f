/**
 * Loads journey definitions — a directory of `*.yaml`/`*.yml` files or a single file — into a compiled
 * `JourneySnapshot`, or into the complete list of what is wrong with them, each problem at the `file:line:col`
 * of the text concerned (the same `ConfigIssue`s and rendering as the config loader, `formatIssue`).
 *
 * Which files: in a directory, every regular file (symlinks followed) whose name ends in `.yaml` or `.yml`, in
 * name order, not recursing; names starting with `.` are skipped. That is exactly the Kubernetes ConfigMap volume
 * layout: the real files live in a hidden timestamped directory reached through the `..data` symlink, and each
 * key appears at the top level as a symlink `checkout.yaml -> ..data/checkout.yaml`. A dangling symlink (a key
 * removed from the ConfigMap, for the moment between the kubelet's swap and its cleanup) is skipped. A file may
 * hold several YAML documents (`---`); empty documents are skipped, but a file with no journey document at all
 * (empty, only comments or `---`) is an error at its `:1:1`: on a hot reload, an emptied or truncated file
 * would otherwise remove its journeys without a word (the last good definitions stay instead).
 *
 * One pass, never stopping at the first problem: YAML syntax (the document's other checks are skipped, the
 * other documents are still checked), the schema (schema.ts: unknown keys with "did you mean", types, names,
 * durations, percentages, regexes), duplicate journey names across all files (reported at the second, naming the
 * first's position), and document-checks.ts (repeated step names, rules that can never take effect). No journey
 * at all is an error too: a journeys connector without journeys is a mistake, and on reload it is more likely a
 * half-written directory than an intent (the last good definitions stay).
 *
 * Journey files are data, not config: `${env:…}` is not expanded (regexes are full of `$`).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, isMap, isScalar, parseAllDocuments, type Document, type Node } from 'yaml';
import { errorMessage } from '../../core/errors.js';
import { alertRulesOf, neverFiringPairs } from '../../alerts/rules.js';
import type { ConfigIssue } from '../../config/model.js';
import { explainZodIssues, unknownKeyProblems } from '../../config/zod-issues.js';
import { IssueCollector, locate, offsetOf, yamlSyntaxErrors, type PathSegment } from '../../config/yaml-nodes.js';
import type { CompiledJourney, JourneySnapshot } from '../model.js';
import { buildSnapshot, compileJourney } from './compile.js';
import { documentProblems, stepNameProblems } from './document-checks.js';
import { journeyDocumentSchema, type JourneyDocument } from './schema.js';

export type JourneyLoadResult =
  | {
      readonly snapshot: JourneySnapshot;
      /** The files read, as paths built from the one given (relative stays relative). */
      readonly files: readonly string[];
      readonly warnings: readonly ConfigIssue[];
      /** A hash of every file's name and text: equal digests mean identical definitions. */
      readonly digest: string;
    }
  | { readonly issues: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

export interface LoadJourneysOptions {
  /** The snapshot's generation (the store counts reloads). Default 1. */
  readonly generation?: number;
  /** The snapshot's `loadedAtMs`. Default now. */
  readonly nowMs?: number;
}

export interface JourneyFileText {
  /** The name used in issues and `CompiledJourney.source`. */
  readonly file: string;
  readonly text: string;
}

const YAML_FILE = /\.ya?ml$/i;

/** A directory entry that is read as a journey file: `*.yaml` / `*.yml`, not hidden (see the file comment). */
export function isJourneyFileName(name: string): boolean {
  return !name.startsWith('.') && YAML_FILE.test(name);
}

/** Reads and loads `path` (a directory or one file). */
export function loadJourneys(path: string, options: LoadJourneysOptions = {}): JourneyLoadResult {
  const listed = listJourneyFiles(path);
  if ('issue' in listed) return { issues: [listed.issue], warnings: [] };
  const texts: JourneyFileText[] = [];
  const unreadable: ConfigIssue[] = [];
  for (const file of listed.files) {
    try {
      texts.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      unreadable.push({ file, line: 0, col: 0, message: `cannot read the journey file: ${describeFsError(err)}` });
    }
  }
  const result = loadJourneyTexts(texts, { ...options, origin: path });
  if (unreadable.length === 0) return result;
  return { issues: [...unreadable, ...('issues' in result ? result.issues : [])], warnings: result.warnings };
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return errorMessage(err);
}

/**
 * The journey files `path` stands for: itself when it is a file, else its `*.yaml`/`*.yml` entries (see the file
 * comment). An issue when it cannot be read or holds no such file.
 */
export function listJourneyFiles(path: string): { files: string[] } | { issue: ConfigIssue } {
  const fail = (message: string) => ({ issue: { file: path, line: 0, col: 0, message } });
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (err) {
    return fail(`cannot read the journeys directory: ${describeFsError(err)}`);
  }
  if (!isDirectory) return { files: [path] };
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (err) {
    return fail(`cannot read the journeys directory: ${describeFsError(err)}`);
  }
  const files = names
    .filter(isJourneyFileName)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => join(path, name))
    .filter((file) => {
      try {
        return statSync(file).isFile();
      } catch {
        return false; // dangling symlink: see the file comment
      }
    });
  if (files.length === 0) return fail(`no journey files (*.yaml, *.yml) in ${path}: a journeys directory needs at least one journey`);
  return { files };
}

/**
 * Loads journey definitions from texts (as if read from files of those names). `origin` is the directory or
 * file they came from, named in the "no journeys" issue.
 */
export function loadJourneyTexts(files: readonly JourneyFileText[], options: LoadJourneysOptions & { readonly origin?: string } = {}): JourneyLoadResult {
  const names = new Map<string, { file: string; line: number; col: number }>();
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const journeys: CompiledJourney[] = [];
  for (const { file, text } of files) {
    const loaded = new FileLoader(file, text, names).load();
    issues.push(...loaded.issues);
    warnings.push(...loaded.warnings);
    journeys.push(...loaded.journeys);
  }
  if (issues.length === 0 && journeys.length === 0) {
    const origin = options.origin ?? files[0]?.file ?? '(no files)';
    issues.push({ file: origin, line: 0, col: 0, message: `no journeys defined in ${origin}: a journey file holds documents with "apiVersion: pulse/v1" and "kind: Journey"` });
  }
  if (issues.length > 0) return { issues, warnings };
  const digest = createHash('sha256');
  for (const { file, text } of files) digest.update(`${file}\0${text}\0`);
  return {
    snapshot: buildSnapshot(journeys, options.generation ?? 1, options.nowMs ?? Date.now()),
    files: files.map((f) => f.file),
    warnings,
    digest: digest.digest('hex'),
  };
}

/** Where a value is reported: the key for unknown keys, else the value (see yaml-nodes.ts `offsetOf`). */
function offsetIn(doc: Document, path: readonly PathSegment[], atKey: boolean): number {
  const root = doc.contents as Node | null;
  const loc = locate(doc, { node: root, key: null }, path);
  if (atKey && loc.rest.length === 0 && loc.key) return loc.key.range?.[0] ?? 0;
  return offsetOf(loc, root?.range?.[0] ?? 0);
}

class FileLoader {
  private readonly lines = new LineCounter();
  private readonly issues: IssueCollector;
  private readonly journeys: CompiledJourney[] = [];

  constructor(
    private readonly file: string,
    private readonly text: string,
    /** Journey names seen so far in this load (all files), with where they were defined. */
    private readonly names: Map<string, { file: string; line: number; col: number }>,
  ) {
    this.issues = new IssueCollector(file, this.lines, text);
  }

  load(): { issues: ConfigIssue[]; warnings: ConfigIssue[]; journeys: CompiledJourney[] } {
    const docs = parseAllDocuments(this.text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    let documents = 0;
    for (const doc of docs) {
      for (const w of doc.warnings) this.issues.warning(w.pos[0], w.message);
      if (doc.errors.length > 0) {
        for (const e of yamlSyntaxErrors(doc.errors, this.text)) this.issues.error(e.offset, e.message);
        documents++;
        continue;
      }
      const root = doc.contents;
      if (root === null || (isScalar(root) && root.value === null)) continue;
      documents++;
      if (!isMap(root)) {
        this.issues.error(root.range?.[0] ?? 0, `a journey document is a map with the keys apiVersion, kind, metadata and spec`);
        continue;
      }
      this.loadDocument(doc);
    }
    // An emptied or truncated file is far more often an editor or a deploy caught half-way than a wish to delete
    // its journeys, and on reload it would silently drop them: it is an error, and deleting the file is the way.
    if (documents === 0) {
      this.issues.error(
        0,
        'this file holds no journey document (it is empty, or only comments or "---"): write the journey back, or delete the file to remove its journeys',
      );
    }
    return { issues: this.issues.errors(), warnings: this.issues.warnings(), journeys: this.issues.hasErrors ? [] : this.journeys };
  }

  private position(doc: Document, path: readonly PathSegment[]): { line: number; col: number } {
    return this.lines.linePos(offsetIn(doc, path, false));
  }

  private loadDocument(doc: Document): void {
    let input: unknown;
    try {
      input = doc.toJS();
    } catch (err) {
      this.issues.error(doc.contents?.range?.[0] ?? 0, `the document cannot be read: ${errorMessage(err)}`);
      return;
    }
    const lineOf = (path: readonly PathSegment[]) => this.position(doc, path).line;
    let ok = this.checkName(doc, input);
    for (const p of stepNameProblems(input, lineOf)) {
      this.issues.error(offsetIn(doc, p.path, false), p.message);
      ok = false;
    }
    const result = journeyDocumentSchema.safeParse(input);
    const problems = unknownKeyProblems(journeyDocumentSchema, input, '');
    if (!result.success) {
      const seen = new Set(problems.map((p) => p.message));
      for (const p of explainZodIssues(result.error.issues, journeyDocumentSchema, input, '')) if (!seen.has(p.message)) problems.push(p);
    }
    for (const p of problems) this.issues.error(offsetIn(doc, p.path, p.atKey), p.message);
    const semantic = documentProblems(input, lineOf);
    for (const p of semantic) this.issues.error(offsetIn(doc, p.path, false), p.message);
    if (!result.success || problems.length > 0 || semantic.length > 0 || !ok) return;
    const parsed: JourneyDocument = result.data;
    let compiled: CompiledJourney;
    try {
      compiled = compileJourney(parsed, { file: this.file, line: this.lines.linePos(doc.contents?.range?.[0] ?? 0).line });
    } catch (err) {
      this.issues.error(doc.contents?.range?.[0] ?? 0, `the journey could not be compiled: ${errorMessage(err)}`);
      return;
    }
    this.journeys.push(compiled);
    this.warnNeverFiring(doc, input, compiled);
  }

  /**
   * A burn-rate rule whose factor × (1 − target) is not below 1 can never fire (not even at a 100% error rate): a
   * warning at its factor, or at the target when the rules are the defaults (a low target makes them unreachable).
   */
  private warnNeverFiring(doc: Document, input: unknown, journey: CompiledJourney): void {
    const rules = alertRulesOf(journey);
    const written = (input as { spec?: { alerts?: { burn_rates?: unknown } } }).spec?.alerts?.burn_rates !== undefined;
    const hasTarget = (input as { spec?: { objective?: { target?: unknown } } }).spec?.objective?.target !== undefined;
    const never = new Set(neverFiringPairs(rules));
    rules.burnRates.forEach((p, i) => {
      if (!never.has(p)) return;
      const path: PathSegment[] = written ? ['spec', 'alerts', 'burn_rates', i, 'factor'] : hasTarget ? ['spec', 'objective', 'target'] : ['spec'];
      this.issues.warning(
        offsetIn(doc, path, false),
        `journey ${journey.name}: the ${p.severity} burn rate ${p.long}/${p.short} with factor ${p.factor}${written ? '' : ' (a default rule)'} can never fire: ` +
          `factor × (1 − target) = ${(p.factor * (1 - rules.target)).toFixed(3)} is not below 1 (a 100% error rate); lower the factor or the target`,
      );
    });
  }

  /** Records the journey's name; a duplicate is reported here, at the second definition. */
  private checkName(doc: Document, input: unknown): boolean {
    const name = (input as { metadata?: { name?: unknown } }).metadata?.name;
    if (typeof name !== 'string') return true;
    const here = this.position(doc, ['metadata', 'name']);
    const first = this.names.get(name);
    if (!first) {
      this.names.set(name, { file: this.file, ...here });
      return true;
    }
    const where = first.file === this.file ? `line ${first.line}` : `${first.file}:${first.line}:${first.col}`;
    this.issues.error(offsetIn(doc, ['metadata', 'name'], false), `metadata.name: journey "${name}" is already defined at ${where}; journey names must be unique across all journey files`);
    return false;
  }
}
