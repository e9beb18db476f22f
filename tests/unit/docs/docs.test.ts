/**
 * Keeps the user documentation (docs/*.md and the project README) true to the code:
 *
 * - metrics: every self-metric name the docs mention is registered in src/, and every metric src/ registers is
 *   listed in docs/operations.md (the operations guide promises the complete list);
 * - links: every relative link in docs/*.md and README.md points at an existing file, and a `#fragment` into a
 *   Markdown file names one of its headings (GitHub's anchor rules);
 * - journey examples: every YAML block of docs/journeys.md that is a journey document (`apiVersion: pulse/v1`) loads
 *   without problems — unless the line before it is `<!-- invalid: <part of the message> -->`, a deliberate mistake,
 *   which must fail with that message. When the block after such an example shows Pulse's output
 *   (`file.yaml:line:col: message` lines), it must be exactly what the loader reports. "The whole file" is
 *   config/journeys/checkout.yaml, character for character;
 * - config examples: every YAML block in docs/*.md that is a complete config (a `service:` with `pipelines:`)
 *   passes the same checks as `pulse validate`, without warnings;
 * - alert event examples: every JSON block of docs/alerts.md that is a CloudEvent is valid against the schema the
 *   Kafka exporter publishes, carries exactly the documented `data` keys, and a consistent `pagerduty_severity`.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../../src/components.js';
import { loadConfigText } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/model.js';
import { loadJourneyTexts } from '../../../src/journeys/definition/load.js';
import { alertRulesOf, neverFiringPairs } from '../../../src/alerts/rules.js';
import { pagerDutySeverity } from '../../../src/alerts/model.js';
import { alertCloudEventSchema, alertEventDataSchema } from '../../../src/exporters/kafka/event-schema.js';

const root = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const read = (file: string): string => readFileSync(join(root, file), 'utf8');
const docFiles = readdirSync(join(root, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .sort()
  .map((name) => `docs/${name}`);

// ---- Markdown helpers ---------------------------------------------------------------------------------------

interface CodeBlock {
  /** The info string after the opening fence (`yaml`, `sh`, or ''). */
  readonly lang: string;
  readonly text: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The last non-blank line before the fence (for `<!-- invalid: … -->` markers). */
  readonly before: string;
}

/** The fenced code blocks of a Markdown text, in order. */
function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith(fence)) j++;
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    blocks.push({ lang: open[2] ?? '', text: lines.slice(i + 1, j).join('\n') + '\n', line: i + 1, before: k >= 0 ? lines[k]!.trim() : '' });
    i = j;
  }
  return blocks;
}

/** The Markdown text without fenced code blocks, inline code spans and HTML comments (links there are not links). */
function prose(markdown: string): string {
  return markdown
    .replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens; repeats get -1, -2, … */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

interface Link {
  readonly file: string;
  readonly target: string;
}

function relativeLinks(file: string): Link[] {
  const text = prose(read(file));
  const targets = [
    ...[...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t)).map((target) => ({ file, target }));
}

/** What is wrong with a link, or undefined when it leads somewhere. */
function brokenLink({ file, target }: Link): string | undefined {
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash)).replace(/\?.*$/, '');
  const fragment = hash < 0 ? '' : decodeURIComponent(target.slice(hash + 1));
  const absolute = pathPart === '' ? join(root, file) : resolve(root, dirname(file), pathPart);
  const shown = relative(root, absolute) || '.';
  if (!existsSync(absolute)) return `${file}: link "${target}" points at ${shown}, which does not exist`;
  if (fragment === '' || !absolute.endsWith('.md')) return undefined;
  if (!headingAnchors(readFileSync(absolute, 'utf8')).has(fragment)) return `${file}: link "${target}": ${shown} has no heading with the anchor #${fragment}`;
  return undefined;
}

// ---- metrics ------------------------------------------------------------------------------------------------

const METRIC_NAME = /\b(?:pulse|process|nodejs)_[a-z0-9_]*[a-z0-9]\b/g;

/**
 * The metric names src/ registers: string literals shaped like a metric name in the files that register metrics
 * (`.counter(` / `.gauge(` / `.histogram(`), whether passed directly or through a constant (`METRIC.sent`).
 */
