import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Integration tests spawn bin/pulse, which runs the compiled dist/: build it once before any test file runs.
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on free ports; the machine has two cores.
    maxWorkers: 2,
    // CI reads the JSON report to print the plain "N passed, N failed" closing line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci/test-results.json' }]] : ['default'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});
