import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue } from '../../../../src/config/model.js';
import { SpanKind } from '../../../../src/core/model.js';
import { loadJourneyTexts, loadJourneys, type JourneyLoadResult } from '../../../../src/journeys/definition/load.js';
import type { JourneySnapshot } from '../../../../src/journeys/model.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const NO_DOCUMENT =
  'this file holds no journey document (it is empty, or only comments or "---"): write the journey back, or delete the file to remove its journeys';
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

const header = (name: string) => ['apiVersion: pulse/v1', 'kind: Journey', 'metadata:', `  name: ${name}`];
const minimalSpec = ['spec:', '  start:', '    service: frontend', '    span: POST /api/checkout'];
const minimal = (name = 'checkout') => yaml(...header(name), ...minimalSpec);

function load(text: string, file = 'j.yaml'): JourneyLoadResult {
  return loadJourneyTexts([{ file, text }]);
}

/** The issues as `line:col: message` (one file). */
function problems(text: string): string[] {
  const r = load(text);
  if (!('issues' in r)) throw new Error('expected the journeys to be rejected');
  return r.issues.map((i) => `${i.line}:${i.col}: ${i.message}`);
}

function valid(result: JourneyLoadResult): JourneySnapshot {
  if ('issues' in result) throw new Error(`expected valid journeys, got:\n${result.issues.map(formatIssue).join('\n')}`);
  return result.snapshot;
}

const dirs: string[] = [];
function tmp(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-journeys-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the issue example (config/journeys/checkout.yaml)', () => {
  const snapshot = valid(loadJourneys(join(root, 'config/journeys/checkout.yaml')));
  const checkout = snapshot.byName.get('checkout')!;

  it('validates and compiles the start selector', () => {
    expect(snapshot.journeys.map((j) => j.name)).toEqual(['checkout']);
    expect(checkout.owner).toBe('team-payments');
    expect(checkout.runbook).toBe('https://runbooks.example.com/checkout');
    const { start } = checkout;
    expect([start.service.kind, start.service.values]).toEqual(['exact', ['frontend']]);
    expect([start.span.kind, start.span.values]).toEqual(['exact', ['POST /api/checkout']]);
    expect(start.kind).toBe(SpanKind.SERVER);
    expect(start.where.map((c) => [c.key, c.source])).toEqual([['http.request.method', 'http.request.method == "POST"']]);
    expect(start.where[0]!.test('POST')).toBe(true);
    expect(start.where[0]!.test('GET')).toBe(false);
  });

  it('compiles the steps: required, max_calls, a regex span matcher', () => {
    const [charge, confirm] = checkout.steps;
    expect(charge).toMatchObject({ name: 'charge', index: 0, required: true, maxCalls: 1 });
    expect(charge!.selector.span.kind).toBe('exact');
    expect(confirm).toMatchObject({ name: 'confirm', index: 1, required: false, maxCalls: undefined });
    const span = confirm!.selector.span;
    expect([span.kind, span.source]).toEqual(['regex', '/^send (email|sms)$/']);
    expect(['send email', 'send sms'].map((n) => span.matches(n))).toEqual([true, true]);
    expect(['send fax', 'resend email', 'send email now'].map((n) => span.matches(n))).toEqual([false, false, false]);
    expect(confirm!.selector.kind).toBeUndefined();
  });

  it('keeps the sign-up welcome email (same service, same span name) out of the confirm step', () => {
    const confirm = checkout.steps[1]!;
    // What the demo shop (scripts/shop.mjs) sets on the notifier's spans of a checkout and of a sign-up.
    expect(confirm.selector.where.map((c) => [c.key, c.source])).toEqual([['notification.template', 'notification.template == "order_confirmation"']]);
    expect(['order_confirmation', 'welcome'].map((t) => confirm.selector.where[0]!.test(t))).toEqual([true, false]);
  });

  it('compiles success rules, segments and the objective', () => {
    expect(checkout.success.noErrors).toBe('journey');
    expect(checkout.success.maxDurationMs).toBe(2000);
    const [lt500] = checkout.success.where;
    expect(lt500!.source).toBe('http.response.status_code < 500');
    expect([lt500!.test(200n), lt500!.test(499.5), lt500!.test(500n), lt500!.test(503), lt500!.test(undefined)]).toEqual([true, true, false, false, false]);
    expect(checkout.segments).toEqual([
      { name: 'customer.tier', attribute: 'customer.tier' },
      { name: 'cloud.region', attribute: 'cloud.region' },
      { name: 'release', attribute: 'service.version' },
    ]);
    expect(checkout.objective).toEqual({ target: 0.995, windowMs: 28 * 86_400_000 });
    expect(checkout.source.line).toBe(6);
    expect(checkout.source.file).toMatch(/checkout\.yaml$/);
  });

  it('is frozen, and the snapshot indexes journeys by name', () => {
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(Object.isFrozen(checkout)).toBe(true);
    expect(Object.isFrozen(checkout.steps)).toBe(true);
    expect(() => (snapshot.byName as Map<string, unknown>).set('x', 1)).toThrow();
    expect(snapshot.generation).toBe(1);
  });
});

