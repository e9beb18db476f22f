import { describe, expect, it } from 'vitest';
import { KvList, type AnyValue } from '../../../../src/core/model.js';
import { compileCondition, unsatisfiable } from '../../../../src/journeys/definition/conditions.js';
import type { ConditionSpec } from '../../../../src/journeys/definition/schema.js';

const k = 'attr';

function check(spec: ConditionSpec, holds: Array<AnyValue | undefined>, fails: Array<AnyValue | undefined>) {
  const c = compileCondition(k, spec);
  for (const v of holds) expect([v, c.test(v)]).toEqual([v, true]);
  for (const v of fails) expect([v, c.test(v)]).toEqual([v, false]);
  return c;
}

const bytes = new Uint8Array([50, 48, 48]);
const list: AnyValue[] = ['200'];
const map = new KvList([{ key: 'a', value: '200' }]);

describe('conditions', () => {
  it('string shorthand and eq: strings only, exactly', () => {
    const c = check('POST', ['POST'], ['post', 'POST ', undefined, null, true, 1n, bytes, list, map]);
    expect(c.source).toBe('attr == "POST"');
    check({ eq: 'POST' }, ['POST'], ['GET']);
    check('200', ['200'], [200n, 200]);
  });

  it('number shorthand: int (bigint), double and decimal text, compared exactly', () => {
    const c = check(200, [200n, 200, 200.0, '200', '200.0', '+200', '2e2'], [201n, 200.5, '200x', ' 200', '0xc8', '', 'two hundred', true, undefined, null, bytes, list, map]);
    expect(c.source).toBe('attr == 200');
    check(1.5, [1.5, '1.5'], [1n, 2n]);
    // Beyond 2^53 an int compares exactly, not through a rounded double.
    check(9007199254740992, [9007199254740992n, 9007199254740992], [9007199254740993n]);
    check(-1, [-1n, -1, '-1'], [1n]);
  });

  it('boolean shorthand: booleans only', () => {
    check(true, [true], ['true', 1n, 1, false, undefined]);
    check({ eq: false }, [false], ['false', 0n, true]);
  });

  it('in: strings, numbers (any numeric form) and booleans', () => {
    const c = check({ in: ['EUR', 'USD', 200, 201.5, false] }, ['EUR', 'USD', 200n, 200, '200', 201.5, '201.5', false], ['GBP', 201n, 202, true, undefined, null, list]);
    expect(c.source).toBe('attr in ["EUR", "USD", 200, 201.5, false]');
    check({ in: ['200'] }, ['200'], [200n]);
  });

  it('not: inverts, and so holds for an absent attribute', () => {
    const c = check({ not: 'POST' }, ['GET', undefined, 1n], ['POST']);
    expect(c.source).toBe('not (attr == "POST")');
    check({ not: { in: [500, 503] } }, [200n, undefined], [500n, '503']);
    check({ not: { not: 'x' } }, ['x'], ['y', undefined]);
  });

  it('exists: true for any value (even empty or structured), false only when absent', () => {
    const c = check({ exists: true }, ['', 0n, false, null, bytes, list, map], [undefined]);
    expect(c.source).toBe('attr exists');
    const absent = check({ exists: false }, [], ['', null, 0n]);
    expect(absent.test(undefined)).toBe(true);
    expect(absent.source).toBe('attr does not exist');
  });

  it('regex: string values only, searched unless anchored', () => {
    const c = check({ regex: '^(gold|platinum)$' }, ['gold', 'platinum'], ['silver', 'goldish', undefined, 1n, list]);
    expect(c.source).toBe('attr =~ /^(gold|platinum)$/');
    check({ regex: 'bot' }, ['Googlebot/2.1', 'bot'], ['Mozilla']);
    check({ regex: '.*' }, ['', 'x'], [undefined, 5n]);
  });

  it('glob: string values only', () => {
    const c = check({ glob: '*checkout*' }, ['/api/checkout/1'], ['/api/cart', 1n, undefined]);
    expect(c.source).toBe('attr like "*checkout*"');
  });

  it('lt/lte/gt/gte: int, double and decimal text; never NaN, other text or other types', () => {
    const c = check({ lt: 500 }, [200n, 499n, 499.99, -1n, '404', '4.99e2'], [500n, 500, 503, '500', 'abc', NaN, true, undefined, null, bytes, list]);
    expect(c.source).toBe('attr < 500');
    check({ lte: 500 }, [500n, 500], [501n]);
    check({ gt: 0.5 }, [1n, 0.51], [0n, 0.5]);
    check({ gte: 200, lt: 300 }, [200n, 299n, 299.9, '250'], [199n, 300n, 300]);
    expect(compileCondition(k, { gte: 200, lt: 300 }).source).toBe('attr >= 200 and attr < 300');
    // Int64 values beyond 2^53 compare exactly.
    check({ gt: 9007199254740992 }, [9007199254740993n], [9007199254740992n]);
    // The tighter of gt/gte (and lt/lte) wins.
    check({ gt: 5, gte: 5 }, [6n], [5n]);
    check({ lt: 5, lte: 6 }, [4n], [5n, 6n]);
  });

  it('several operators in one map must all hold', () => {
    const c = check({ exists: true, not: { in: [0, 1] }, gte: 0 }, [2n, '7'], [0n, 1n, -1n, undefined]);
    expect(c.source).toBe('attr exists and attr >= 0 and not (attr in [0, 1])');
    check({ regex: '^v', not: 'v0' }, ['v1', 'v2'], ['v0', 'x']);
  });

  it('test() never throws, whatever the value', () => {
    const specs: ConditionSpec[] = [1, 'a', true, { in: [1, 'a', true] }, { regex: 'a' }, { glob: 'a*' }, { gt: 1, lt: 9 }, { not: { exists: true } }];
    const values: Array<AnyValue | undefined> = [undefined, null, '', 'a', 0n, -1n, 1.5, NaN, Infinity, true, bytes, list, map];
    for (const s of specs) for (const v of values) expect(() => compileCondition(k, s).test(v)).not.toThrow();
  });

  it('compiled conditions are frozen', () => {
    expect(Object.isFrozen(compileCondition(k, 1))).toBe(true);
  });
});

