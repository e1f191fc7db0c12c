import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most files wait on brokers and on the worker processes they start: three at a time keep the 2-core CI
    // machine busy without starving the timing-sensitive ones (the default, cores - 1, runs them one by one).
    maxWorkers: 3,
    setupFiles: ['test/support/setup.ts'],
  },
});