describe('defaults', () => {
  it('applies every default of an optional field', () => {
    const j = valid(load(minimal())).journeys[0]!;
    expect(j.description).toBe('');
    expect(j.steps).toEqual([]);
    expect(j.segments).toEqual([]);
    expect(j.success.noErrors).toBe('journey');
    expect(j.success.where).toEqual([]);
    expect(j.success.maxDurationMs).toBeUndefined();
    expect(j.objective).toEqual({ target: 0.99, windowMs: 28 * 86_400_000 });
    expect(j.start.kind).toBeUndefined();
  });

  it('accepts a step without service (any service), kind in any case, a fraction target, and alert rules', () => {
    const text = yaml(
      ...header('checkout'),
      ...minimalSpec,
      '    kind: SPAN_KIND_SERVER',
      '  steps:',
      '    - { name: charge, span: "charge *", kind: Client }',
      '  objective: { target: 0.95, window: 7d }',
      '  alerts:',
      '    repeat_interval: 1m',
    );
    const j = valid(load(text)).journeys[0]!;
    expect(j.start.kind).toBe(SpanKind.SERVER);
    expect(j.steps[0]!.selector.kind).toBe(SpanKind.CLIENT);
    expect(j.steps[0]!.selector.service.kind).toBe('any');
    expect(j.steps[0]!.selector.span.kind).toBe('glob');
    expect(j.objective).toEqual({ target: 0.95, windowMs: 7 * 86_400_000 });
    expect((j.spec as { spec: { alerts: { repeat_interval: unknown } } }).spec.alerts.repeat_interval).toBe(60_000);
  });
});

