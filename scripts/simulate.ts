import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startTimeSkippingEnv } from '../test/helpers/time-skipping-env.ts';
import { installQuietRuntime } from '../test/sim/harness/runtime.ts';
import { formatFailure, type RunReport } from '../test/sim/random/run.ts';
import { runShards } from '../test/sim/random/shards.ts';
import { findOrBuildTimeSkippingServer } from './stack/time-skipping-server.ts';

const DEFAULT_SHARDS = 2 * availableParallelism();

const USAGE = `npm run simulate -- [--grants N] [--days D] [--seed S] [--shards K] [--check-every DAYS] [--restarts] [--workflows PATH]

Runs N grants through D days of seeded random events on the real grant workflow, with the Java
time-skipping test server and the in-memory model of Feishu and the store. Prints simulated
grant-days per second and every invariant violation; exits 1 if there was any.
  --shards       split the grants over K simulations side by side, each with its own server,
                 Feishu and seed (S, S+1, …), since a simulation mostly waits for round trips
                 (default ${DEFAULT_SHARDS}: twice the cores)
  --check-every  check every grant this often (days), besides the grant each step touches (30)
  --restarts     also restart the worker now and then; needs a worker without a workflow cache,
                 so every workflow task replays its history: several times slower
  --workflows    simulate another build of the workflow (e.g. test/fixtures/deployed-0f8d4b2-workflow.ts)`;

function summary(reports: RunReport[], wallMs: number): string {
  const sum = (field: 'refreshes' | 'cards' | 'workflowRuns') => reports.reduce((n, r) => n + r[field], 0);
  const grantDays = reports.reduce((n, r) => n + r.grants * r.days, 0);
  const events = reports.reduce((n, r) => n + r.ran.length, 0);
  const violations = reports.reduce((n, r) => n + r.violations.length, 0);
  return [
    `${grantDays} grant-days in ${(wallMs / 1000).toFixed(1)} s over ${reports.length} shard(s)`,
    `${(grantDays / (wallMs / 1000)).toFixed(1)} simulated grant-days/s`,
    `${events} events, ${sum('refreshes')} refreshes, ${sum('cards')} cards, ${sum('workflowRuns')} workflow runs`,
    `${violations} invariant violation(s)`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      grants: { type: 'string', default: '20' },
      days: { type: 'string', default: '400' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      shards: { type: 'string', default: String(DEFAULT_SHARDS) },
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
  const [grants, days, seed, shards, checkEveryDays] = [
    values.grants,
    values.days,
    values.seed,
    values.shards,
    values['check-every'],
  ].map(Number) as [number, number, number, number, number];
  const counts = [grants, days, seed, shards, checkEveryDays];
  if (!counts.every((n) => Number.isInteger(n) && n >= 0) || grants < 1 || shards < 1) {
    console.error(USAGE);
    return 2;
  }
  installQuietRuntime();
  const server = await findOrBuildTimeSkippingServer();
  console.log(
    `simulating ${grants} grants × ${days} days, seed ${seed}, ${Math.min(shards, grants)} shard(s)`,
  );
  const started = Date.now();
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`stopped by ${signal}`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let reports: RunReport[];
  try {
    reports = await runShards({
      startEnv: () => startTimeSkippingEnv(server),
      shards,
      seed,
      grants,
      days,
      checkEveryDays,
      rates: values.restarts ? {} : { restartWorker: 0 },
      workflowsPath: values.workflows && path.resolve(values.workflows),
      onProgress: (shard, day) => console.log(`  shard ${shard}: day ${day}`),
      signal: stop.signal,
    });
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    console.error(`${(stop.signal.reason as Error).message}: the test servers are stopped`);
    // Steps still in flight would only fail, one by one, against servers that are gone.
    process.exit(130);
  }
  for (const report of reports) if (report.violations.length > 0) console.log(formatFailure(report));
  console.log(summary(reports, Date.now() - started));
  return reports.some((report) => report.violations.length > 0) ? 1 : 0;
}

process.exitCode = await main();
