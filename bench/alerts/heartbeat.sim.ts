/**
 * Baseline heartbeat (`heartbeat: { baseline: auto }`, other defaults): false pages on steady Poisson traffic, and
 * how long a full stop (or a fall to 10%) takes to page and to resolve once traffic is back.
 *
 *   SIM_DAYS of steady traffic (1)  SIM_RATES successes/min (5,10,20)
 */
import { it } from 'vitest';
import { Sim, journeyWith, poissonDraw, seeded, type SimAttempt } from '../../tests/unit/alerts/support.js';
import { setting, settings } from './settings.js';

const DAYS = setting('SIM_DAYS', 1);
const RATES = settings('SIM_RATES', '5,10,20');
const journey = () => journeyWith({ alerts: 'heartbeat: { baseline: auto }\nrelease: false', segments: [] });

for (const perMin of RATES) {
  it(`heartbeat at ${perMin} successes/min: false pages in ${DAYS} d`, () => {
    const rand = seeded(42 + perMin);
    const sim = new Sim([journey()]);
    const pages = sim.run(DAYS * 86_400, (): SimAttempt[] => Array.from({ length: poissonDraw(rand, perMin / 60) }, () => ({ failed: false })));
    const opened = pages.filter((e) => e.status === 'firing' && !e.repeat);
    console.log(`${perMin}/min: ${opened.length} false pages in ${DAYS} d${opened[0] === undefined ? '' : ` (first: ${opened[0].summary})`}`);
  });

  for (const level of [0, 0.1]) {
    it(`heartbeat at ${perMin} successes/min falling to ${level * 100}%: time to page`, () => {
      const rand = seeded(7 + perMin);
      const sim = new Sim([journey()]);
      const traffic = (m: number) => (): SimAttempt[] => Array.from({ length: poissonDraw(rand, (m * perMin) / 60) }, () => ({ failed: false }));
      const before = sim.run(2 * 3600, traffic(1)).filter((e) => e.status === 'firing').length;
      const dropAt = sim.now;
      const fired = sim.run(3600, traffic(level)).find((e) => e.status === 'firing');
      const resolved = sim.run(3600, traffic(1)).find((e) => e.status === 'resolved');
      const after = (e: { eventTimeMs: number } | undefined, from: number) => (e === undefined ? 'never' : `${Math.round((e.eventTimeMs - from) / 1000)} s`);
      console.log(`${perMin}/min → ${level * 100}%: ${before} pages before, paged after ${after(fired, dropAt)}, resolved ${after(resolved, dropAt + 3_600_000)} after recovery`);
    });
  }
}
