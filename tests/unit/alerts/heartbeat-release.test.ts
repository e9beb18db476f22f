import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../src/alerts/lifecycle.js';
import { Sim, T0, batchOf, journeyWith, poissonDraw, seeded, type SimAttempt } from './support.js';

const PAGE = 'burn_rates:\n  - { severity: page, long: 60s, short: 10s, factor: 14.4 }';

describe('heartbeat alerts', () => {
  it('floor: fires when successes per interval fall under min_successes, even without a single error, and resolves when they return', () => {
    const sim = new Sim([journeyWith({ alerts: `${PAGE}\nheartbeat: { min_successes: 10, per: 10s }\nrelease: false` })]);
    expect(sim.run(120, () => batchOf(5, 0))).toEqual([]);
    const flat = sim.run(40, () => []);
    expect(flat).toHaveLength(1);
    expect(flat[0]).toMatchObject({ kind: 'heartbeat', severity: 'page', status: 'firing', failures: 0, burnRates: [] });
    expect(flat[0]!.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'heartbeat' }));
    expect(flat[0]!.summary).toBe('checkout stopped happening: 0 successes in the last 10s (floor 10)');
    // detected within per + row delay + one evaluation interval of the stop
    expect(flat[0]!.eventTimeMs - (T0 + 120_000)).toBeLessThanOrEqual(10_000 + 3000 + 10_000 + 10_000);
    const back = sim.run(40, () => batchOf(5, 0));
    expect(back.map((e) => e.status)).toEqual(['resolved']);
  });

  it('does not read attempts Pulse abandoned (its own overload, a restart) as a silence, and names them when it fires anyway', () => {
    const sim = new Sim([journeyWith({ alerts: `${PAGE}\nheartbeat: { min_successes: 10, per: 10s }\nrelease: false` })]);
    expect(sim.run(120, () => batchOf(5, 0))).toEqual([]);
    // no decided attempt for 40 s, but Pulse abandoned 5 a second: the journey did not stop, Pulse could not see it
    expect(sim.run(40, () => [], () => 5)).toEqual([]);
    // fewer than the floor, even counting the abandoned ones as possible successes: fires, and says so
    const low = sim.run(40, () => batchOf(0, 0), (t) => (Math.floor(t / 1000) % 4 === 0 ? 1 : 0));
    expect(low).toHaveLength(1);
    expect(low[0]!.summary).toMatch(/^checkout stopped happening: 0 successes in the last 10s \(floor 10\); [23] more attempts that Pulse could not judge \(abandoned\)$/);
  });

  it('baseline: stays firing through an outage longer than the baseline window, and resolves when traffic is back', () => {
    const alerts = `${PAGE}\nheartbeat: { baseline: auto, per: 10s, min_history: 2m, baseline_window: 2m }\nrelease: false`;
    const sim = new Sim([journeyWith({ alerts })]);
    expect(sim.run(180, () => batchOf(10, 0))).toEqual([]);
    // Stopped for 7 minutes: the 2-minute window before now holds nothing after the first two; the alert must
    // not take that for the usual rate.
    const down = sim.run(420, () => []);
    // fired once, then repeated (repeat_interval 5m): never resolved while down
    expect(down.map((e) => [e.status, e.repeat])).toEqual([
      ['firing', false],
      ['firing', true],
    ]);
    const back = sim.run(60, () => batchOf(10, 0));
    expect(back.map((e) => e.status)).toEqual(['resolved']);
  });

  it('baseline: fires when successes drop far under the recent rate, but not before min_history', () => {
    const alerts = `${PAGE}\nheartbeat: { baseline: auto, per: 10s, min_history: 2m, baseline_window: 2m }\nrelease: false`;
    // traffic stops after 30 s: too little history to judge before 2 minutes
    const early = new Sim([journeyWith({ alerts })]);
    early.run(30, () => batchOf(10, 0));
    const quiet = early.run(100, () => []);
    expect(quiet).toEqual([]);

    const sim = new Sim([journeyWith({ alerts })]);
    expect(sim.run(180, () => batchOf(10, 0))).toEqual([]);
    // traffic falls to 1 per second (10% of the baseline): no error anywhere, but a money moment stopped happening
    const drop = sim.run(30, () => batchOf(1, 0));
    expect(drop).toHaveLength(1);
    expect(drop[0]).toMatchObject({ kind: 'heartbeat', status: 'firing' });
    expect(drop[0]!.summary).toMatch(/^checkout is happening far less than usual: 10 successes in the last 10s \(baseline (9\d|100)(\.\d)?\)$/);
    // a mild dip (80% of the baseline) is not a heartbeat alert
    const sim2 = new Sim([journeyWith({ alerts })]);
    sim2.run(180, () => batchOf(10, 0));
    expect(sim2.run(60, () => batchOf(8, 0))).toEqual([]);
  });
});

