// The demo shop's customers: a steady mix of checkouts, searches, sign-ups and page views from three regions,
// three customer tiers, three kinds of device and two frontend releases, sent through scripts/shop.mjs (the real
// OpenTelemetry SDK, one tracer provider per service × version × region). Background failures are rare enough that
// no alert rule of config/demo/journeys/ fires on them; the incident is what `setFault()` injects:
//
//   setFault({ service: 'payments', version: '2.5.0', region: 'us-east-1', tier: 'enterprise', failRatio: 0.6 })
//
// routes that region's enterprise checkouts to payments 2.5.0, which fails `failRatio` of their card charges;
// everyone else keeps payments 2.4.1. `setFault(null)` is the rollback.

import { seededRandom } from '../random.mjs';

/** Mulberry32 (scripts/random.mjs): a small seeded PRNG, so a run can be repeated with PULSE_DEMO_SEED. */
export { seededRandom };

/** Weighted choices; weights need not sum to 1. */
export const REGIONS = [
  ['eu-west-1', 40],
  ['us-east-1', 40],
  ['ap-southeast-1', 20],
];
export const TIERS = [
  ['free', 50],
  ['pro', 25],
  ['enterprise', 25],
];
export const DEVICES = [
  ['desktop', 50],
  ['mobile', 40],
  ['tablet', 10],
];
export const SIGNUP_SOURCES = [
  ['web', 50],
  ['ios', 20],
  ['android', 20],
  ['partner', 10],
];

/** What the shop runs when nothing is being rolled out. */
export const RELEASES = Object.freeze({
  frontend: '1.8.0',
  /** The frontend's own canary: 20 % of eu-west-1's requests, healthy — a release that is *not* the problem. */
  frontendCanary: '1.9.0',
  payments: '2.4.1',
});

/** The bad release the demo rolls out. */
export const DEFAULT_FAULT = Object.freeze({ service: 'payments', version: '2.5.0', region: 'us-east-1', tier: 'enterprise', failRatio: 0.6 });

/** Requests per second of each kind at `rate: 1`. */
export const BASE_RATES = Object.freeze({ checkout: 40, search: 20, signup: 6, browse: 5 });

/**
 * @param {import('../shop.d.mts').Shop} shop
 * @param {{ rate?: number, seed?: number, tickMs?: number }} [options]
 */
export function createTraffic(shop, options = {}) {
  const random = seededRandom(options.seed ?? Date.now());
  const rate = options.rate ?? 1;
  const tickMs = options.tickMs ?? 100;
  const chance = (p) => random() < p;
  const pick = (choices) => {
    let total = 0;
    for (const [, w] of choices) total += w;
    let r = random() * total;
    for (const [value, w] of choices) if ((r -= w) < 0) return value;
    return choices[choices.length - 1][0];
  };
  /** Durations: a floor plus an exponential tail (most requests are fast, a few are slow). */
  const duration = (floorMs, meanExtraMs) => Math.round(floorMs - meanExtraMs * Math.log(1 - random()));

  /** @type {typeof DEFAULT_FAULT | null} */
  let fault = null;
  const sent = { checkout: 0, search: 0, signup: 0, browse: 0, faulty: 0 };
  const carry = { checkout: 0, search: 0, signup: 0, browse: 0 };
  let timer;
  let last = 0;

  function frontendVersion(region) {
    return region === 'eu-west-1' && chance(0.2) ? RELEASES.frontendCanary : RELEASES.frontend;
  }

  function checkout() {
    const region = pick(REGIONS);
    const tier = pick(TIERS);
    const device = pick(DEVICES);
    const bad = fault !== null && region === fault.region && tier === fault.tier;
    const chargeFails = bad ? chance(fault.failRatio) : chance(0.0005);
    if (bad) sent.faulty++;
    shop.checkout({
      region,
      tier,
      frontendVersion: frontendVersion(region),
      paymentsVersion: bad ? fault.version : RELEASES.payments,
      chargeFails,
      confirm: chargeFails ? null : chance(0.2) ? 'sms' : 'email',
      // Mobile networks are slower; a failed charge answers fast.
      durationMs: chargeFails ? duration(30, 20) : duration(device === 'mobile' ? 90 : 60, 70),
      attributes: { 'device.type': device },
    });
  }

  function search() {
    const region = pick(REGIONS);
    const slow = chance(0.0002); // beyond search's max_duration (800 ms)
    shop.search({
      region,
      tier: chance(0.3) ? null : pick(TIERS),
      frontendVersion: frontendVersion(region),
      queries: chance(0.05) ? 2 : 1,
      suggestFails: chance(0.02), // does not fail a search (no_errors: start)
      durationMs: slow ? 950 : duration(15, 25),
      attributes: { 'device.type': pick(DEVICES) },
    });
  }

  function signup() {
    const region = pick(REGIONS);
    const taken = chance(0.001); // the e-mail address is already taken: 409, a failed sign-up
    shop.signup({
      region,
      source: pick(SIGNUP_SOURCES),
      frontendVersion: frontendVersion(region),
      createFails: taken,
      status: taken ? 409 : undefined,
      durationMs: duration(50, 60),
    });
  }

  function browse() {
    const region = pick(REGIONS);
    shop.browse({ region, frontendVersion: frontendVersion(region), attributes: { 'device.type': pick(DEVICES) } });
  }

  const makers = { checkout, search, signup, browse };

  function tick() {
    const now = Date.now();
    // Catch up after a stalled event loop, but never burst more than a second's worth.
    const dt = Math.min(1000, now - last) / 1000;
    last = now;
    for (const kind of Object.keys(makers)) {
      carry[kind] += BASE_RATES[kind] * rate * dt;
      while (carry[kind] >= 1) {
        carry[kind] -= 1;
        makers[kind]();
        sent[kind]++;
      }
    }
  }

  return {
    /** Requests made so far, by kind; `faulty` = checkouts routed to the bad release. */
    sent,
    get fault() {
      return fault;
    },
    start() {
      if (timer !== undefined) return;
      last = Date.now();
      timer = setInterval(tick, tickMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    /** Rolls a bad release out (see the top of this file); null rolls it back. */
    setFault(f) {
      fault = f === null ? null : { ...DEFAULT_FAULT, ...f };
    },
  };
}
