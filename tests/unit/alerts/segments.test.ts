import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../src/alerts/lifecycle.js';
import type { AlertEvent } from '../../../src/alerts/model.js';
import { AttemptRing, analyseSuspects, describeSuspect, DEFAULT_SUSPECT_OPTIONS } from '../../../src/alerts/suspects.js';
import { FAST_ALERTS, Sim, T0, attemptRecord, journeyWith, poissonDraw, seeded, type SimAttempt } from './support.js';

/** Per second: 10 free, 5 pro, 3 enterprise; payments 2.4.0 and 2.5.0 alternate; `fails` decides failures. */
function tiered(fails: (tier: string, i: number) => boolean): SimAttempt[] {
  const out: SimAttempt[] = [];
  const tiers: Array<[string, number]> = [
    ['free', 10],
    ['pro', 5],
    ['enterprise', 3],
  ];
  let i = 0;
  for (const [tier, n] of tiers) {
    for (let k = 0; k < n; k++, i++) {
      const failed = fails(tier, i);
      out.push({
        failed,
        segments: { 'customer.tier': tier },
        services: [
          ['frontend', '5.0.1'],
          ['payments', i % 2 === 0 ? '2.4.0' : '2.5.0'],
        ],
        failingStep: 'charge',
      });
    }
  }
  return out;
}