describe('baseline heartbeat on Poisson traffic (default settings)', () => {
  const DEFAULTS = 'heartbeat: { baseline: auto }\nrelease: false';
  /** Successes arriving at random, `perMinute` on average, scaled by `level(t)`. */
  const poissonTraffic = (seed: number, perMinute: number, level: (t: number) => number = () => 1) => {
    const rand = seeded(seed);
    return (t: number): SimAttempt[] => Array.from({ length: poissonDraw(rand, (perMinute * level(t)) / 60) }, () => ({ failed: false }));
  };

  it('does not page on healthy traffic of a few successes a minute, where a one-minute window sees 0 or 1 by chance', () => {
    // Counting over a fixed 1m, 5 a minute paged 29 times a day and 10 a minute 17 times (zeros and twos by chance).
    for (const perMinute of [5, 10]) {
      const sim = new Sim([journeyWith({ alerts: DEFAULTS, segments: [] })]);
      const pages = sim.run(5 * 86_400, poissonTraffic(perMinute, perMinute)).filter((e) => e.status === 'firing');
      expect({ perMinute, pages: pages.map((e) => e.summary) }).toEqual({ perMinute, pages: [] });
    }
  });

  it('still detects a quiet journey stopping, over a window long enough to expect enough successes', () => {
    // 3 a minute: a one-minute window expects 3, and P(0 | 3) = 5% is no evidence, so this never fired before.
    const sim = new Sim([journeyWith({ alerts: DEFAULTS, segments: [] })]);
    const stopAt = T0 + 2 * 3_600_000;
    const traffic = poissonTraffic(3, 3, (t) => (t >= stopAt ? 0 : 1));
    expect(sim.run(2 * 3600, traffic)).toEqual([]);
    const down = sim.run(30 * 60, traffic).filter((e) => e.status === 'firing' && !e.repeat);
    expect(down).toHaveLength(1);
    expect(down[0]!.summary).toMatch(/^checkout is happening far less than usual: \d+ successes in the last \d+m(\d+s)? \(baseline \d+(\.\d)?\)$/);
    expect(down[0]!.eventTimeMs - stopAt).toBeLessThan(15 * 60_000);
  });

  it('a journey down to a tenth of its rate stays one open page until it recovers, without resolving on a lucky window', () => {
    const sim = new Sim([journeyWith({ alerts: DEFAULTS, segments: [] })]);
    const downAt = T0 + 2 * 3_600_000;
    const upAt = downAt + 3_600_000;
    const traffic = poissonTraffic(27, 20, (t) => (t >= downAt && t < upAt ? 0.1 : 1));
    sim.run(2 * 3600, traffic);
    const down = sim.run(3600, traffic);
    // fired once within a few minutes, then only repeats (resolving at ratio 0.25 let a count of 10 out of 40
    // expected resolve it 53 minutes in, and the next window paged again)
    expect(down.filter((e) => !e.repeat).map((e) => e.status)).toEqual(['firing']);
    expect(down[0]!.eventTimeMs - downAt).toBeLessThan(5 * 60_000);
    const back = sim.run(600, traffic);
    expect(back.map((e) => e.status)).toEqual(['resolved']);
  });
});

function shop(paymentsVersion: (i: number) => string, failing: (version: string, i: number) => boolean): (t: number) => SimAttempt[] {
  return () =>
    Array.from({ length: 10 }, (_, i) => {
      const version = paymentsVersion(i);
      return {
        failed: failing(version, i),
        services: [
          ['frontend', '5.0.1'],
          ['payments', version],
        ],
        failingStep: 'charge',
      };
    });
}

