import { describe, expect, it } from 'vitest';
import { FAST_ALERTS, Sim, journeyWith, type SimAttempt } from './support.js';

/**
 * Per second: 40 free and 20 pro customers, half in us-east-1 and half in eu-west-1, and 12 enterprise customers,
 * all in us-east-1; `fails` decides failures. (Enough traffic that a region holding a fifth of the attempts' failures
 * is significantly worse than the other region even judged every evaluation of a day.)
 */
function regional(fails: (tier: string, region: string, i: number) => boolean): SimAttempt[] {
  const out: SimAttempt[] = [];
  let i = 0;
  for (const [tier, n] of [['free', 40], ['pro', 20], ['enterprise', 12]] as const) {
    for (let k = 0; k < n; k++, i++) {
      const region = tier === 'enterprise' || k % 2 === 0 ? 'us-east-1' : 'eu-west-1';
      out.push({ failed: fails(tier, region, i), segments: { 'customer.tier': tier, 'cloud.region': region }, failingStep: 'charge' });
    }
  }
  return out;
}

describe('correlated segments', () => {
  const alerts = { alerts: FAST_ALERTS, segments: ['customer.tier', 'cloud.region'] };

  it('one incident pages once: the region whose failures are all enterprise customers is named by the enterprise alert', () => {
    const sim = new Sim([journeyWith(alerts)]);
    expect(sim.run(120, () => regional(() => false))).toEqual([]);
    const events = sim.run(60, () => regional((tier) => tier === 'enterprise'));
    const segment = events.filter((e) => e.kind === 'segment');
    expect(segment.map((e) => [e.segment, e.status])).toEqual([[{ key: 'customer.tier', value: 'enterprise' }, 'firing']]);
    expect(segment[0]!.summary).toMatch(/^checkout failing for customer\.tier=enterprise: 70% .* \(also explains cloud\.region=us-east-1: their failures are this segment's\)/);
    // recovered: the enterprise alert resolves, and us-east-1 never fired on its own
    const after = sim.run(400, () => regional(() => false));
    expect(after.filter((e) => e.kind === 'segment' && e.status === 'resolved').map((e) => e.segment?.value)).toEqual(['enterprise']);
    expect(sim.events.some((e) => e.segment?.key === 'cloud.region')).toBe(false);
  });

  it('two failures of their own in two dimensions fire two alerts', () => {
    const sim = new Sim([journeyWith(alerts)]);
    sim.run(120, () => regional(() => false));
    // enterprise fails, and so do free customers in eu-west-1: eu-west-1's failures are not enterprise's
    const events = sim.run(60, () => regional((tier, region) => tier === 'enterprise' || (tier === 'free' && region === 'eu-west-1')));
    const firing = new Set(events.filter((e) => e.kind === 'segment' && e.status === 'firing').map((e) => `${e.segment!.key}=${e.segment!.value}`));
    expect(firing.has('customer.tier=enterprise')).toBe(true);
    expect(firing.has('cloud.region=eu-west-1')).toBe(true);
  });
});

/**
 * Per second: 40 free and 10 pro customers on payments 2.4.0, and 6 enterprise customers, of whom `onNew` go through
 * payments 2.5.0 once `rollout` is true; `fails` decides failures.
 */
function rollout(onNew: boolean, fails: (tier: string, version: string, k: number) => boolean): SimAttempt[] {
  const out: SimAttempt[] = [];
  for (const [tier, n] of [['free', 40], ['pro', 10], ['enterprise', 6]] as const) {
    for (let k = 0; k < n; k++) {
      const version = onNew && tier === 'enterprise' && k < 3 ? '2.5.0' : '2.4.0';
      out.push({
        failed: fails(tier, version, k),
        segments: { 'customer.tier': tier },
        services: [
          ['frontend', '5.0.1'],
          ['payments', version],
        ],
        failingStep: 'charge',
      });
    }
  }
  return out;
}

describe('a segment failing because of a release', () => {
  const alerts = { alerts: FAST_ALERTS.replace('segments: { min_attempts: 20 }', 'segments: { min_attempts: 20 }\nrelease: { new_for: 5m }'), segments: ['customer.tier'] };

  it('pages once: the release regression names the segment whose failures ran on the new version', () => {
    const sim = new Sim([journeyWith(alerts)]);
    expect(sim.run(120, () => rollout(false, () => false))).toEqual([]);
    // payments 2.5.0 goes to half the enterprise customers, and fails 2 of their 3 checkouts a second
    const events = sim.run(60, () => rollout(true, (_tier, version, k) => version === '2.5.0' && k < 2));
    expect(events.filter((e) => e.status === 'firing').map((e) => e.kind)).toEqual(['release_regression']);
    const release = events.find((e) => e.kind === 'release_regression' && e.summary.includes('also explains'));
    expect(release?.summary).toMatch(/^payments 2\.5\.0 .* \(also explains customer\.tier=enterprise: their failures ran on it\)/);
    expect(sim.events.some((e) => e.kind === 'segment')).toBe(false);
  });

  it('still pages once after a rollback, while the segment\'s longer windows hold the release\'s failures', () => {
    for (const badSeconds of [12, 20, 30]) {
      const sim = new Sim([journeyWith(alerts)]);
      sim.run(120, () => rollout(false, () => false));
      sim.run(badSeconds, () => rollout(true, (_tier, version, k) => version === '2.5.0' && k < 2));
      // rolled back: the release's 10 s window empties first, the segment's 30 s / 5 m ticket pair later
      sim.run(300, () => rollout(false, () => false));
      expect(sim.events.map((e) => [e.kind, e.status]), `${badSeconds} s of the bad release`).toEqual([
        ['release_regression', 'firing'],
        ['release_regression', 'resolved'],
      ]);
    }
  });

  it('a segment that also fails without the new version still fires its own alert', () => {
    const sim = new Sim([journeyWith(alerts)]);
    sim.run(120, () => rollout(false, () => false));
    // enterprise fails on 2.4.0 as well: half of its failures did not run on 2.5.0
    const events = sim.run(60, () => rollout(true, (tier, _version, k) => tier === 'enterprise' && (k < 2 || k === 3 || k === 4)));
    const firing = events.filter((e) => e.status === 'firing');
    expect(firing.some((e) => e.kind === 'release_regression')).toBe(true);
    expect(firing.filter((e) => e.kind === 'segment').map((e) => e.segment)).toEqual([{ key: 'customer.tier', value: 'enterprise' }]);
  });
});
