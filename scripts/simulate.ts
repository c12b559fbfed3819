import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startTimeSkippingEnv } from '../test/helpers/time-skipping-env.ts';
import { installQuietRuntime } from '../test/sim/harness/runtime.ts';
import { formatFailure, type RunReport } from '../test/sim/random/run.ts';
import { runOnOwnServer, shardPlan } from '../test/sim/random/shards.ts';
import { findOrBuildTimeSkippingServer } from './stack/time-skipping-server.ts';

const DEFAULT_SHARDS = 2 * availableParallelism();
/** How a shard's process hands its report (and its news) to the run that started it. */
const REPORT_LINE = 'SIM_REPORT ';
const SERVER_UP_LINE = 'SIM_SERVER_UP';
/**
 * A long run outlasts a busy spell on the machine; its JVM has five seconds a try to listen, and
 * a shard that gives up ends the run.
 */
const SERVER_START_ATTEMPTS = 30;

const USAGE = `npm run simulate -- [--grants N] [--days D] [--seed S] [--shards K] [--check-every DAYS] [--restarts] [--workflows PATH]

Runs N grants through D days of seeded random events on the real grant workflow, with the Java
time-skipping test server and the in-memory model of Feishu and the store. Prints simulated
grant-days per second and every invariant violation; exits 1 if there was any.
  --shards       split the grants over K simulations side by side, each a process with its own
                 server, Feishu and seed (S, S+1, …): a simulation mostly waits for round trips,
                 and one process uses one core (default ${DEFAULT_SHARDS}: twice the cores)
  --check-every  check every grant this often (days), besides the grant each step touches (30)
  --restarts     also restart the worker now and then; needs a worker without a workflow cache,
                 so every workflow task replays its history: several times slower
  --workflows    simulate another build of the workflow (e.g. test/fixtures/deployed-0f8d4b2-workflow.ts)`;

interface Args {
  grants: number;
  days: number;
  seed: number;
  shards: number;
  checkEveryDays: number;
  restarts: boolean;
  workflows?: string;
  /** A shard started by another run: its report goes to stdout as one line. */
  reportLine: boolean;
}

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

function parse(): Args | 'help' | undefined {
  const { values } = parseArgs({
    options: {
      grants: { type: 'string', default: '20' },
      days: { type: 'string', default: '400' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      shards: { type: 'string', default: String(DEFAULT_SHARDS) },
      'check-every': { type: 'string', default: '30' },
      restarts: { type: 'boolean', default: false },
      workflows: { type: 'string' },
      'report-line': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const [grants, days, seed, shards, checkEveryDays] = [
    values.grants,
    values.days,
    values.seed,
    values.shards,
    values['check-every'],
  ].map(Number) as [number, number, number, number, number];
  const counts = [grants, days, seed, shards, checkEveryDays];
  if (!counts.every((n) => Number.isInteger(n) && n >= 0) || grants < 1 || shards < 1) return undefined;
  return {
    grants,
    days,
    seed,
    shards: Math.min(shards, grants),
    checkEveryDays,
    restarts: values.restarts,
    workflows: values.workflows && path.resolve(values.workflows),
    reportLine: values['report-line'],
  };
}

/** One simulation in this process. */
async function runHere(args: Args, signal: AbortSignal): Promise<RunReport> {
  installQuietRuntime();
  const server = await findOrBuildTimeSkippingServer();
  return runOnOwnServer({
    startEnv: () => startTimeSkippingEnv(server, {}, SERVER_START_ATTEMPTS),
    seed: args.seed,
    grants: args.grants,
    days: args.days,
    checkEveryDays: args.checkEveryDays,
    rates: args.restarts ? {} : { restartWorker: 0 },
    workflowsPath: args.workflows,
    onProgress: (day) => console.log(`  day ${day}`),
    onServerUp: () => args.reportLine && console.log(SERVER_UP_LINE),
    signal,
  });
}

/**
 * A shard in a process of its own, its progress lines passed on; resolves with its report once
 * its server is up (`started`) and it has finished. Aborting stops it, which stops its server.
 */
function runShard(
  index: number,
  args: Args,
  signal: AbortSignal,
): { started: Promise<void>; report: Promise<RunReport> } {
  const argv = [
    fileURLToPath(import.meta.url),
    ...['--grants', args.grants, '--days', args.days, '--seed', args.seed].map(String),
    ...['--shards', '1', '--check-every', String(args.checkEveryDays), '--report-line'],
    ...(args.restarts ? ['--restarts'] : []),
    ...(args.workflows ? ['--workflows', args.workflows] : []),
  ];
  const child = spawn(process.execPath, [...process.execArgv, ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  signal.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
  let report: RunReport | undefined;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith(REPORT_LINE)) report = JSON.parse(line.slice(REPORT_LINE.length)) as RunReport;
    else if (line === SERVER_UP_LINE) markStarted();
    else console.log(`  shard ${index}: ${line.trim()}`);
  });
  const finished = new Promise<RunReport>((resolve, reject) =>
    child.once('close', (code) => {
      markStarted();
      if (report) resolve(report);
      else reject(new Error(`shard ${index} (seed ${args.seed}) ended with code ${code} and no report`));
    }),
  );
  return { started, report: finished };
}

async function runShards(args: Args, signal: AbortSignal): Promise<RunReport[]> {
  // Built (or found) once, before the shards look for it.
  await findOrBuildTimeSkippingServer();
  const reports: Promise<RunReport>[] = [];
  for (const [index, shard] of shardPlan(args.seed, args.grants, args.shards).entries()) {
    signal.throwIfAborted();
    const run = runShard(index, { ...args, ...shard }, signal);
    reports.push(run.report);
    run.report.catch(() => undefined);
    // One at a time: JVMs starting together on a small machine miss the SDK's start deadline.
    await run.started;
  }
  return Promise.all(reports);
}

async function main(): Promise<number> {
  const args = parse();
  if (args === 'help' || args === undefined) {
    (args ? console.log : console.error)(USAGE);
    return args ? 0 : 2;
  }
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`stopped by ${signal}`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  if (!args.reportLine) {
    console.log(
      `simulating ${args.grants} grants × ${args.days} days, seed ${args.seed}, ${args.shards} shard(s)`,
    );
  }
  const started = Date.now();
  let reports: RunReport[];
  try {
    reports = args.shards === 1 ? [await runHere(args, stop.signal)] : await runShards(args, stop.signal);
  } catch (err) {
    if (!stop.signal.aborted) {
      stop.abort(err); // the other shards stop too, and stop their servers
      throw err;
    }
    console.error(`${(stop.signal.reason as Error).message}: the test servers are stopped`);
    // Steps still in flight would only fail, one by one, against servers that are gone.
    process.exit(130);
  }
  if (args.reportLine) {
    console.log(REPORT_LINE + JSON.stringify(reports[0]));
    return 0;
  }
  for (const report of reports) if (report.violations.length > 0) console.log(formatFailure(report));
  console.log(summary(reports, Date.now() - started));
  return reports.some((report) => report.violations.length > 0) ? 1 : 0;
}

process.exitCode = await main();
