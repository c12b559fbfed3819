import path from 'node:path';
import { parseArgs } from 'node:util';
import { createSimEnv } from '../test/sim/harness/env.ts';
import { installQuietRuntime } from '../test/sim/harness/runtime.ts';
import { formatFailure, runSimulation } from '../test/sim/random/run.ts';
import { findOrBuildTimeSkippingServer } from './stack/time-skipping-server.ts';

const USAGE = `npm run simulate -- [--grants N] [--days D] [--seed S] [--check-every DAYS] [--restarts] [--workflows PATH]

Runs N grants through D days of seeded random events on the real grant workflow, with the Java
time-skipping test server and the in-memory model of Feishu and the store. Prints simulated
grant-days per second and every invariant violation; exits 1 if there was any.
  --check-every  check every grant this often (days), besides the grant each step touches (30)
  --restarts     also restart the worker now and then; needs a worker without a workflow cache,
                 so every workflow task replays its history: several times slower
  --workflows    simulate another build of the workflow (e.g. test/fixtures/deployed-0f8d4b2-workflow.ts)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      grants: { type: 'string', default: '20' },
      days: { type: 'string', default: '400' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      'check-every': { type: 'string', default: '30' },
      restarts: { type: 'boolean', default: false },
      workflows: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [grants, days, seed, checkEveryDays] = [
    values.grants,
    values.days,
    values.seed,
    values['check-every'],
  ].map(Number) as [number, number, number, number];
  if (![grants, days, seed, checkEveryDays].every((n) => Number.isInteger(n) && n >= 0) || grants < 1) {
    console.error(USAGE);
    return 2;
  }
  installQuietRuntime();
  const env = await createSimEnv(await findOrBuildTimeSkippingServer());
  try {
    console.log(`simulating ${grants} grants × ${days} days, seed ${seed}`);
    const report = await runSimulation({
      env,
      seed,
      grants,
      days,
      checkEveryDays,
      rates: values.restarts ? {} : { restartWorker: 0 },
      workflowsPath: values.workflows && path.resolve(values.workflows),
      onProgress: (day) => console.log(`  day ${day}`),
    });
    if (report.violations.length > 0) console.log(formatFailure(report));
    console.log(
      [
        `seed ${seed}: ${grants} grants × ${days} days in ${(report.wallMs / 1000).toFixed(1)} s`,
        `${report.grantDaysPerSecond.toFixed(1)} simulated grant-days/s`,
        `${report.ran.length} events, ${report.refreshes} refreshes, ${report.cards} cards, ${report.workflowRuns} workflow runs`,
        `${report.violations.length} invariant violation(s)`,
      ].join('\n'),
    );
    return report.violations.length > 0 ? 1 : 0;
  } finally {
    await env.teardown();
  }
}

process.exitCode = await main();
