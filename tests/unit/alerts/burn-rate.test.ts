import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../src/alerts/lifecycle.js';
import { FAST_ALERTS, Sim, T0, batchOf, journeyWith } from './support.js';

const checkout = () => journeyWith({ alerts: FAST_ALERTS });
/** One page pair only, to look at one rule at a time. */
const pageOnly = () => journeyWith({ alerts: 'burn_rates:\n  - { severity: page, long: 60s, short: 10s, factor: 14.4 }\nheartbeat: false\nrepeat_interval: 1m' });

describe('burn-rate alerts', () => {
  it('computes burn = error rate / (1 − target) over both windows, in seconds', () => {
    const sim = new Sim([pageOnly()]);
    // 20% failures against a 99.5% target: burn rate 40 in every window
    const events = sim.run(60, () => batchOf(10, 2));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({ kind: 'burn_rate', severity: 'page', status: 'firing', repeat: false, journey: 'checkout', segment: undefined });
    expect(e.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'burn_rate' }));
    expect(e.burnRates.map((w) => [w.window, w.windowMs, w.threshold])).toEqual([
      ['1m', 60_000, 14.4],
      ['10s', 10_000, 14.4],
    ]);
    expect(e.burnRates[0]!.burnRate).toBeCloseTo(40, 5);
    expect(e.burnRates[1]!.burnRate).toBeCloseTo(40, 5);
    expect(e.failures / e.attempts).toBeCloseTo(0.2, 5);
    expect(e.objective).toEqual({ target: 0.995, windowMs: 28 * 86_400_000 });
    expect(e.errorBudgetRemaining).toBeCloseTo(1 - 40, 5);
    expect(e.owner).toBe('team-payments');
    expect(e.runbook).toBe('https://runbooks.example.com/checkout');
    expect(e.summary).toMatch(/^checkout is burning its error budget 40\.0× too fast over 10s/);
  });

  it('judges a pair only once the data covers its short window: a few early failures after a start raise no ticket', () => {
    // Default rules (28d objective): the slowest ticket pair reads 2.8d / 5h36m at 1×. Twelve minutes after a start,
    // 4 failures of 720 attempts (0.56% against a 0.5% budget) were "burning" both of its windows.
    const sim = new Sim([journeyWith({ alerts: 'heartbeat: false\nrelease: false' })]);
    const early = sim.run(3600, (t) => batchOf(1, t - T0 <= 700_000 && (t - T0) % 180_000 === 100_000 ? 1 : 0));
    expect(early).toEqual([]);
    // A real outage after a start still pages once the page pair's short window (4m40s) is covered.
    const fresh = new Sim([journeyWith({ alerts: 'heartbeat: false\nrelease: false' })]);
    const outage = fresh.run(600, () => batchOf(10, 3)).filter((e) => e.status === 'firing' && !e.repeat);
    expect(outage.map((e) => [e.kind, e.severity])).toEqual([['burn_rate', 'page']]);
    expect(outage[0]!.eventTimeMs - T0).toBeGreaterThanOrEqual(280_000);
    expect(outage[0]!.eventTimeMs - T0).toBeLessThanOrEqual(280_000 + 30_000 + 10_000);
  });

  it('fires only when BOTH windows burn: a short burst (short window only) stays quiet', () => {
    const sim = new Sim([checkout()]);
    sim.run(300, () => batchOf(10, 0));
    // 3 s of total failure: the 10 s window burns at 60×, the 1 m window only at ~5/0.5 = 10× < 14.4
    sim.run(3, () => batchOf(10, 10));
    expect(sim.run(120, () => batchOf(10, 0))).toEqual([]);
  });

  it('needs alerts.min_failures (default 3) failures in the short window: two failures at low traffic stay quiet', () => {
    // 1 attempt a second against 99.5%: the page threshold is 14.4 × 0.5% = 7.2% in both windows.
    const run = (alertsYaml: string, failures: number) => {
      const sim = new Sim([journeyWith({ alerts: alertsYaml })], {}, 3000, 1000);
      sim.run(60, () => batchOf(1, 0));
      let n = 0;
      return sim.run(30, () => batchOf(1, ++n <= failures ? 1 : 0));
    };
    const page = 'burn_rates:\n  - { severity: page, long: 20s, short: 10s, factor: 14.4 }\nheartbeat: false';
    // 2 of 10 (short) and 2 of 20 (long): both burn 20-40× > 14.4, but two failures are under the default floor.
    expect(run(page, 2)).toEqual([]);
    expect(run(`${page}\nmin_failures: 2`, 2).filter((e) => e.status === 'firing')).toHaveLength(1);
    expect(run(page, 3).filter((e) => e.status === 'firing')).toHaveLength(1);
  });

  it('resolves when the short window recovers even though the long window still burns', () => {
    const sim = new Sim([pageOnly()]);
    sim.run(60, () => batchOf(10, 0));
    const firing = sim.run(60, () => batchOf(10, 3));
    expect(firing.map((e) => [e.kind, e.status])).toEqual([['burn_rate', 'firing']]);
    const after = sim.run(40, () => batchOf(10, 0));
    expect(after.map((e) => e.status)).toEqual(['resolved']);
    // resolved while the 1-minute window still held most of the incident
    const resolvedAt = after[0]!.eventTimeMs;
    expect(resolvedAt - (T0 + 120_000)).toBeLessThan(40_000);
  });

  it('collapses page and ticket pairs of one journey into one alert with the highest severity', () => {
    const sim = new Sim([checkout()]);
    // 3% failures: above the ticket threshold (3 × 0.5% = 1.5%), below the page threshold (7.2%)
    const ticket = sim.run(360, () => batchOf(100, 3));
    expect(ticket.filter((e) => !e.repeat).map((e) => [e.kind, e.severity])).toEqual([['burn_rate', 'ticket']]);
    expect(ticket.every((e) => e.fingerprint === ticket[0]!.fingerprint)).toBe(true);
    // escalates to 20%: the same alert, sent at once (not waiting for repeat_interval) as page
    const page = sim.run(30, () => batchOf(100, 20));
    const escalation = page.find((e) => e.severity === 'page')!;
    expect(escalation).toMatchObject({ repeat: true, fingerprint: ticket[0]!.fingerprint, startsAtMs: ticket[0]!.startsAtMs });
    expect(page.filter((e) => !e.repeat)).toEqual([]);
    expect(escalation.eventTimeMs - page[0]!.eventTimeMs).toBeLessThan(60_000);
    // both pairs firing: the page pair's windows come first, then the ticket pair's
    expect(escalation.burnRates.map((w) => w.window)).toEqual(['1m', '10s', '5m', '30s']);
  });

  it('stays silent over 10 minutes of steady traffic with 0.2% background errors against 99.5%', async () => {
    const { seeded } = await import('./support.js');
    const random = seeded(42);
    const sim = new Sim([
      journeyWith({
        alerts: FAST_ALERTS.replace('heartbeat: false', 'heartbeat: { baseline: auto, per: 10s, min_history: 1m, baseline_window: 2m }'),
      }),
    ]);
    const tiers = ['free', 'free', 'free', 'free', 'free', 'free', 'pro', 'pro', 'enterprise', 'enterprise'];
    let failures = 0;
    const events = sim.run(600, () =>
      Array.from({ length: 30 }, (_, i) => {
        const failed = random() < 0.002;
        if (failed) failures++;
        return {
          failed,
          segments: { 'customer.tier': tiers[i % tiers.length]! },
          services: [
            ['frontend', '5.0.1'],
            ['payments', '2.4.0'],
          ] as const,
          failingStep: 'charge',
        };
      }),
    );
    expect(failures).toBeGreaterThan(10); // the background errors really happened
    expect(events).toEqual([]);
  });
});