describe('loader error positions', () => {
  it('reports YAML syntax errors at their position, and still checks the other documents', () => {
    const text = yaml('apiVersion: pulse/v1', 'kind: [Journey', '---', ...header('x'), 'spec:', '  strat: {}');
    const out = problems(text);
    expect(out[0]).toMatch(/^3:1: YAML syntax: /);
    expect(out).toContain('9:3: spec: unknown key "strat" (did you mean "start"?)');
  });

  it('reports a duplicate key as a YAML error at the second occurrence', () => {
    expect(problems(yaml(...header('x'), ...minimalSpec, '    span: again'))).toEqual(['9:5: YAML syntax: the key "span" appears twice in this map (first on line 8); keep one']);
    // A tab-indented key is reported as the tab, not also as a duplicate of an outer key of the same name.
    expect(problems(yaml(...header('x'), ...minimalSpec, '\tkind: server'))).toEqual(['9:1: YAML syntax: Tabs are not allowed as indentation']);
  });

  it('reports unknown keys at the key, with a did-you-mean', () => {
    const text = yaml(...header('x'), '  owner: me', '  descripton: d', ...minimalSpec, '  sucess: {}');
    expect(problems(text)).toEqual([
      '6:3: metadata: unknown key "descripton" (did you mean "description"?)',
      '11:3: spec: unknown key "sucess" (did you mean "success"?)',
    ]);
  });

  it('reports an unknown condition operator inside where with the operators allowed', () => {
    const text = yaml(...header('x'), ...minimalSpec, '    where:', '      http.route: { regx: "^/a" }');
    expect(problems(text)).toEqual(['10:21: spec.start.where.http.route: unknown key "regx" (did you mean "regex"?)']);
  });

  it('reports wrong types at the value', () => {
    const text = yaml(...header('x'), ...minimalSpec, '  steps:', '    - name: charge', '      span: charge', '      required: yes', '      max_calls: 1.5');
    expect(problems(text)).toEqual([
      '12:17: spec.steps[0].required: expected true or false, got the string "yes"',
      '13:18: spec.steps[0].max_calls: expected a whole number, got the number 1.5',
    ]);
  });

  it('reports missing required fields at the map that lacks them', () => {
    expect(problems(yaml('apiVersion: pulse/v1', 'kind: Journey', 'metadata: {}', 'spec:', '  start:', '    service: a'))).toEqual([
      '3:1: metadata: "name" is required (a string)',
      '5:3: spec.start: "span" is required (a string or a list or a map of keys to values)',
    ]);
  });

  it('reports a wrong apiVersion, kind and names', () => {
    const text = yaml('apiVersion: v1', 'kind: journey', 'metadata:', '  name: Check_Out', 'spec:', '  start: { span: a }', '  steps: [{ name: "Charge Card", span: b }]');
    expect(problems(text)).toEqual([
      '1:13: apiVersion: must be "pulse/v1", got the string "v1"',
      '2:7: kind: must be "Journey", got the string "journey" (did you mean "Journey"?)',
      '4:9: metadata.name: must use lowercase letters, digits and "-" (starting with a letter or digit), like "checkout"',
      '7:19: spec.steps[0].name: must use lowercase letters, digits, "_" and "-", like "charge" or "send_email"',
    ]);
  });

  it('reports bad durations, percentages and kinds with what to write', () => {
    const text = yaml(
      ...header('x'),
      ...minimalSpec,
      '    kind: sever',
      '  success:',
      '    max_duration: 2 seconds',
      '  objective:',
      '    target: 100%',
      '    window: 0d',
    );
    expect(problems(text)).toEqual([
      '9:11: spec.start.kind: must be one of server, client, internal, producer, consumer, got "sever" (did you mean "server"?)',
      '11:19: spec.success.max_duration: "2 seconds" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h',
      '13:13: spec.objective.target: 100% leaves no error budget: with a 100% objective every single failed attempt breaks it; use a target below 100%, like 99.9%',
      '14:13: spec.objective.window: must be longer than 0',
    ]);
    const more = (target: string) => problems(yaml(...header('x'), ...minimalSpec, `  objective: { target: ${target} }`))[0];
    expect(more('99.5')).toBe('9:24: spec.objective.target: 99.5 is read as a fraction and is above 1: write 99.5% (or 0.995)');
    expect(more('0%')).toBe('9:24: spec.objective.target: must be above 0%, like 99.5%');
    expect(more('1')).toMatch(/^9:24: spec\.objective\.target: 1 leaves no error budget/);
    expect(more('high')).toBe('9:24: spec.objective.target: "high" is not a percentage: write it like 99.5% or 0.995');
    expect(more('"0.995"')).toBe('9:24: spec.objective.target: "0.995" is text (it is quoted): write 0.995 without quotes, or a percentage like 99.5%');
    expect(more('150')).toBe('9:24: spec.objective.target: 150 is above 100%: a target is the share of attempts that must succeed, like 99.9%');
    expect(more('150%')).toBe('9:24: spec.objective.target: 150% is above 100%: a target is the share of attempts that must succeed, like 99.9%');
  });

  it('reports an invalid regex and an unsafe regex at the pattern', () => {
    const text = yaml(
      ...header('x'),
      ...minimalSpec,
      '  steps:',
      '    - { name: a, span: { regex: "(" } }',
      '    - { name: b, span: { regex: "^(a+)+$" } }',
      '    - name: c',
      '      span: c',
      '      where:',
      '        user.agent: { regex: "(?!bot)" }',
    );
    expect(problems(text)).toEqual([
      '10:33: spec.steps[0].span.regex: not a valid regular expression: Unterminated group',
      expect.stringMatching(/^11:33: spec\.steps\[1\]\.span\.regex: "\(a\+\)\+" repeats a group containing the repetition "a\+"/),
      expect.stringMatching(/^15:30: spec\.steps\[2\]\.where\.user\.agent\.regex: lookarounds like "\(\?!bot\)" are not supported/),
    ]);
  });

  it('reports repeated and reserved step names at the second name, with the first one’s line', () => {
    const text = yaml(...header('x'), ...minimalSpec, '  steps:', '    - { name: charge, span: a }', '    - { name: start, span: b }', '    - { name: charge, span: c }');
    expect(problems(text)).toEqual([
      '11:15: spec.steps[1].name: "start" is reserved for the start span (journey.step = start); give the step another name',
      '12:15: spec.steps[2].name: step name "charge" is already used by spec.steps[0] (line 10); step names must be unique within a journey',
    ]);
  });

  it('reports steps that can never match: identical to the start, identical to or covered by an earlier step', () => {
    const text = yaml(
      ...header('x'),
      ...minimalSpec,
      '  steps:',
      '    - { name: same_as_start, service: frontend, span: POST /api/checkout }',
      '    - { name: any_charge, service: payments, span: "charge *" }',
      '    - { name: card, service: [payments], span: "charge card", where: { amount: { gt: 0 } } }',
      '    - { name: other, service: payments, span: "refund" }',
    );
    expect(problems(text)).toEqual([
      '10:7: spec.steps[0]: step "same_as_start" selects exactly the same spans as the start selector (line 6), which wins: a span takes the first role it matches (start, then steps in order), so this step can never match; make its selector more specific (service, span, kind or where) or remove it',
      '12:7: spec.steps[2]: step "card" selects only spans that step "any_charge" also selects (line 11), which wins: a span takes the first role it matches (start, then steps in order), so this step can never match; make its selector more specific (service, span, kind or where) or remove it',
    ]);
  });

  it('does not report a step that is more general than an earlier one (the earlier one is just more specific)', () => {
    const text = yaml(...header('x'), ...minimalSpec, '  steps:', '    - { name: card, service: payments, span: "charge card" }', '    - { name: any, service: payments, span: "charge *" }');
    expect('issues' in load(text)).toBe(false);
  });

  it('reports conditions that can never hold, and required with max_calls 0', () => {
    const text = yaml(
      ...header('x'),
      ...minimalSpec,
      '    where:',
      '      http.response.status_code: { gt: 10, lt: 5 }',
      '      tier: { in: [] }',
      '  steps:',
      '    - name: charge',
      '      span: charge',
      '      required: true',
      '      max_calls: 0',
      '      where:',
      '        currency: { eq: EUR, in: [USD, GBP] }',
      '  success:',
      '    where:',
      '      code: { exists: false, gte: 200 }',
    );
    expect(problems(text)).toEqual([
      '10:34: spec.start.where.http.response.status_code: "http.response.status_code > 10 and http.response.status_code < 5" never holds: no number is in that range; the start selector can never match',
      '11:19: spec.start.where.tier.in: "in: []" lists no values, so this condition never holds; the start selector can never match',
      '16:18: spec.steps[0].max_calls: "required: true" and "max_calls: 0" contradict each other: every attempt would either miss step "charge" or call it too often; remove one of them',
      '18:19: spec.steps[0].where.currency: "eq: "EUR"" and the other operators of this condition never hold together; step "charge" can never match',
      '21:23: spec.success.where.code.exists: "exists: false" never holds together with "gte", which needs a value; every attempt would fail this rule',
    ]);
  });

  it('reports a condition without operators and a repeated segment dimension', () => {
    const text = yaml(...header('x'), ...minimalSpec, '    where: { a: {} }', '  segments: [customer.tier, { name: customer.tier, attribute: tier }]');
    expect(problems(text)).toEqual([
      '9:17: spec.start.where.a: a condition needs at least one operator: eq, in, not, exists, regex, glob, lt, lte, gt, gte',
      '10:29: spec.segments[1]: the segment dimension "customer.tier" is already defined by spec.segments[0] (line 10); give one of them another name with { name: …, attribute: … }',
    ]);
  });

  it('collects every problem of every document and file in one pass', () => {
    const a = yaml(...header('a'), 'spec: {}', '---', ...header('b'), ...minimalSpec, '  success: { no_errors: jorney }');
    const b = yaml(...header('c'), 'spec:', '  start: { span: 1 }');
    const r = loadJourneyTexts([
      { file: 'a.yaml', text: a },
      { file: 'b.yaml', text: b },
    ]);
    expect('issues' in r && r.issues.map(formatIssue)).toEqual([
      'a.yaml:5:1: spec: "start" is required (a map of keys to values)',
      'a.yaml:15:25: spec.success.no_errors: must be one of "journey", "start", "off", got the string "jorney" (did you mean "journey"?)',
      'b.yaml:6:18: spec.start.span: expected a string or a list or a map of keys to values, got the number 1',
    ]);
  });
});

