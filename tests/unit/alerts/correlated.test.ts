import { describe, expect, it } from 'vitest';
import { FAST_ALERTS, Sim, journeyWith, type SimAttempt } from './support.js';

/**
 * Per second: 10 free and 5 pro customers, half in us-east-1 and half in eu-west-1, and 3 enterprise customers,
 * all in us-east-1; `fails` decides failures.
 */
function regional(fails: (tier: string, region: string, i: number) => boolean): SimAttempt[] {
  const out: SimAttempt[] = [];
  let i = 0;
  for (const [tier, n] of [['free', 10], ['pro', 5], ['enterprise', 3]] as const) {
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
