import { describe, expect, it } from 'vitest';
import { checkRegex } from '../../../../src/journeys/definition/regex-safety.js';

/** Patterns people write for service and span names and attribute values: all accepted. */
const ACCEPTED: Array<[pattern: string, texts: Array<[string, boolean]>]> = [
  ['^send (email|sms)$', [['send email', true], ['send sms', true], ['send fax', false]]],
  ['^POST /api/v[0-9]+/checkout$', [['POST /api/v2/checkout', true], ['POST /api/vx/checkout', false]]],
  ['.*checkout.*', [['POST /api/checkout/confirm', true], ['POST /api/cart', false]]],
  ['checkout', [['my-checkout-svc', true]]],
  ['^(GET|POST) /api/(v[0-9]+/)?orders$', [['GET /api/orders', true], ['POST /api/v1/orders', true], ['PUT /api/orders', false]]],
  ['^[a-z]+(-[a-z]+)*$', [['payments-eu-west', true], ['payments--x', false]]],
  ['([a-z0-9-]+\\.)+[a-z]+', [['api.example.com', true]]],
  ['^(/[a-z0-9]+)+$', [['/api/v1/items', true], ['/api//items', false]]],
  ['^(\\d+,)*\\d+$', [['1,22,333', true], ['1,,2', false]]],
  ['(GET|POST)+', [['GETPOST', true]]],
  ['^(ab|ac)+$', [['abacab', true], ['abc', false]]],
  ['^(x+y+)+$', [['xxyxyy', true], ['xxyx', false]]],
  ['^/api/.*/items/.*$', [['/api/v1/items/42', true]]],
  ['^foo.*bar.*baz', [['foo-bar-baz', true]]],
  ['\\p{L}+', [['München', true], ['123', false]]],
  ['^\\d{3}$', [['200', true], ['2000', false]]],
  ['(?<version>v\\d+)', [['v2', true]]],
  // Optional parts that begin with a separator the repetitions cannot match do not chain.
  ['^\\d+(\\.\\d+)?(\\.\\d+)?(\\.\\d+)?-rc$', [['1.2.3-rc', true], ['1..2-rc', false]]],
  ['^(\\d+\\.){3}\\d+$', [['10.0.0.1', true], ['10.0.0', false]]],
  ['^(a+b)?(a+b)?(a+b)?c', [['aababc', true], ['aaa', false]]],
  ['^v?(\\d+)(\\.\\d+)?(-rc\\d+)?$', [['v1.2-rc3', true], ['v1.2-rc', false]]],
];

