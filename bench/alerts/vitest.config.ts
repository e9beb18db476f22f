import { defineConfig } from 'vitest/config';

// The alert simulations (`npm run sim:alerts`): long, seeded runs of the SLO engine, kept out of `npm test`.
export default defineConfig({
  test: {
    include: ['bench/alerts/**/*.sim.ts'],
    testTimeout: 3_600_000,
    maxWorkers: 2,
  },
});
