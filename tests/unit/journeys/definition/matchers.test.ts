import { describe, expect, it } from 'vitest';
import { MAX_REGEX_INPUT, compileNamePattern, covers, type NamePattern } from '../../../../src/journeys/definition/matchers.js';

function check(pattern: NamePattern | undefined, yes: string[], no: string[]) {
  const m = compileNamePattern(pattern);
  for (const name of yes) expect([name, m.matches(name)]).toEqual([name, true]);
  for (const name of no) expect([name, m.matches(name)]).toEqual([name, false]);
  return m;
}

describe('name matchers', () => {
  it('exact: one value, indexed', () => {
    const m = check('POST /api/checkout', ['POST /api/checkout'], ['post /api/checkout', 'POST /api/checkout/', '']);
    expect([m.kind, m.values, m.source]).toEqual(['exact', ['POST /api/checkout'], 'POST /api/checkout']);
  });

  it('set: a list of exact names, deduplicated, indexed', () => {
    const m = check(['frontend', 'web', 'frontend'], ['frontend', 'web'], ['mobile', 'front']);
    expect([m.kind, m.values, m.source]).toEqual(['set', ['frontend', 'web'], '[frontend, web, frontend]']);
    expect(compileNamePattern(['only']).kind).toBe('exact');
  });

  it('glob: prefix, suffix and contains shapes', () => {
    expect(check('POST /api/*', ['POST /api/', 'POST /api/checkout'], ['GET /api/x', 'POST /ap']).kind).toBe('glob');
    check('*checkout', ['checkout', 'POST /api/checkout'], ['checkout/x']);
    check('*checkout*', ['checkout', 'a checkout b'], ['check out']);
  });

  it('glob: ? is one character, several stars backtrack correctly', () => {
    check('ch?ckout', ['checkout', 'chackout'], ['chckout', 'cheeckout']);
    check('*a*b*c', ['abc', 'xaxbxc', 'aabbcc', 'abcabc'], ['acb', 'ab', 'abcx']);
    check('a*b?d*', ['abcd', 'axxbcdyy', 'abbcd'], ['abd', 'bcd']);
    check('**x**', ['x', 'axb'], ['y']);
  });

  it('glob: \\* \\? and \\\\ are literal characters; a glob with only escapes is exact', () => {
    const m = check('a\\*b', ['a*b'], ['axb', 'ab']);
    expect([m.kind, m.values]).toEqual(['exact', ['a*b']]);
    check('what\\?*', ['what?', 'what? now'], ['whatx']);
    check('c:\\\\*', ['c:\\temp'], ['c:temp']);
  });

  it('glob: a long hostile name is decided quickly (linear-time matcher)', () => {
    const m = compileNamePattern('*a*a*a*a*a*a*a*a*b');
    expect(m.matches('a'.repeat(5000))).toBe(false);
    expect(m.matches(`${'a'.repeat(5000)}b`)).toBe(true);
  });

  it('a list with globs is checked one by one', () => {
    const m = check(['POST /api/*', 'GET /health'], ['POST /api/x', 'GET /health'], ['GET /api/x']);
    expect([m.kind, m.values]).toEqual(['glob', []]);
  });

  it('regex: searched anywhere unless anchored; texts over the limit never match', () => {
    const m = check({ regex: '^send (email|sms)$' }, ['send email', 'send sms'], ['send fax', 'resend email']);
    expect([m.kind, m.source, m.values]).toEqual(['regex', '/^send (email|sms)$/', []]);
    const unanchored = check({ regex: 'check' }, ['checkout', 'precheck'], ['chek']);
    expect(unanchored.matches(`${'x'.repeat(MAX_REGEX_INPUT)}check`)).toBe(false);
    expect(unanchored.matches(`${'x'.repeat(MAX_REGEX_INPUT - 5)}check`)).toBe(true);
  });

  it('any: omitted, "*", a list containing "*", or a regex matching everything', () => {
    for (const p of [undefined, '*', ['a', '*'], { regex: '.*' }] as const) {
      const m = check(p as NamePattern | undefined, ['', 'anything'], []);
      expect(m.kind).toBe('any');
    }
  });

  it('matchers are frozen', () => {
    expect(Object.isFrozen(compileNamePattern('a'))).toBe(true);
    expect(Object.isFrozen(compileNamePattern({ regex: 'a' }))).toBe(true);
  });
});

describe('covers (used to find steps that can never match)', () => {
  const c = (outer: NamePattern | undefined, inner: NamePattern | undefined) => covers(compileNamePattern(outer), compileNamePattern(inner));
  it('knows when every name of the inner matcher is matched by the outer one', () => {
    expect(c(undefined, 'x')).toBe(true);
    expect(c(['a', 'b'], 'a')).toBe(true);
    expect(c(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(c('charge *', ['charge card', 'charge wallet'])).toBe(true);
    expect(c({ regex: '^charge' }, 'charge card')).toBe(true);
    expect(c('a*', 'a*')).toBe(true);
  });
  it('says no when it cannot be sure', () => {
    expect(c('a', ['a', 'b'])).toBe(false);
    expect(c('a*', 'ab*')).toBe(false);
    expect(c('x', undefined)).toBe(false);
    expect(c({ regex: 'a' }, { regex: 'ab' })).toBe(false);
  });
});
