/**
 * Segment alerts over many values: false alerts on healthy traffic, and how long one bad value takes to fire.
 * Default rules (target 99.5% over 28d, the workbook's pairs), one dimension `tenant`.
 *
 *   SIM_HOURS (48)  SIM_VALUES (200)  SIM_RATE attempts/min (2000)  SIM_P failure ratio of every value (0.0045,
 *   0.9 × the budget)  SIM_BAD: value t0 fails SIM_BAD × SIM_P from hour 8 on (0: none)  SIM_SEED (99)
 */
import { it } from 'vitest';
import { Sim, journeyWith, poissonDraw, seeded, type SimAttempt } from '../../tests/unit/alerts/support.js';
import { setting } from './settings.js';

const HOURS = setting('SIM_HOURS', 48);
const VALUES = setting('SIM_VALUES', 200);
const PER_MIN = setting('SIM_RATE', 2000);
const P = setting('SIM_P', 0.0045);
const BAD = setting('SIM_BAD', 0);
const SEED = setting('SIM_SEED', 99);

it(`segment alerts: ${VALUES} values, ${PER_MIN} attempts/min, failure ratio ${P}${BAD > 0 ? `, t0 × ${BAD} from hour 8` : ''}, ${HOURS} h`, () => {
  const rand = seeded(SEED);
  const sim = new Sim([journeyWith({ alerts: 'heartbeat: false\nrelease: false', segments: ['tenant'] })]);
  const t0 = sim.now;
  const badFrom = t0 + 8 * 3_600_000;
  const ratioOf = (value: number, t: number) => (BAD > 0 && value === 0 && t >= badFrom ? Math.min(1, P * BAD) : P);
  const traffic = (t: number): SimAttempt[] =>
    Array.from({ length: poissonDraw(rand, PER_MIN / 60) }, () => {
      const v = Math.floor(rand() * VALUES);
      return { failed: rand() < ratioOf(v, t), segments: { tenant: `t${v}` } };
    });
  const started = Date.now();
  const events = sim.run(HOURS * 3600, traffic);
  const opened = events.filter((e) => e.status === 'firing' && !e.repeat);
  const bad = opened.find((e) => e.segment?.value === 't0' && BAD > 0);
  const falseAlerts = opened.filter((e) => !(BAD > 0 && e.segment?.value === 't0'));
  const lines = [
    `${falseAlerts.length} false alerts on ${new Set(falseAlerts.map((e) => e.segment?.value ?? e.kind)).size} values (${Math.round((Date.now() - started) / 1000)} s to simulate)`,
  ];
  if (BAD > 0) lines.push(`t0 failing × ${BAD}: ${bad === undefined ? 'never fired' : `${bad.severity} after ${((bad.eventTimeMs - badFrom) / 60_000).toFixed(1)} min`}`);
  for (const e of falseAlerts.slice(0, 5)) lines.push(`  false: @${((e.eventTimeMs - t0) / 3_600_000).toFixed(1)} h ${e.summary}`);
  console.log(lines.join('\n'));
});
