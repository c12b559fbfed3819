import { defineConfig } from 'vitest/config';

// The sandbox's own tests: no Temporal, no Postgres, so no global setup.
export default defineConfig({
  test: {
    include: ['test/sandbox/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