describe('unsatisfiable conditions', () => {
  const never = (spec: ConditionSpec) => unsatisfiable(k, spec);

  it('finds conditions that can never hold', () => {
    expect(never({ in: [] })).toEqual({ path: ['in'], message: '"in: []" lists no values, so this condition never holds' });
    expect(never({ gt: 10, lt: 5 })).toEqual({ path: [], message: '"attr > 10 and attr < 5" never holds: no number is in that range' });
    expect(never({ gte: 5, lt: 5 })?.message).toMatch(/never holds/);
    expect(never({ gt: 5, lte: 5 })?.message).toMatch(/never holds/);
    expect(never({ exists: false, eq: 'x' })).toEqual({ path: ['exists'], message: '"exists: false" never holds together with "eq", which needs a value' });
    expect(never({ eq: 'EUR', in: ['USD'] })?.message).toBe('"eq: "EUR"" and the other operators of this condition never hold together');
    expect(never({ eq: 600, lt: 500 })?.message).toMatch(/never hold together/);
    expect(never({ eq: 'abc', gt: 1 })?.message).toMatch(/never hold together/);
    expect(never({ eq: 1, not: 1 })?.message).toMatch(/never hold together/);
    expect(never({ eq: 'x', regex: '^y' })?.message).toMatch(/never hold together/);
    expect(never({ in: [600, 700], lt: 500 })).toEqual({ path: ['in'], message: 'none of the values in "in" satisfies the other operators of this condition, so it never holds' });
  });

  it('accepts conditions that can hold', () => {
    for (const spec of [
      'x',
      { gte: 5, lte: 5 },
      { gt: 1, lt: 2 },
      { eq: 200, lt: 500 },
      { eq: '200', lt: 500 },
      { eq: 200, in: ['200'] },
      { in: [200, 600], lt: 500 },
      { exists: false },
      { not: { in: [] } },
      { eq: 'yes', regex: '^y' },
    ] satisfies ConditionSpec[]) {
      expect([spec, never(spec)]).toEqual([spec, undefined]);
    }
  });
});