describe('several journeys', () => {
  it('loads several documents of one file, skipping empty ones', () => {
    const text = `---\n${minimal('a')}---\n# nothing here\n---\n${minimal('b')}---\n`;
    const s = valid(load(text));
    expect(s.journeys.map((j) => [j.name, j.source.line])).toEqual([
      ['a', 2],
      ['b', 13],
    ]);
  });

  it('reports a duplicate journey name in the same file at the second, with the first one’s line', () => {
    expect(problems(minimal('a') + '---\n' + minimal('a'))).toEqual([
      '13:9: metadata.name: journey "a" is already defined at line 4; journey names must be unique across all journey files',
    ]);
  });

  it('reports a duplicate journey name across files with the first one’s file:line:col', () => {
    const dir = tmp({ 'a.yaml': minimal('checkout'), 'b.yml': minimal('checkout') });
    const r = loadJourneys(dir);
    expect('issues' in r && r.issues.map(formatIssue)).toEqual([
      `${join(dir, 'b.yml')}:4:9: metadata.name: journey "checkout" is already defined at ${join(dir, 'a.yaml')}:4:9; journey names must be unique across all journey files`,
    ]);
  });
});

describe('directories', () => {
  it('reads *.yaml and *.yml in name order, not hidden files, other extensions or subdirectories', () => {
    const dir = tmp({ 'b.yml': minimal('b'), 'a.yaml': minimal('a'), '.hidden.yaml': 'not: [yaml', 'README.md': '# hi', 'c.yaml.bak': 'x: [' });
    mkdirSync(join(dir, 'sub.yaml'));
    writeFileSync(join(dir, 'sub.yaml', 'x.yaml'), minimal('x'));
    const r = loadJourneys(dir);
    expect(valid(r).journeys.map((j) => j.name)).toEqual(['a', 'b']);
    expect('files' in r && r.files).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yml')]);
  });

  it('reads a single file given directly, whatever its name', () => {
    const dir = tmp({ 'journey.txt': minimal('a') });
    expect(valid(loadJourneys(join(dir, 'journey.txt'))).journeys.map((j) => j.name)).toEqual(['a']);
  });

  it('follows the Kubernetes ConfigMap layout (symlinks into ..data) and skips dangling symlinks', () => {
    const dir = tmp();
    mkdirSync(join(dir, '..2026_01_01_00_00_00.1'));
    writeFileSync(join(dir, '..2026_01_01_00_00_00.1', 'checkout.yaml'), minimal('checkout'));
    symlinkSync('..2026_01_01_00_00_00.1', join(dir, '..data'));
    symlinkSync('..data/checkout.yaml', join(dir, 'checkout.yaml'));
    symlinkSync('..data/removed.yaml', join(dir, 'removed.yaml'));
    const r = loadJourneys(dir);
    expect(valid(r).journeys.map((j) => j.name)).toEqual(['checkout']);
    expect('files' in r && r.files).toEqual([join(dir, 'checkout.yaml')]);
  });

  it('is an error when the directory holds no journey file, or the files no journey', () => {
    const empty = tmp({ 'notes.md': 'x' });
    const r = loadJourneys(empty);
    expect('issues' in r && r.issues.map(formatIssue)).toEqual([
      `${empty}: no journey files (*.yaml, *.yml) in ${empty}: a journeys directory needs at least one journey`,
    ]);
    const comments = tmp({ 'a.yaml': '# nothing yet\n' });
    const r2 = loadJourneys(comments);
    expect('issues' in r2 && r2.issues.map(formatIssue)).toEqual([`${join(comments, 'a.yaml')}:1:1: ${NO_DOCUMENT}`]);
    expect(r2.warnings).toEqual([]);
  });

  // Emptied or cut short by an editor or a deploy: on a hot reload that must not silently drop the file's journeys.
  for (const [what, text] of [
    ['empty', ''],
    ['only blank lines', '\n\n'],
    ['only comments', '# checkout: moved to a new file\n# (see the wiki)\n'],
    ['only ---', '---\n'],
    ['only empty documents', '---\n# nothing\n---\n...\n'],
  ] as const) {
    it(`is an error at file:1:1 when a file holds no journey document (${what}), even next to good files`, () => {
      const dir = tmp({ 'a.yaml': minimal('signup'), 'checkout.yaml': text });
      const r = loadJourneys(dir);
      expect('issues' in r && r.issues.map(formatIssue)).toEqual([`${join(dir, 'checkout.yaml')}:1:1: ${NO_DOCUMENT}`]);
    });
  }

  it('is an error when the path does not exist', () => {
    const r = loadJourneys('/nonexistent/journeys');
    expect('issues' in r && r.issues.map(formatIssue)).toEqual(['/nonexistent/journeys: cannot read the journeys directory: no such file or directory']);
  });

  it('gives equal digests for equal definitions and different ones after an edit', () => {
    const dir = tmp({ 'a.yaml': minimal('a') });
    const first = loadJourneys(dir);
    const again = loadJourneys(dir);
    writeFileSync(join(dir, 'a.yaml'), minimal('b'));
    const edited = loadJourneys(dir);
    const digest = (r: JourneyLoadResult) => ('digest' in r ? r.digest : '');
    expect(digest(first)).toBe(digest(again));
    expect(digest(first)).not.toBe(digest(edited));
  });
});

describe('example files (config/journeys)', () => {
  it('all load together, without warnings', () => {
    const r = loadJourneys(join(root, 'config/journeys'));
    expect(valid(r).journeys.map((j) => j.name)).toEqual(['checkout', 'search', 'signup']);
    expect(r.warnings).toEqual([]);
  });

  for (const file of ['checkout.yaml', 'search.yaml', 'signup.yaml']) {
    it(`${file} points editors at the journey schema`, () => {
      const first = readFileSync(join(root, 'config/journeys', file), 'utf8').split('\n')[0];
      expect(first).toBe('# yaml-language-server: $schema=../../schemas/journey.schema.json');
    });
  }
});