describe('evaluation in steps', () => {
  it('yields once per journey and ends with the same events a one-piece evaluation gives', () => {
    const journeys = () => [journeyWith({ alerts: FAST_ALERTS }), journeyWith({ name: 'signup', alerts: FAST_ALERTS }), journeyWith({ name: 'search', alerts: FAST_ALERTS })];
    const failing = (t: number) => [...batchOf(10, 3), ...batchOf(10, 3, { journey: 'signup' }), ...batchOf(10, 0, { journey: 'search' })].map((a) => ({ ...a, at: t }));
    const whole = new Sim(journeys(), {}, 3000, 1_000_000);
    const stepped = new Sim(journeys(), {}, 3000, 1_000_000);
    whole.run(60, failing);
    stepped.run(60, failing);
    const expected = whole.engine.evaluate(whole.now);
    const steps = stepped.engine.evaluation(stepped.now);
    let yields = 0;
    let step = steps.next();
    while (step.done !== true) {
      yields++;
      step = steps.next();
    }
    expect(yields).toBe(3);
    expect(expected.filter((e) => e.status === 'firing').map((e) => e.journey).sort()).toEqual(['checkout', 'signup']);
    // Event ids and exemplar trace ids come from counters shared by the two simulations; the rest must match.
    const strip = (events: typeof expected) => events.map(({ id: _id, exemplarTraceIds, ...rest }) => ({ ...rest, exemplars: exemplarTraceIds.length }));
    expect(strip(step.value)).toEqual(strip(expected));
  });
});