/** Patterns that can backtrack catastrophically or are not supported, with a part of the reason given. */
const REJECTED: Array<[pattern: string, reason: RegExp]> = [
  ['(a+)+', /repeats a group containing the repetition "a\+", and nothing separates the passes/],
  ['(a*)*', /repeats a group containing the repetition "a\*"/],
  ['^(a+)+$', /catastrophic backtracking/],
  ['(a|aa)+', /branches "a" and "aa" can match the same text/],
  ['(a|a)*', /branches "a" and "a" can match the same text/],
  ['(\\w|\\d)+', /branches "\\w" and "\\d" can match the same text/],
  ['(.*a){10}', /"\(\.\*a\)\{10\}" repeats a group containing the repetition "\.\*"/],
  ['(\\w+\\s?)+$', /repetition "\\w\+"/],
  ['(x+x+)+y', /repetition "x\+"/],
  ['(b?(a|aa))+', /branches "a" and "aa"/],
  ['([a-z]+/?)+$', /repetition "\[a-z\]\+"/],
  ['^(.*),(.*),(.*)$', /"\.\*", "\.\*" and "\.\*" follow each other and can match the same characters.*cube/],
  ['foo.*bar.*baz', /not anchored with \^.*glob/],
  ['\\d+\\d+\\d+', /can then match the same characters/],
  // An optional part (?, {0,1}, an empty branch) is both taken and skipped: its repetition still chains.
  ['^(\\d+)?\\.?(\\d+)?\\.?(\\d+)?\\.?(\\d+)?-rc$', /^"\(\\d\+\)\?", "\(\\d\+\)\?" and "\(\\d\+\)\?" follow each other and can match the same characters \(optional parts and choices count: the engine tries every way through them\): .*cube.*"\\d\+\(\\\.\\d\+\)\?" rather than/],
  ['^(.*)?(.*)?(.*)?(.*)?b', /^"\(\.\*\)\?", "\(\.\*\)\?" and "\(\.\*\)\?" follow each other and can match the same characters \(optional parts/],
  ['^(a+)?(a+)?(a+)?(a+)?b', /^"\(a\+\)\?", "\(a\+\)\?" and "\(a\+\)\?" follow each other/],
  ['^([a-z0-9-]+)?([a-z0-9]+)?([a-z-]+)?/orders$', /^"\(\[a-z0-9-\]\+\)\?", "\(\[a-z0-9\]\+\)\?" and "\(\[a-z-\]\+\)\?" follow each other/],
  ['^(a+){0,1}(a+){0,1}(a+){0,1}b', /^"\(a\+\)\{0,1\}", "\(a\+\)\{0,1\}" and "\(a\+\)\{0,1\}" follow each other/],
  ['^(a+|)(a+|)(a+|)b', /^"\(a\+\|\)", "\(a\+\|\)" and "\(a\+\|\)" follow each other/],
  ['^(?:|\\d+)x?(?:|\\d+)x?(?:|\\d+)$', /^"\(\?:\|\\d\+\)", .* follow each other/],
  ['(\\d+)?(\\d+)?x', /not anchored with \^.*"\(\\d\+\)\?" and "\(\\d\+\)\?" can then match the same characters \(optional parts/],
  // A repetition that can match nothing separates nothing; a choice is followed through each branch.
  ['^a*,*a*,*a*x', /^"a\*", "a\*" and "a\*" follow each other and can match the same characters \(optional parts/],
  ['^(a+|b)(a+|b)(a+|b)c', /^"\(a\+\|b\)", "\(a\+\|b\)" and "\(a\+\|b\)" follow each other/],
  ['^.*(a|b).*(c|d).*x$', /^"\.\*", "\.\*" and "\.\*" follow each other and can match the same characters: /],
  ['(a)\\1', /backreferences like "\\1" are not supported/],
  ['(?<n>a)\\k<n>', /backreferences like "\\k<n>"/],
  ['a(?=b)', /lookarounds like "\(\?=b\)" are not supported/],
  ['(?<!x)y', /lookarounds/],
  ['(?!bot).*', /lookarounds.*not: \{ regex/],
  ['a{5000}', /allows more than 1000 passes/],
  ['x'.repeat(1001), /the regex is 1001 characters long; the limit is 1000/],
  ['(', /not a valid regular expression: Unterminated group/],
  ['\\:', /not a valid regular expression: Invalid escape \(patterns are compiled in Unicode mode/],
  ['[z-a]', /not a valid regular expression/],
];

describe('checkRegex', () => {
  for (const [pattern, texts] of ACCEPTED) {
    it(`accepts ${pattern} and it matches as written`, () => {
      const r = checkRegex(pattern);
      if (!r.ok) throw new Error(r.message);
      for (const [text, expected] of texts) expect([text, r.regex.test(text)]).toEqual([text, expected]);
      expect(r.regex.flags).toBe('u');
    });
  }

  for (const [pattern, reason] of REJECTED) {
    it(`rejects ${pattern.length > 40 ? `${pattern.slice(0, 20)}… (${pattern.length} chars)` : pattern}`, () => {
      const r = checkRegex(pattern);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(reason);
    });
  }

  it('says how to rewrite a nested repetition', () => {
    const r = checkRegex('(a+)+');
    expect(!r.ok && r.message).toContain('e.g. "([^/]+/)+" rather than "(.+/)+"');
  });

  it('drops a redundant leading and trailing .* of an unanchored pattern, and keeps anchored ones', () => {
    const compiled = (p: string) => {
      const r = checkRegex(p);
      return r.ok ? [r.compiledSource, r.matchesEverything] : r.message;
    };
    expect(compiled('.*checkout.*')).toEqual(['checkout', false]);
    expect(compiled('.*?checkout')).toEqual(['checkout', false]);
    expect(compiled('.*,.*,.*')).toEqual([',.*,', false]);
    expect(compiled('^.*checkout.*$')).toEqual(['^.*checkout.*$', false]);
    expect(compiled('.+checkout')).toEqual(['.+checkout', false]);
    expect(compiled('.*')).toEqual(['', true]);
    expect(compiled('a|.*b')).toEqual(['a|.*b', false]);
  });
});

describe('checkRegex: optional parts and choices between repetitions', () => {
  // Every way of writing "maybe this repetition" — the engine tries each both with and without it.
  const optionally = (x: string) => [`(${x})?`, `(?:${x}){0,1}`, `(${x}|)`, `(|${x})`, `(${x}|z)`, `(${x})?z?`];
  const repetitions = ['\\d+', 'a+', '.*', '[a-z0-9-]+', '\\w*'];

  for (const rep of repetitions) {
    for (const opt of optionally(rep)) {
      const pattern = `^${opt}\\.?${opt}\\.?${opt}\\.?${opt}-rc$`;
      it(`rejects ${pattern}`, () => {
        const r = checkRegex(pattern);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.message).toMatch(/follow each other and can match the same characters \(optional parts and choices count/);
      });
    }
  }

  // The same shapes are fine when each optional part starts or ends with a separator its repetition cannot match.
  for (const rep of repetitions.filter((r) => r !== '.*')) {
    for (const opt of [...optionally(`,${rep}`), ...optionally(`${rep},`)]) {
      const pattern = `^${rep}${opt}${opt}${opt}$`;
      it(`accepts ${pattern}`, () => {
        const r = checkRegex(pattern);
        if (!r.ok) throw new Error(r.message);
      });
    }
  }
});
