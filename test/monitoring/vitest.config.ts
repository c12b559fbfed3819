import { defineConfig } from 'vitest/config';

// Standalone run of the monitoring and deployment checks (no Temporal server, no database):
//   npx vitest run --config test/monitoring/vitest.config.ts
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/monitoring/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
