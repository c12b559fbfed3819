import { describe, expect, it } from 'vitest';
import { CHAOS_DEFAULTS, printChaosResult, runChaos, violations } from './harness/run.ts';

/**
 * `npm run chaos` in small: a couple of minutes, a handful of users, every kind of kill and fault
 * at least once. Runs on a PostgreSQL cluster and a Temporal server of its own, not the suite's.
 */
describe('chaos, short', () => {
  it('loses no flow, duplicates no card, uses no refresh token twice, fails no workflow, leaks nothing', async () => {
    const result = await runChaos({ ...CHAOS_DEFAULTS, users: 8, durationMs: 120_000, readers: 2 });
    printChaosResult(result);
    const { report } = result;
    expect(report.flows.total).toBeGreaterThan(8);
    expect(Object.keys(report.kills).sort()).toEqual(['api', 'postgres', 'temporal', 'worker-1', 'worker-2']);
    expect(report.refreshes.total).toBeGreaterThan(0);
    // The run lost at least one refresh answer after Feishu rotated, and it ended as it must.
    expect(report.refreshes.burnt.filter((b) => b.cause === 'lost answer').length).toBeGreaterThan(0);
    expect(violations(report)).toEqual({
      lostFlows: 0,
      duplicateCards: 0,
      refreshTokensUsedTwice: 0,
      burntTokensNotReauthorized: 0,
      workflowsFailedOrStuck: 0,
      tokenApi5xxOtherThan503: 0,
      plaintextSecrets: 0,
    });
  }, 900_000);
});