describe('segment alerts', () => {
  it('a failing segment fires a segment alert naming it, with the segment ranked first among suspects', () => {
    const sim = new Sim([journeyWith({ alerts: FAST_ALERTS })]);
    sim.run(120, () => tiered(() => false));
    const events = sim.run(40, () => tiered((tier, i) => tier === 'enterprise' && i % 5 !== 0));
    const segment = events.filter((e) => e.kind === 'segment');
    expect(segment).toHaveLength(1);
    const e = segment[0]!;
    expect(e).toMatchObject({ status: 'firing', repeat: false, segment: { key: 'customer.tier', value: 'enterprise' } });
    expect(e.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'segment', segment: { key: 'customer.tier', value: 'enterprise' } }));
    expect(e.suspects[0]).toMatchObject({ dimension: 'customer.tier', value: 'enterprise', shareOfFailures: 1 });
    expect(e.suspects[0]!.lift).toBeGreaterThan(4);
    // payments versions are not over-represented (the segment fails on both); the failing step comes last
    expect(e.suspects.some((s) => s.dimension === 'service.version:payments')).toBe(false);
    expect(e.suspects.at(-1)!.dimension).toBe('failing_step');
    expect(e.summary).toMatch(/^checkout failing for customer\.tier=enterprise: \d+% of \d+ attempts over 10s vs 0% for the rest .*: customer\.tier=enterprise/);
    expect(e.exemplarTraceIds).toHaveLength(5);
    expect(e.exemplarTraceIds[0]).toMatch(/^[0-9a-f]{32}$/);
    // healthy segments never alert
    expect(events.some((x) => x.segment?.value === 'free' || x.segment?.value === 'pro')).toBe(false);
  });

  it('the attempt ring keeps the newest attempts only, and one shared dimension list per combination of values', () => {
    const ring = new AttemptRing(3);
    const add = (i: number, tier: string) =>
      ring.add(attemptRecord({ failed: i === 4, segments: { 'customer.tier': tier }, services: [['payments', '2.4.0'], ['payments', '2.4.0']], failingStep: 'charge' }, T0 + i));
    for (let i = 0; i < 5; i++) add(i, i === 3 ? 'pro' : 'free');
    expect(ring.size).toBe(3);
    const slots = [...ring.window(T0, T0 + 10)];
    expect(slots.map((s) => ring.failedAt(s))).toEqual([true, false, false]); // newest first: attempts 4, 3, 2
    expect(analyseSuspects(ring, T0, T0 + 10, DEFAULT_SUSPECT_OPTIONS)).toMatchObject({ attempts: 3, failures: 1 });
    expect(analyseSuspects(ring, T0 + 3, T0 + 4, DEFAULT_SUSPECT_OPTIONS)).toMatchObject({ attempts: 1, failures: 0 });
    const [four, three, two] = slots.map((s) => ring.dimsAt(s));
    // A service seen twice counts once; the failing step is a dimension only of the failed attempt.
    expect(two).toEqual(['customer.tier\u0000free', 'service\u0000payments', 'service.version:payments\u00002.4.0']);
    expect(four).toEqual([...two!, 'failing_step\u0000charge']);
    expect(three).not.toBe(two);
    add(5, 'free');
    expect(ring.dimsAt([...ring.window(T0 + 5, T0 + 6)][0]!)).toBe(two); // same values: the same list, not a copy
  });

  it('ranks by the failures a value accounts for: a bad release before a tiny tenant that fails entirely on it', () => {
    // payments 2.5.0 serves 500 of 1,000 attempts and 95 of the 100 failures; tenant acme, 19 attempts all on
    // 2.5.0, fails all of them. Ranked by lift × share of failures, acme (10 × 0.19 = 1.9) came before the
    // release (1.9 × 0.95 = 1.8): the on-call was sent to one customer instead of the rollout.
    const ring = new AttemptRing(10_000);
    for (let i = 0; i < 1000; i++) {
      const version = i < 500 ? '2.5.0' : '2.4.0';
      const failed = i < 95 || (i >= 500 && i < 505);
      const services: Array<[string, string]> = [
        ['frontend', '5.0.1'],
        ['payments', version],
      ];
      ring.add(attemptRecord({ failed, segments: { tenant: i < 19 ? 'acme' : `t${i % 40}` }, services, failingStep: 'charge' }, T0 + i));
    }
    const a = analyseSuspects(ring, T0, T0 + 10_000, DEFAULT_SUSPECT_OPTIONS);
    expect(a.suspects.slice(0, 2).map((x) => [x.dimension, x.value, x.failures])).toEqual([
      ['service.version:payments', '2.5.0', 95],
      ['tenant', 'acme', 19],
    ]);
  });

  it('a narrower value that explains a broader one ranks before it: the release inside the failing tier', () => {
    // The example of docs/alerts.md: enterprise 96 of 150 failing, payments 2.5.0 (only enterprise runs it) 88 of
    // 120. Enterprise accounts for more failures (excess 71 against 68) only because it also holds 8 others; the
    // release holds 92% of them, fails more often and is narrower: it is the cause to look at first.
    const ring = new AttemptRing(10_000);
    for (let i = 0; i < 600; i++) {
      const enterprise = i < 150;
      const version = i < 120 ? '2.5.0' : '2.4.0';
      const failed = i < 88 || (i >= 120 && i < 128) || (i >= 300 && i < 304);
      const services: Array<[string, string]> = [
        ['frontend', '5.0.1'],
        ['payments', version],
      ];
      ring.add(attemptRecord({ failed, segments: { 'customer.tier': enterprise ? 'enterprise' : 'free' }, services, failingStep: 'charge' }, T0 + i));
    }
    const a = analyseSuspects(ring, T0, T0 + 10_000, DEFAULT_SUSPECT_OPTIONS);
    expect(a.suspects.map((x) => `${x.dimension}=${x.value}`)).toEqual(['service.version:payments=2.5.0', 'customer.tier=enterprise', 'failing_step=charge']);
  });

  it('a bad release behind the failures is the first suspect: "payments 2.5.0"', () => {
    const ring = new AttemptRing(10_000);
    const tiers = ['free', 'pro', 'enterprise'];
    for (let i = 0; i < 1000; i++) {
      const version = i % 5 === 0 ? '2.5.0' : '2.4.0';
      const failed = version === '2.5.0' && i % 2 === 0;
      ring.add(
        attemptRecord(
          {
            failed,
            segments: { 'customer.tier': tiers[i % 3]! },
            services: [
              ['frontend', '5.0.1'],
              ['payments', version],
            ],
            failingStep: 'charge',
          },
          T0 + i,
        ),
      );
    }
    const a = analyseSuspects(ring, T0, T0 + 10_000, DEFAULT_SUSPECT_OPTIONS);
    expect(a).toMatchObject({ attempts: 1000, failures: 100 });
    expect(a.suspects[0]).toEqual({
      dimension: 'service.version:payments',
      value: '2.5.0',
      attempts: 200,
      failures: 100,
      failureRatio: 0.5,
      shareOfFailures: 1,
      lift: 5,
    });
    expect(describeSuspect(a.suspects[0]!)).toBe('payments 2.5.0');
    expect(a.suspects.map((s) => s.dimension)).not.toContain('service'); // every attempt has payments: lift 1
    expect(a.suspects.at(-1)).toMatchObject({ dimension: 'failing_step', value: 'charge' });
  });

  it('one failure in a trickle (below min_attempts) does not fire', () => {
    const sim = new Sim([journeyWith({ alerts: FAST_ALERTS })]);
    let n = 0;
    const events = sim.run(300, (t) => {
      const free: SimAttempt[] = Array.from({ length: 10 }, () => ({ failed: false, segments: { 'customer.tier': 'free' } }));
      // one enterprise attempt every 5 s; the one at 2 minutes fails
      if ((t - T0) % 5000 === 0) free.push({ failed: (t - T0) === 120_000 && ++n === 1, segments: { 'customer.tier': 'enterprise' } });
      return free;
    });
    expect(n).toBe(1);
    expect(events).toEqual([]);
  });

  it('one failure in a segment value with enough attempts does not fire either (alerts.min_failures, default 3)', () => {
    // A rare segment value (1 enterprise attempt a second: 5 in the 5 s window, min_attempts 5) next to 100 clean
    // free attempts a second. One enterprise failure burns both of its windows (20% and 5% against 0.1%).
    const journey = (extra: string) =>
      journeyWith({
        target: '99.9%',
        alerts: `burn_rates:\n  - { severity: page, long: 20s, short: 5s, factor: 14.4 }\nsegments: { min_attempts: 5 }\nheartbeat: false\nrelease: false${extra}`,
      });
    const traffic = (failOnce: boolean) => {
      let n = 0;
      return () => [
        ...Array.from({ length: 100 }, (): SimAttempt => ({ failed: false, segments: { 'customer.tier': 'free' } })),
        { failed: failOnce && ++n === 10, segments: { 'customer.tier': 'enterprise' } },
      ];
    };
    const run = (extra: string) => {
      const sim = new Sim([journey(extra)], {}, 3000, 1000);
      sim.run(60, traffic(false));
      return sim.run(30, traffic(true)).filter((e) => e.status === 'firing');
    };
    expect(run('')).toEqual([]);
    // Lowered to one failure, the same traffic stays quiet too: judged every evaluation, one failure in 5 attempts
    // is no evidence against ~500 clean ones (a z-test on one window called it significant).
    expect(run('\nmin_failures: 1')).toEqual([]);
  });

  it('a journey failing everywhere fires one burn-rate alert, not one per segment value (not significantly worse than the rest)', () => {
    const sim = new Sim([journeyWith({ alerts: FAST_ALERTS })]);
    sim.run(300, () => tiered(() => false));
    const events = sim.run(60, () => tiered((_tier, i) => i % 4 === 0));
    expect(events.filter((e) => !e.repeat).map((e) => e.kind)).toEqual(['burn_rate']);
  });

  describe('judged every evaluation, for every value (default rules, 50 tenants, 500 attempts a minute)', () => {
    const tenants = (seed: number, badFromMs: number, badRatio: number) => {
      const rand = seeded(seed);
      return (t: number): SimAttempt[] =>
        Array.from({ length: poissonDraw(rand, 500 / 60) }, () => {
          const v = Math.floor(rand() * 50);
          return { failed: rand() < (v === 0 && t >= badFromMs ? badRatio : 0.0045), segments: { tenant: `t${v}` } };
        });
    };
    const journey = () => journeyWith({ alerts: 'heartbeat: false\nrelease: false', segments: ['tenant'] });

    it('tenants all failing a little under the budget raise no segment alert in 12 hours', () => {
      // A z-test on one window, repeated every 10 s for each of 50 values, raised 14 tickets on 4 tenants here,
      // each resolving and firing again.
      const sim = new Sim([journey()]);
      const alerts = sim.run(12 * 3600, tenants(99, Infinity, 0)).filter((e) => e.status === 'firing');
      expect(alerts.map((e) => e.summary)).toEqual([]);
    });

    it('one tenant failing at 50 times the rate of the others is still ticketed within minutes', () => {
      const sim = new Sim([journey()]);
      const badFrom = T0 + 8 * 3_600_000;
      const traffic = tenants(99, badFrom, 0.225);
      sim.run(8 * 3600, traffic);
      const alerts = sim.run(3600, traffic).filter((e) => e.kind === 'segment' && e.status === 'firing' && !e.repeat);
      expect(alerts.map((e) => e.segment)).toEqual([{ key: 'tenant', value: 't0' }]);
      expect(alerts[0]!.eventTimeMs - badFrom).toBeLessThan(15 * 60_000);
    });
  });
});