describe('release regression alerts', () => {
  const alerts = `${PAGE}\nheartbeat: false\nrelease: { new_for: 5m }\nsegments: { min_attempts: 20 }`;

  it('a new service version failing more than the previous one fires with service, versions and first-seen time', () => {
    const sim = new Sim([journeyWith({ alerts })]);
    expect(sim.run(120, shop(() => '2.4.0', () => false))).toEqual([]);
    const firstSeen = sim.now;
    // canary: 3 of 10 attempts go through payments 2.5.0, half of those fail
    const events = sim.run(40, shop((i) => (i < 3 ? '2.5.0' : '2.4.0'), (v, i) => v === '2.5.0' && i % 2 === 0));
    const release = events.filter((e) => e.kind === 'release_regression');
    expect(release).toHaveLength(1);
    const e = release[0]!;
    expect(e.release).toEqual({
      service: 'payments',
      newVersion: '2.5.0',
      previousVersion: '2.4.0',
      firstSeenMs: firstSeen,
      newFailureRatio: expect.closeTo(2 / 3, 2) as number,
      previousFailureRatio: 0,
    });
    expect(e.fingerprint).toBe(fingerprintOf({ journey: 'checkout', kind: 'release_regression', service: 'payments' }));
    expect(e.severity).toBe('page'); // 67% failures > 14.4 × 0.5%
    expect(e.suspects[0]).toMatchObject({ dimension: 'service.version:payments', value: '2.5.0' });
    expect(e.summary).toMatch(/^payments 2\.5\.0 \(first seen 2025-11-22T10:02:00\.000Z\) fails 67% of checkout attempts over 10s vs 0% for 2\.4\.0: payments 2\.5\.0, step charge$/);
  });

  it('one failure of a new version is not a regression (alerts.min_failures, default 3), however clean the baseline', () => {
    // The demo's race: a rollout's first attempts are few, and one failure among them against a baseline with
    // none looks "significant" to the z-test. 2.5.0 serves 1 attempt in 10 and fails once, at its 6th attempt.
    const run = (alertsYaml: string) => {
      const sim = new Sim([journeyWith({ alerts: alertsYaml })], {}, 3000, 1000);
      sim.run(120, shop(() => '2.4.0', () => false));
      let seen = 0;
      return sim.run(30, shop((i) => (i === 0 ? '2.5.0' : '2.4.0'), (v) => v === '2.5.0' && ++seen === 6));
    };
    const small = `${PAGE}\nheartbeat: false\nrelease: { new_for: 5m }\nsegments: { min_attempts: 5 }`;
    expect(run(small).filter((e) => e.kind === 'release_regression')).toEqual([]);
    // With the guard lowered to one failure it stays quiet too: judged every second for 5 minutes, one failure in
    // six attempts is no evidence (a z-test on one window called it significant).
    expect(run(`${small}\nmin_failures: 1`).filter((e) => e.kind === 'release_regression')).toEqual([]);
  });

  it('versions running at start are the baseline, and a new version as good as the previous one does not fire', () => {
    const both = new Sim([journeyWith({ alerts })]);
    const events = both.run(120, shop((i) => (i < 3 ? '2.5.0' : '2.4.0'), (v, i) => v === '2.5.0' && i % 2 === 0));
    expect(events.some((e) => e.kind === 'release_regression')).toBe(false);

    const fine = new Sim([journeyWith({ alerts })]);
    fine.run(120, shop(() => '2.4.0', () => false));
    expect(fine.run(120, shop((i) => (i < 3 ? '2.5.0' : '2.4.0'), () => false))).toEqual([]);
  });

  it('healthy rollouts are not flagged, though the new version is judged every evaluation while it is new', () => {
    // Default rules (new_for 56m, window 4m40s), 300 attempts a minute failing at 0.5% on both versions, rolled out
    // 10% → 50% → 100% over 40 minutes. A z-test on each window flagged 4 of these 8 rollouts.
    const flagged: string[] = [];
    for (let r = 0; r < 8; r++) {
      const rand = seeded(1000 * r + 350);
      const sim = new Sim([journeyWith({ alerts: 'heartbeat: false', segments: [] })]);
      const share = (t: number) => {
        const m = (t - T0) / 60_000 - 60;
        return m < 0 ? 0 : m < 20 ? 0.1 : m < 40 ? 0.5 : 1;
      };
      const traffic = (t: number): SimAttempt[] =>
        Array.from({ length: poissonDraw(rand, 5) }, () => ({
          failed: rand() < 0.005,
          services: [
            ['frontend', '5.0.1'],
            ['payments', rand() < share(t) ? '2.5.0' : '2.4.0'],
          ],
          failingStep: 'charge',
        }));
      flagged.push(...sim.run(3 * 3600, traffic).filter((e) => e.status === 'firing').map((e) => `rollout ${r}: ${e.summary}`));
    }
    expect(flagged).toEqual([]);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`a bad release on second-level windows is one alert for as long as it is rolled out (seed ${seed})`, () => {
      // The alert scenario's rules (scripts/scenarios.mjs), 40 checkouts a second; payments 2.5.0 serves 20 % of
      // them and fails 15 % of its charges (~6 failures of ~40 in the 5 s window). Judged against new_for's looks,
      // evaluations often fall short, and two in a row resolved the alert mid-rollout in 3 of these 6 runs; an open
      // alert needs one look.
      const journey = journeyWith({
        target: '99%',
        window: '1h',
        segments: [],
        alerts: 'burn_rates:\n  - { severity: page, long: 20s, short: 5s, factor: 10 }\nsegments: { min_attempts: 10 }\nheartbeat: false\nrelease: { new_for: 2m }\nrepeat_interval: 3s',
      });
      const rand = seeded(seed);
      let bad = false;
      const traffic = (): SimAttempt[] =>
        Array.from({ length: 40 }, () => {
          const canary = bad && rand() < 0.2;
          return {
            failed: canary ? rand() < 0.15 : rand() < 0.002,
            services: [
              ['frontend', '5.0.1'],
              ['payments', canary ? '2.5.0' : '2.4.1'],
            ],
            failingStep: 'charge',
          };
        });
      const sim = new Sim([journey], {}, 3000, 1000);
      expect(sim.run(60, traffic)).toEqual([]);
      bad = true;
      const during = sim.run(40, traffic);
      bad = false;
      const after = sim.run(30, traffic);
      expect(during.filter((e) => !e.repeat).map((e) => [e.kind, e.status])).toEqual([['release_regression', 'firing']]);
      expect(during.filter((e) => e.repeat).length).toBeGreaterThanOrEqual(5);
      expect(after.map((e) => [e.kind, e.status]).at(-1)).toEqual(['release_regression', 'resolved']);
    });
  }
});
