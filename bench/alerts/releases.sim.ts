/**
 * Release regressions: healthy rollouts (10% → 50% → 100% of the traffic over 40 min, from hour 1) flagged or
 * not, and how long a bad one takes. Default rules, no segments.
 *
 *   SIM_ROLLOUTS per setting (20)  SIM_RATES attempts/min (60,300,1000)  SIM_P failure ratios (0.003,0.005,0.01)
 *   SIM_BAD: the new version fails SIM_BAD × as often (1: healthy)
 */
import { it } from 'vitest';
import { Sim, journeyWith, poissonDraw, seeded, type SimAttempt } from '../../tests/unit/alerts/support.js';
import { setting, settings } from './settings.js';

const ROLLOUTS = setting('SIM_ROLLOUTS', 20);
const BAD = setting('SIM_BAD', 1);

for (const perMin of settings('SIM_RATES', '60,300,1000')) {
  for (const p of settings('SIM_P', '0.003,0.005,0.01')) {
    it(`rollouts at ${perMin} attempts/min, failure ratio ${p}, new version × ${BAD}`, () => {
      const delays: number[] = [];
      for (let r = 0; r < ROLLOUTS; r++) {
        const rand = seeded(1000 * r + perMin + Math.round(p * 1e4));
        const sim = new Sim([journeyWith({ alerts: 'heartbeat: false', segments: [] })]);
        const t0 = sim.now;
        const share = (t: number) => {
          const m = (t - t0) / 60_000 - 60;
          return m < 0 ? 0 : m < 20 ? 0.1 : m < 40 ? 0.5 : 1;
        };
        const traffic = (t: number): SimAttempt[] =>
          Array.from({ length: poissonDraw(rand, perMin / 60) }, () => {
            const v = rand() < share(t) ? '2.5.0' : '2.4.0';
            return { failed: rand() < (v === '2.5.0' ? p * BAD : p), services: [['frontend', '5.0.1'], ['payments', v]], failingStep: 'charge' };
          });
        const release = sim.run(3 * 3600, traffic).find((e) => e.kind === 'release_regression' && e.status === 'firing');
        if (release !== undefined) delays.push((release.eventTimeMs - t0) / 1000 - 3600);
      }
      delays.sort((a, b) => a - b);
      const median = delays[delays.length >> 1];
      console.log(`${perMin}/min p=${p} × ${BAD}: ${delays.length} of ${ROLLOUTS} rollouts flagged${median === undefined ? '' : `, median ${Math.round(median)} s after the rollout began`}`);
    });
  }
}
