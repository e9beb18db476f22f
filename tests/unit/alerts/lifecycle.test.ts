import { describe, expect, it } from 'vitest';
import { AlertLifecycle, RESOLVE_AFTER, fingerprintOf, type AlertDetails } from '../../../src/alerts/lifecycle.js';
import { Sim, batchOf, journeyWith } from './support.js';

function details(severity: 'page' | 'ticket' = 'page'): AlertDetails {
  return {
    fingerprint: fingerprintOf({ journey: 'checkout', kind: 'burn_rate' }),
    journey: 'checkout',
    kind: 'burn_rate',
    severity,
    segment: undefined,
    objective: { target: 0.995, windowMs: 1000 },
    errorBudgetRemaining: 0.5,
    burnRates: [],
    attempts: 10,
    failures: 5,
    suspects: [],
    release: undefined,
    exemplarTraceIds: [],
    owner: '',
    runbook: '',
    summary: 'x',
  };
}

describe('alert lifecycle', () => {
  it('fingerprints are stable and differ by journey, kind, segment and service', () => {
    const a = fingerprintOf({ journey: 'checkout', kind: 'segment', segment: { key: 'customer.tier', value: 'enterprise' } });
    expect(a).toBe(fingerprintOf({ journey: 'checkout', kind: 'segment', segment: { key: 'customer.tier', value: 'enterprise' } }));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    const others = [
      fingerprintOf({ journey: 'signup', kind: 'segment', segment: { key: 'customer.tier', value: 'enterprise' } }),
      fingerprintOf({ journey: 'checkout', kind: 'segment', segment: { key: 'customer.tier', value: 'pro' } }),
      fingerprintOf({ journey: 'checkout', kind: 'burn_rate' }),
      fingerprintOf({ journey: 'checkout', kind: 'release_regression', service: 'payments' }),
      fingerprintOf({ journey: 'checkout', kind: 'release_regression', service: 'notifier' }),
    ];
    expect(new Set([a, ...others]).size).toBe(6);
  });

  it('firing → repeated every repeat_interval → resolved after the hysteresis, one fingerprint, unique ids', () => {
    const lc = new AlertLifecycle();
    const repeat = () => 60_000;
    const events = [
      ...lc.apply([{ firing: true, details: details() }], 0, repeat),
      ...lc.apply([{ firing: true, details: details() }], 30_000, repeat), // too early to repeat
      ...lc.apply([{ firing: true, details: details() }], 60_000, repeat),
      ...lc.apply([{ firing: false, details: details() }], 70_000, repeat), // one miss: still firing
      ...lc.apply([{ firing: true, details: details() }], 80_000, repeat), // back: no new alert
      ...lc.apply([], 90_000, repeat),
      ...lc.apply([], 100_000, repeat),
      ...lc.apply([], 110_000, repeat),
    ];
    expect(RESOLVE_AFTER).toBe(2);
    expect(events.map((e) => [e.status, e.repeat, e.eventTimeMs])).toEqual([
      ['firing', false, 0],
      ['firing', true, 60_000],
      ['resolved', false, 100_000],
    ]);
    expect(new Set(events.map((e) => e.fingerprint)).size).toBe(1);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
    for (const e of events) expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.map((e) => [e.startsAtMs, e.endsAtMs])).toEqual([
      [0, undefined],
      [0, undefined],
      [0, 100_000],
    ]);
    expect(lc.has(events[0]!.fingerprint)).toBe(false);
  });

  it('keep_firing_for: stays open until its condition has not held for that long, and a return within it is no new alert', () => {
    const lc = new AlertLifecycle();
    const repeat = () => 60_000;
    const hold = () => 10_000;
    const at = (firing: boolean | undefined, nowMs: number) =>
      lc.apply(firing === undefined ? [] : [{ firing, details: details() }], nowMs, repeat, hold);
    const events = [
      ...at(true, 0),
      ...at(false, 1000),
      ...at(false, 2000), // two misses: would resolve without the hold
      ...at(undefined, 5000),
      ...at(true, 8000), // back within the hold: the same alert goes on
      ...at(false, 9000),
      ...at(false, 17_000), // 9 s since it last held
      ...at(false, 18_000), // 10 s: resolves
      ...at(false, 19_000),
    ];
    expect(events.map((e) => [e.status, e.repeat, e.eventTimeMs])).toEqual([
      ['firing', false, 0],
      ['resolved', false, 18_000],
    ]);
  });

  it('a rise to page is sent at once; a page keeps its severity until resolved, however its pairs flap', () => {
    const lc = new AlertLifecycle();
    const repeat = () => 60_000;
    const at = (severity: 'page' | 'ticket' | undefined, nowMs: number) =>
      lc.apply(severity === undefined ? [] : [{ firing: true, details: details(severity) }], nowMs, repeat);
    const events = [
      ...at('ticket', 0),
      ...at('page', 10_000), // the fast pair fires too: page now, not at the next repeat
      ...at('ticket', 20_000), // only the slow pair holds: still the page incident, nothing to send
      ...at('page', 30_000), // the fast pair again: not a new escalation
      ...at('ticket', 40_000),
      ...at('ticket', 70_000), // repeat_interval since the escalation: a repeat, as a page
      ...at(undefined, 80_000),
      ...at(undefined, 90_000),
    ];
    expect(events.map((e) => [e.status, e.repeat, e.severity, e.eventTimeMs])).toEqual([
      ['firing', false, 'ticket', 0],
      ['firing', true, 'page', 10_000],
      ['firing', true, 'page', 70_000],
      ['resolved', false, 'page', 90_000],
    ]);
  });

  it('a restored page stays a page when only its ticket pair holds', () => {
    const lc = new AlertLifecycle();
    const d = details('page');
    lc.restore([{ fingerprint: d.fingerprint, journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: 0, lastEventMs: 0 }], () => details('ticket'), () => 60_000);
    const events = [
      ...lc.apply([{ firing: true, details: details('ticket') }], 60_000, () => 60_000),
      ...lc.apply([], 70_000, () => 60_000),
      ...lc.apply([], 80_000, () => 60_000),
    ];
    expect(events.map((e) => [e.status, e.repeat, e.severity])).toEqual([
      ['firing', true, 'page'],
      ['resolved', false, 'page'],
    ]);
  });

  it('runs the whole lifecycle from traffic: firing, repeats at repeat_interval, resolved', () => {
    const sim = new Sim([journeyWith({ alerts: 'burn_rates:\n  - { severity: page, long: 60s, short: 10s, factor: 14.4 }\nheartbeat: false\nrepeat_interval: 30s' })]);
    sim.run(60, () => batchOf(10, 0));
    sim.run(120, () => batchOf(10, 5));
    sim.run(60, () => batchOf(10, 0));
    const e = sim.events;
    expect(e.map((x) => (x.status === 'resolved' ? 'resolved' : x.repeat ? 'repeat' : 'firing'))).toEqual(['firing', 'repeat', 'repeat', 'repeat', 'resolved']);
    for (let i = 1; i < 4; i++) expect(e[i]!.eventTimeMs - e[i - 1]!.eventTimeMs).toBe(30_000);
    expect(new Set(e.map((x) => x.fingerprint)).size).toBe(1);
    expect(new Set(e.map((x) => x.id)).size).toBe(e.length);
  });

  it('restored alerts continue as repeats instead of being announced again', () => {
    const lc = new AlertLifecycle();
    const d = details();
    lc.restore([{ fingerprint: d.fingerprint, journey: 'checkout', kind: 'burn_rate', severity: 'page', segment: undefined, startsAtMs: -500_000, lastEventMs: -20_000 }], () => d, () => 60_000);
    expect(lc.apply([{ firing: true, details: d }], 0, () => 60_000)).toEqual([]);
    expect(lc.apply([{ firing: true, details: d }], 40_000, () => 60_000)).toEqual([
      expect.objectContaining({ status: 'firing', repeat: true, startsAtMs: -500_000 }),
    ]);
  });
});
