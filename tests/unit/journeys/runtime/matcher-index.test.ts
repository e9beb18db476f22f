import { describe, expect, it } from 'vitest';
import { SpanKind } from '../../../../src/core/model.js';
import { MAX_MEMOISED_NAMES, MatcherIndex, START_ROLE, type Candidate } from '../../../../src/journeys/runtime/matcher-index.js';
import { checkoutJourney, journey, span, traceId } from './support.js';
import { toAttributes } from '../../../support/traces.js';

const T = traceId(1);

function matchOne(index: MatcherIndex, service: string, s: ReturnType<typeof span>, resource: Record<string, string> = {}) {
  const view = index.viewFor(service);
  if (!view) return [];
  const out: Candidate[] = [];
  const n = index.match(view, s, toAttributes(resource), out);
  return out.slice(0, n).map((c) => `${c.journey.name}:${c.stepName}`);
}

describe('matcher index', () => {
  it('matches exact service + exact span name, with kind and where checks', () => {
    const index = MatcherIndex.build([checkoutJourney()]);
    const ok = span({ trace: T, name: 'POST /api/checkout', kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST' } });
    expect(matchOne(index, 'frontend', ok)).toEqual(['checkout:start']);
    // Wrong kind, failing where, other service, other name: nothing.
    expect(matchOne(index, 'frontend', span({ trace: T, name: 'POST /api/checkout', kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST' } }))).toEqual([]);
    expect(matchOne(index, 'frontend', span({ trace: T, name: 'POST /api/checkout', kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET' } }))).toEqual([]);
    expect(matchOne(index, 'backend', ok)).toEqual([]);
    expect(matchOne(index, 'frontend', span({ trace: T, name: 'GET /', kind: SpanKind.SERVER }))).toEqual([]);
  });

  it('looks where conditions up on the span, then on its resource', () => {
    const j = journey({ name: 'eu', start: { service: 'api', span: 'x', where: { 'cloud.region': 'eu-west-1' } } });
    const index = MatcherIndex.build([j]);
    expect(matchOne(index, 'api', span({ trace: T, name: 'x' }), { 'cloud.region': 'eu-west-1' })).toEqual(['eu:start']);
    expect(matchOne(index, 'api', span({ trace: T, name: 'x' }), { 'cloud.region': 'us-east-1' })).toEqual([]);
    // The span's own attribute wins over the resource's.
    expect(matchOne(index, 'api', span({ trace: T, name: 'x', attributes: { 'cloud.region': 'us-east-1' } }), { 'cloud.region': 'eu-west-1' })).toEqual([]);
  });

  it('matches service lists, globs, regexes and any-service selectors', () => {
    const index = MatcherIndex.build([
      journey({ name: 'set', start: { service: ['a', 'b'], span: 'op' } }),
      journey({ name: 'glob-svc', start: { service: 'pay-*', span: 'charge' } }),
      journey({ name: 'regex-svc', start: { service: { regex: '^notif(ier|y)$' }, span: 'send' } }),
      journey({ name: 'any-svc', start: { span: 'GET /health*' } }),
      journey({ name: 'span-glob', start: { service: 'a', span: 'POST /api/*' } }),
      journey({ name: 'span-regex', start: { service: 'a', span: { regex: '^send (email|sms)$' } } }),
    ]);
    expect(matchOne(index, 'a', span({ trace: T, name: 'op' }))).toEqual(['set:start']);
    expect(matchOne(index, 'b', span({ trace: T, name: 'op' }))).toEqual(['set:start']);
    expect(matchOne(index, 'c', span({ trace: T, name: 'op' }))).toEqual([]);
    expect(matchOne(index, 'pay-eu', span({ trace: T, name: 'charge' }))).toEqual(['glob-svc:start']);
    expect(matchOne(index, 'payments', span({ trace: T, name: 'charge' }))).toEqual([]);
    expect(matchOne(index, 'notify', span({ trace: T, name: 'send' }))).toEqual(['regex-svc:start']);
    expect(matchOne(index, 'whatever', span({ trace: T, name: 'GET /healthz' }))).toEqual(['any-svc:start']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'POST /api/orders' }))).toEqual(['span-glob:start']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'send sms' }))).toEqual(['span-regex:start']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'send fax' }))).toEqual([]);
  });

  it('skips a whole service no selector can match', () => {
    const index = MatcherIndex.build([checkoutJourney()]);
    expect(index.viewFor('inventory')).toBeUndefined();
    expect(index.viewFor('frontend')).toBeDefined();
    expect(index.viewFor('payments')).toBeDefined();
  });

  it('gives one role per journey (start before steps) and reports every journey a span matches', () => {
    const index = MatcherIndex.build([
      journey({ name: 'b', start: { service: 'api', span: 'x' }, steps: [{ name: 'again', service: 'api', span: '*' }] }),
      journey({ name: 'a', start: { service: 'api', span: 'y' }, steps: [{ name: 'any-x', service: 'api', span: 'x' }] }),
    ]);
    const s = span({ trace: T, name: 'x' });
    expect(matchOne(index, 'api', s)).toEqual(['b:start', 'a:any-x']);
    expect(matchOne(index, 'api', span({ trace: T, name: 'y' }))).toEqual(['b:again', 'a:start']);
  });

  it('files steps with their index as role', () => {
    const index = MatcherIndex.build([checkoutJourney()]);
    const view = index.viewFor('notifier')!;
    const out: Candidate[] = [];
    expect(index.match(view, span({ trace: T, name: 'send sms' }), [], out)).toBe(1);
    expect(out[0]!.role).toBe(1);
    const start = index.viewFor('frontend')!;
    index.match(start, span({ trace: T, name: 'POST /api/checkout', kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST' } }), [], out);
    expect(out[0]!.role).toBe(START_ROLE);
  });

  it('memoises pattern results per span name, and stays correct once the memo budget is spent', () => {
    const index = MatcherIndex.build([journey({ name: 'api', start: { service: 'a', span: 'POST /api/*' }, steps: [{ name: 'x', service: 'a', span: 'exact' }] })]);
    expect(matchOne(index, 'a', span({ trace: T, name: 'POST /api/orders' }))).toEqual(['api:start']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'POST /api/orders' }))).toEqual(['api:start']);
    const view = index.viewFor('a')!;
    const out: Candidate[] = [];
    for (let i = 0; i < MAX_MEMOISED_NAMES + 10; i++) index.match(view, span({ trace: T, name: `GET /${i}`, spanId: 'x' }), [], out);
    expect(view.byName!.size).toBe(MAX_MEMOISED_NAMES);
    expect(matchOne(index, 'a', span({ trace: T, name: 'POST /api/never-seen' }))).toEqual(['api:start']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'exact' }))).toEqual(['api:x']);
    expect(matchOne(index, 'a', span({ trace: T, name: 'GET /never-seen' }))).toEqual([]);
  });

  it('with 50 journeys loaded still matches the right one and nothing for other names', () => {
    const journeys = Array.from({ length: 50 }, (_, i) =>
      journey({ name: `j${i}`, start: { service: 'frontend', span: `POST /api/op${i}` }, steps: [{ name: 's', service: `svc${i}`, span: 'work' }] }),
    );
    const index = MatcherIndex.build(journeys);
    expect(index.candidateCount).toBe(100);
    expect(matchOne(index, 'frontend', span({ trace: T, name: 'POST /api/op37' }))).toEqual(['j37:start']);
    expect(matchOne(index, 'svc12', span({ trace: T, name: 'work' }))).toEqual(['j12:s']);
    expect(matchOne(index, 'frontend', span({ trace: T, name: 'GET /' }))).toEqual([]);
    // The view of a service holds only what can match there: one exact-name map, no patterns.
    const view = index.viewFor('frontend')!;
    expect(view.patterns).toHaveLength(0);
    expect(view.exact.size).toBe(50);
  });
});
