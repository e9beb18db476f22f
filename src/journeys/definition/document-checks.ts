/**
 * Checks that relate several values of one journey document, run by the loader after the schema: repeated step
 * names, and rules that can never take effect ("unreachable rules"):
 *
 * - a step whose selector selects only spans that the start selector or an earlier step already takes. A span
 *   takes the first role it matches within a journey — start, then steps in the order written (the runtime's
 *   matcher index does the same) — so such a step can never match;
 * - a condition that can never hold (`{ gt: 10, lt: 5 }`, `in: []`, …; see conditions.ts `unsatisfiable`): in a
 *   selector it means the selector never matches, in `success.where` that every attempt fails;
 * - `required: true` with `max_calls: 0`: every attempt would either miss the step or call it too often;
 * - two segment dimensions with the same name.
 *
 * Problems carry a path into the document; the loader turns it into `file:line:col`. `lineOf` names the line of
 * another place of the same document, for messages like "the same as step "charge" (line 14)".
 */
import type { PathSegment } from '../../config/yaml-nodes.js';
import { formatPath } from '../../config/zod-issues.js';
import { compileSelector, segmentDimension } from './compile.js';
import { canonicalCondition, unsatisfiable, type ConditionProblem } from './conditions.js';
import { covers } from './matchers.js';
import { segmentSchema, startSchema, stepSchema, successSchema, type ConditionSpec, type SelectorSpec } from './schema.js';

export interface DocumentProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

export type LineOf = (path: readonly PathSegment[]) => number;

const at = (path: readonly PathSegment[], message: string): DocumentProblem => ({ path, message: `${formatPath('', path)}: ${message}` });

/**
 * Repeated and reserved step names, on the document as written (so they are reported even when another part of
 * the document fails the schema).
 */
export function stepNameProblems(raw: unknown, lineOf: LineOf): DocumentProblem[] {
  const steps = (raw as { spec?: { steps?: unknown } } | null)?.spec?.steps;
  if (!Array.isArray(steps)) return [];
  const out: DocumentProblem[] = [];
  const seen = new Map<string, number>();
  steps.forEach((step: unknown, i) => {
    const name = (step as { name?: unknown } | null)?.name;
    if (typeof name !== 'string') return;
    const path = ['spec', 'steps', i, 'name'];
    if (name === 'start') {
      out.push(at(path, '"start" is reserved for the start span (journey.step = start); give the step another name'));
      return;
    }
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else out.push(at(path, `step name "${name}" is already used by spec.steps[${first}] (line ${lineOf(['spec', 'steps', first])}); step names must be unique within a journey`));
  });
  return out;
}

/** A canonical text of a selector: equal texts select exactly the same spans. */
function canonicalSelector(s: SelectorSpec): string {
  const names = (p: SelectorSpec['service']) => (p === undefined ? '*' : typeof p === 'string' || !Array.isArray(p) ? p : [...new Set(p)].sort());
  const where = Object.entries(s.where ?? {})
    .map(([k, c]) => `${k}:${canonicalCondition(c)}`)
    .sort();
  return JSON.stringify([names(s.service), names(s.span), s.kind ?? null, where]);
}

/** Whether every span `later` selects is also selected by `earlier`, as far as can be told for sure. */
function selectorCovers(earlier: SelectorSpec, later: SelectorSpec): boolean {
  const a = compileSelector(earlier);
  const b = compileSelector(later);
  if (!covers(a.service, b.service) || !covers(a.span, b.span)) return false;
  if (earlier.kind !== undefined && earlier.kind !== later.kind) return false;
  const laterWhere = new Set(Object.entries(later.where ?? {}).map(([k, c]) => `${k}:${canonicalCondition(c)}`));
  return Object.entries(earlier.where ?? {}).every(([k, c]) => laterWhere.has(`${k}:${canonicalCondition(c)}`));
}

function conditionProblems(where: Readonly<Record<string, ConditionSpec>> | undefined, base: readonly PathSegment[], consequence: string): DocumentProblem[] {
  const out: DocumentProblem[] = [];
  for (const [key, spec] of Object.entries(where ?? {})) {
    const p: ConditionProblem | undefined = unsatisfiable(key, spec);
    if (p) out.push(at([...base, key, ...p.path], `${p.message}; ${consequence}`));
  }
  return out;
}

function parsed<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, value: unknown): T | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

/**
 * The checks of the file comment. They run on the document as written, part by part (the start selector, each
 * step, the success rules, each segment): a part that fails the schema is skipped (the schema has reported it),
 * the others are still checked, so one load reports every problem.
 */
export function documentProblems(raw: unknown, lineOf: LineOf): DocumentProblem[] {
  const spec = (raw as { spec?: Record<string, unknown> } | null)?.spec ?? {};
  const out: DocumentProblem[] = [];
  const start = parsed(startSchema, spec.start);
  if (start) out.push(...conditionProblems(start.where, ['spec', 'start', 'where'], 'the start selector can never match'));
  const earlier: Array<{ label: string; path: PathSegment[]; selector: SelectorSpec }> = [];
  if (start) earlier.push({ label: 'the start selector', path: ['spec', 'start'], selector: start });
  const steps: unknown[] = Array.isArray(spec.steps) ? spec.steps : [];
  steps.forEach((rawStep, i) => {
    const step = parsed(stepSchema, rawStep);
    if (!step) return;
    const path = ['spec', 'steps', i];
    out.push(...conditionProblems(step.where, [...path, 'where'], `step "${step.name}" can never match`));
    if (step.required && step.max_calls === 0) {
      out.push(
        at(
          [...path, 'max_calls'],
          `"required: true" and "max_calls: 0" contradict each other: every attempt would either miss step "${step.name}" or call it too often; remove one of them`,
        ),
      );
    }
    const mine = canonicalSelector(step);
    for (const e of earlier) {
      const same = canonicalSelector(e.selector) === mine;
      if (!same && !selectorCovers(e.selector, step)) continue;
      const how = same ? `selects exactly the same spans as ${e.label}` : `selects only spans that ${e.label} also selects`;
      out.push(
        at(
          path,
          `step "${step.name}" ${how} (line ${lineOf(e.path)}), which wins: a span takes the first role it matches (start, then steps in order), ` +
            'so this step can never match; make its selector more specific (service, span, kind or where) or remove it',
        ),
      );
      break;
    }
    earlier.push({ label: `step "${step.name}"`, path, selector: step });
  });
  const success = parsed(successSchema, spec.success ?? {});
  if (success) out.push(...conditionProblems(success.where, ['spec', 'success', 'where'], 'every attempt would fail this rule'));
  const dimensions = new Map<string, number>();
  const segments: unknown[] = Array.isArray(spec.segments) ? spec.segments : [];
  segments.forEach((rawSegment, i) => {
    const segment = parsed(segmentSchema, rawSegment);
    if (segment === undefined) return;
    const { name } = segmentDimension(segment);
    const first = dimensions.get(name);
    if (first === undefined) dimensions.set(name, i);
    else
      out.push(
        at(
          ['spec', 'segments', i],
          `the segment dimension "${name}" is already defined by spec.segments[${first}] (line ${lineOf(['spec', 'segments', first])}); give one of them another name with { name: …, attribute: … }`,
        ),
      );
  });
  return out;
}
