import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTimeSkippingEnv } from '../helpers/time-skipping.ts';
import { installQuietRuntime } from './harness/runtime.ts';
import { formatFailure, runSimulation } from './random/run.ts';

/** A fixed seed keeps `npm test` reproducible; SIM_SEED explores others. */
const SEED = Number(process.env.SIM_SEED ?? 9_365);
const GRANTS = 2;
const DAYS = 400;
/**
 * Runs continue as new every 10 refreshes instead of 50 (REFRESHES_PER_RUN): many more
 * continue-as-new boundaries meet requests, reads and revokes, and shorter histories replay faster
 * on a worker without a cache.
 */
const SETTINGS = { refreshesPerRun: 10 };
/** The budget is two minutes; the margin is for a machine busy with other test files. */
const TIMEOUT_MS = 180_000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  installQuietRuntime();
  env = await createTimeSkippingEnv();
});
afterAll(async () => env?.teardown());

it(
  `${GRANTS} grants live ${DAYS} days of random requests, clicks, reads, revokes and Feishu faults`,
  async () => {
    const report = await runSimulation({
      env,
      seed: SEED,
      grants: GRANTS,
      days: DAYS,
      settings: SETTINGS,
      stopAtFirstViolation: true,
    });
    if (report.violations.length > 0) console.log(formatFailure(report));
    console.log(
      `seed ${SEED}: ${report.ran.length} events, ${report.refreshes} refreshes, ${report.cards} cards, ` +
        `${report.workflowRuns} runs, ${report.grantDaysPerSecond.toFixed(1)} grant-days/s`,
    );
    expect(report.violations).toEqual([]);
  },
  TIMEOUT_MS,
);