describe('a segment incident on second-level windows (the alert scenario of scripts/scenarios.mjs, in process)', () => {
  // 40 checkouts a second, tiers 60/30/10 %, two regions, 0.2 % background failures; the scenario's rules. The
  // fault: 60 % of enterprise checkouts fail (the journey 6 %, under its 10 % threshold).
  const journey = (long = '20s') =>
    journeyWith({
      target: '99%',
      window: '1h',
      segments: ['customer.tier', 'cloud.region'],
      alerts: [
        'burn_rates:',
        `  - { severity: page, long: ${long}, short: 5s, factor: 10 }`,
        'segments: { min_attempts: 10 }',
        'heartbeat: false',
        'release: false',
        'repeat_interval: 3s',
      ].join('\n'),
    });
  const traffic = (seed: number, faulty: () => boolean, onlyIn?: string) => {
    const rand = seeded(seed);
    return (): SimAttempt[] =>
      Array.from({ length: 40 }, () => {
        const r = rand();
        const tier = r < 0.6 ? 'free' : r < 0.9 ? 'pro' : 'enterprise';
        const region = rand() < 0.5 ? 'eu-west-1' : 'us-east-1';
        const injected = faulty() && tier === 'enterprise' && (onlyIn === undefined || region === onlyIn) && rand() < 0.6;
        return { failed: injected || rand() < 0.002, segments: { 'customer.tier': tier, 'cloud.region': region } };
      });
  };

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`fires once within seconds, repeats while the fault lasts and resolves after it (seed ${seed})`, () => {
      // Long window 6 s: hardly more evidence than the short one, so this is about staying open.
      // ~12 failures of ~20 enterprise attempts in the 5 s window, against ~0.4 of 180 for the rest: judged on that
      // window alone against a day of looks, about one evaluation in ten falls short, and two in a row resolved
      // the alert in the middle of the fault; judged once while open, none does.
      const sim = new Sim([journey('6s')], {}, 3000, 1000);
      let fault = false;
      const t = traffic(seed, () => fault);
      expect(sim.run(60, t)).toEqual([]);
      fault = true;
      const during = sim.run(40, t);
      fault = false;
      const after = sim.run(30, t);
      const mine = (e: AlertEvent) => e.segment?.value === 'enterprise';
      const first = during.find((e) => e.status === 'firing');
      expect(first).toMatchObject({ kind: 'segment', repeat: false, segment: { key: 'customer.tier', value: 'enterprise' } });
      expect(first!.eventTimeMs - (T0 + 60_000)).toBeLessThan(20_000);
      // One alert for the whole fault: no resolve in between, and nothing else fires.
      expect(during.filter((e) => !mine(e)).map((e) => e.summary)).toEqual([]);
      expect(during.filter((e) => e.status === 'resolved')).toEqual([]);
      expect(during.filter((e) => e.repeat).length).toBeGreaterThanOrEqual(5);
      expect(after.filter((e) => e.status === 'resolved').map((e) => e.segment?.value)).toEqual(['enterprise']);
      expect(after.filter((e) => e.status === 'firing' && !e.repeat)).toEqual([]);
    });
  }

  it('keep_firing_for keeps that alert open through the dips of its 5 s window: one alert per fault', () => {
    // Only enterprise in us-east-1 fails (60 %), as in the integration scenario: ~20 enterprise attempts per 5 s
    // window, some windows with a failure or two fewer. Resolving after two evaluations without the condition, the
    // alert resolved and fired again mid-fault for most seeds (23 of 40 measured); held 10 s, for none.
    const flapped = (hold: string) => {
      let n = 0;
      for (let seed = 1; seed <= 12; seed++) {
        const held = journeyWith({
          target: '99%',
          window: '1h',
          segments: ['customer.tier', 'cloud.region'],
          alerts: ['burn_rates:', '  - { severity: page, long: 20s, short: 5s, factor: 10 }', 'segments: { min_attempts: 10 }', 'heartbeat: false', 'release: false', 'repeat_interval: 3s', `keep_firing_for: ${hold}`].join('\n'),
        });
        const sim = new Sim([held], {}, 3000, 1000);
        let fault = false;
        const t = traffic(seed, () => fault, 'us-east-1');
        sim.run(60, t);
        fault = true;
        const during = sim.run(60, t);
        fault = false;
        const after = sim.run(40, t);
        const mine = (e: AlertEvent) => e.segment?.value === 'enterprise';
        expect(during.some((e) => e.status === 'firing' && mine(e))).toBe(true);
        if (during.some((e) => e.status === 'resolved' && mine(e))) n++;
        // Still resolves once the fault is over.
        expect(after.filter((e) => e.status === 'resolved' && mine(e))).toHaveLength(1);
      }
      return n;
    };
    expect(flapped('10s')).toBe(0);
    expect(flapped('0s')).toBeGreaterThan(3);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`a fault too small for the 5 s window alone fires from the 20 s one (seed ${seed})`, () => {
      // Only enterprise in us-east-1 fails: ~6 failures of ~20 enterprise attempts in the 5 s window, which a day
      // of looks at that window cannot tell from chance. The 20 s window holds four times as many.
      const sim = new Sim([journey()], {}, 3000, 1000);
      let fault = false;
      const t = traffic(seed, () => fault, 'us-east-1');
      sim.run(60, t);
      fault = true;
      const first = sim.run(40, t).find((e) => e.status === 'firing' && e.segment?.value === 'enterprise');
      expect(first?.eventTimeMs ?? Infinity).toBeLessThan(T0 + 60_000 + 20_000);
    });
  }
});
