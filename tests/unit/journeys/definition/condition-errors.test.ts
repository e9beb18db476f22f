import { describe, expect, it } from 'vitest';
import { loadJourneyTexts } from '../../../../src/journeys/definition/load.js';

/** The issues of a journey whose start span has these `where` lines, as `line:col: message`. */
function whereProblems(...conditions: string[]): string[] {
  const text = ['apiVersion: pulse/v1', 'kind: Journey', 'metadata: { name: checkout }', 'spec:', '  start:', '    span: x', '    where:', ...conditions.map((c) => `      ${c}`), ''].join('\n');
  const r = loadJourneyTexts([{ file: 'j.yaml', text }]);
  if (!('issues' in r)) throw new Error('expected the journey to be rejected');
  return r.issues.map((i) => `${i.line}:${i.col}: ${i.message}`);
}

describe('a wrongly typed operator is named, not the whole condition', () => {
  it('points at the operator and says what it takes', () => {
    expect(whereProblems('a: { in: GET }', 'b: { exists: "yes" }', 'c: { lt: "500" }')).toEqual([
      '8:16: spec.start.where.a.in: expected a list, got the string "GET"',
      '9:20: spec.start.where.b.exists: expected true or false, got the string "yes"',
      '10:16: spec.start.where.c.lt: expected a number, got the string "500"',
    ]);
  });

  it('a list where a value goes suggests `in`', () => {
    expect(whereProblems('http.request.method: [GET, POST]')).toEqual([
      '8:28: spec.start.where.http.request.method: expected a string or a number or true or false or a map of keys to values, got a list of 2; for one of several values write { in: [GET, POST] }',
    ]);
  });

  it('a value of no accepted type still lists the types', () => {
    expect(whereProblems('h: ~')).toEqual(['8:10: spec.start.where.h: expected a string or a number or true or false or a map of keys to values, got an empty value']);
  });
});

describe('messages for other first-time mistakes', () => {
  const issues = (text: string) => {
    const r = loadJourneyTexts([{ file: 'j.yaml', text }]);
    if (!('issues' in r)) throw new Error('expected the journey to be rejected');
    return r.issues.map((i) => `${i.line}:${i.col}: ${i.message}`);
  };

  it('a missing apiVersion says what to write', () => {
    expect(issues('kind: Journey\nmetadata: { name: x }\nspec:\n  start: { span: x }\n')).toEqual(['1:1: "apiVersion" is required (write apiVersion: pulse/v1)']);
  });

  it('a quote left open is shown on the last line of the file, not past it', () => {
    const text = 'apiVersion: pulse/v1\nkind: Journey\nmetadata: { name: x }\nspec:\n  start: { span: "x }\n\n';
    for (const p of issues(text)) expect(p).toMatch(/^5:\d+: YAML syntax: /);
  });

  it('a YAML merge key and an unknown top-level key say what they are', () => {
    expect(issues('apiVersion: pulse/v1\nkind: Journey\nmetadata: { name: x }\nx-sel: &sel { service: a }\nspec:\n  start: { <<: *sel, span: x }\n')).toEqual([
      '4:1: unknown top-level key "x-sel"; allowed keys: apiVersion, kind, metadata, spec',
      '6:12: spec.start: YAML merge keys (<<) are not supported: write the keys out (an alias of a whole value, *name, works)',
    ]);
  });
});