function registeredMetrics(): Map<string, string> {
  const found = new Map<string, string>();
  const files = (readdirSync(join(root, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  for (const f of files) {
    const text = readFileSync(join(root, 'src', f), 'utf8');
    if (!/\.(counter|gauge|histogram)\(/.test(text)) continue;
    for (const m of text.matchAll(/(['"])((?:pulse|process|nodejs)_[a-z0-9_]+)\1/g)) found.set(m[2]!, `src/${f}`);
  }
  return found;
}

const mentionedMetrics = (file: string): Set<string> => new Set(read(file).match(METRIC_NAME) ?? []);

describe('self-metrics in the docs', () => {
  const registered = registeredMetrics();

  it('finds the registered metrics (the scan itself works)', () => {
    expect(registered.get('pulse_receiver_accepted_spans_total')).toBe('src/receivers/otlp/ingest.ts');
    expect(registered.get('pulse_exporter_sent_items_total')).toBe('src/exporters/exporterhelper/metrics.ts');
    expect(registered.size).toBeGreaterThan(40);
  });

  it('docs/operations.md lists every metric src/ registers', () => {
    const documented = mentionedMetrics('docs/operations.md');
    const missing = [...registered].filter(([name]) => !documented.has(name)).map(([name, where]) => `${name} (registered in ${where})`);
    expect(missing, 'add these to the self-metrics tables of docs/operations.md').toEqual([]);
  });

  for (const file of [...docFiles, 'README.md']) {
    it(`every metric ${file} names is registered in src/`, () => {
      const unknown = [...mentionedMetrics(file)].filter((name) => !registered.has(name));
      expect(unknown, `${file} names metrics no code registers (renamed or removed?)`).toEqual([]);
    });
  }
});

// ---- links --------------------------------------------------------------------------------------------------

describe('relative links', () => {
  for (const file of [...docFiles, 'README.md']) {
    it(`${file}: every relative link leads to an existing file and heading`, () => {
      const links = relativeLinks(file);
      expect(links.map(brokenLink).filter((p) => p !== undefined)).toEqual([]);
    });
  }

  it('checks what it should: a missing file and a missing heading are reported', () => {
    expect(brokenLink({ file: 'docs/journeys.md', target: 'no-such-file.md' })).toContain('does not exist');
    expect(brokenLink({ file: 'docs/journeys.md', target: 'operations.md#no-such-heading' })).toContain('no heading with the anchor');
    expect(brokenLink({ file: 'docs/journeys.md', target: 'operations.md#self-metrics' })).toBeUndefined();
    expect(relativeLinks('docs/journeys.md').length).toBeGreaterThan(10);
  });
});

// ---- journey examples ---------------------------------------------------------------------------------------

const INVALID_MARKER = /^<!--\s*invalid(?::\s*([\s\S]*?))?\s*-->$/;
const isJourney = (block: CodeBlock) => /^(ya?ml)$/.test(block.lang) && /^(?:\s*(?:#.*)?\n)*apiVersion: pulse\/v1\b/.test(block.text);
/** `config/journeys/checkout.yaml:8:7: message` — a loader issue as the docs show it. */
const ISSUE_LINE = /^(\S+?\.ya?ml):\d+:\d+: /;

describe('journey examples in docs/journeys.md', () => {
  const blocks = codeBlocks(read('docs/journeys.md'));
  const journeys = blocks.filter(isJourney);

  it('has valid and deliberately invalid examples, and every invalid marker sits on a journey example', () => {
    const marked = blocks.filter((b) => INVALID_MARKER.test(b.before));
    expect(marked.filter((b) => !isJourney(b)).map((b) => `line ${b.line}`)).toEqual([]);
    expect(journeys.filter((b) => !INVALID_MARKER.test(b.before)).length).toBeGreaterThan(3);
    expect(marked.length).toBeGreaterThan(3);
  });

  it('"The whole file" is config/journeys/checkout.yaml exactly as shipped', () => {
    const markdown = read('docs/journeys.md');
    const heading = markdown.split('\n').indexOf('### The whole file') + 1;
    expect(heading, 'the heading "### The whole file"').toBeGreaterThan(0);
    const block = blocks.find((b) => b.line > heading);
    expect(block?.text).toBe(read('config/journeys/checkout.yaml'));
  });

  for (const block of journeys) {
    const marker = INVALID_MARKER.exec(block.before);
    const next = blocks[blocks.indexOf(block) + 1];
    if (!marker) {
      it(`the example at line ${block.line} is a valid journey, without warnings`, () => {
        const result = loadJourneyTexts([{ file: `docs/journeys.md:${block.line}`, text: block.text }]);
        expect('issues' in result ? result.issues.map(formatIssue) : []).toEqual([]);
        expect(result.warnings.map(formatIssue)).toEqual([]);
        if ('issues' in result) return;
        const neverFire = result.snapshot.journeys.flatMap((j) => neverFiringPairs(alertRulesOf(j)).map((p) => `${j.name}: ${p.long}/${p.short} ×${p.factor}`));
        expect(neverFire, 'burn-rate pairs that can never fire').toEqual([]);
      });
      continue;
    }
    const expected = marker[1]?.trim();
    it(`the deliberate mistake at line ${block.line} fails${expected ? ` with "${expected}"` : ''}`, () => {
      // Shown output (if any) names the file; load under that name so positions and names compare exactly.
      const shown = next && next.lang === '' && next.text.trim().split('\n').every((l) => ISSUE_LINE.test(l)) ? next.text.trim().split('\n') : undefined;
      const file = shown ? ISSUE_LINE.exec(shown[0]!)![1]! : 'config/journeys/checkout.yaml';
      const result = loadJourneyTexts([{ file, text: block.text }]);
      expect('issues' in result, 'this example is marked invalid but loads').toBe(true);
      const issues = 'issues' in result ? result.issues.map(formatIssue) : [];
      if (expected) expect(issues.some((i) => i.includes(expected)), `no issue mentions "${expected}": ${issues.join(' | ')}`).toBe(true);
      if (shown) expect(issues, `the output shown after the example at line ${block.line}`).toEqual(shown);
    });
  }
});

// ---- config examples ----------------------------------------------------------------------------------------

/** A YAML block that is a whole config: top-level `service:` with `pipelines:`. */
function isConfig(block: CodeBlock): boolean {
  if (!/^(ya?ml)$/.test(block.lang)) return false;
  let doc: unknown;
  try {
    doc = parse(block.text);
  } catch {
    return false;
  }
  const service = (doc as { service?: { pipelines?: unknown } } | null)?.service;
  return typeof service === 'object' && service !== null && service.pipelines !== undefined;
}

describe('config examples in the docs', () => {
  // Journey directories in the examples (config/journeys) are relative to the repository root, as for `pulse start`.
  const cwd = process.cwd();
  beforeAll(() => process.chdir(root));
  afterAll(() => process.chdir(cwd));

  const examples = docFiles.flatMap((file) => codeBlocks(read(file)).filter(isConfig).map((block) => ({ file, block })));

  it('finds the sidecar and gateway examples of docs/operations.md', () => {
    expect(examples.filter((e) => e.file === 'docs/operations.md').length).toBeGreaterThanOrEqual(2);
  });

  for (const { file, block } of examples) {
    it(`${file}: the config at line ${block.line} passes pulse validate without warnings`, () => {
      const result = loadConfigText(block.text, `${file}:${block.line}`, defaultRegistry(), {});
      expect('issues' in result ? result.issues.map(formatIssue) : []).toEqual([]);
      expect(result.warnings.map(formatIssue)).toEqual([]);
    });
  }
});

// ---- alert event examples -----------------------------------------------------------------------------------

describe('alert event examples in docs/alerts.md', () => {
  const events = codeBlocks(read('docs/alerts.md'))
    .filter((b) => b.lang === 'json' && b.text.includes('"specversion"'))
    .map((b) => ({ line: b.line, event: JSON.parse(b.text) as unknown }));

  it('has examples', () => {
    expect(events.length).toBeGreaterThanOrEqual(2);
  });

  for (const { line, event } of events) {
    it(`the event at line ${line} is what the Kafka exporter publishes`, () => {
      const parsed = alertCloudEventSchema.safeParse(event);
      expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
      if (!parsed.success) return;
      const data = parsed.data.data;
      expect(Object.keys(data).sort()).toEqual(Object.keys(alertEventDataSchema.shape).sort());
      expect(data.pagerduty_severity).toBe(pagerDutySeverity(data));
      expect(parsed.data.type).toBe(`dev.pulse.alert.${data.status}`);
      expect(parsed.data.subject).toBe(data.journey);
    });
  }
});
