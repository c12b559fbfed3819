import { pathToFileURL } from 'node:url';
import { MessageWatcher, runFlow, type FlowTiming } from './flow';
import os from 'node:os';
import { benchOpenId, cpuSeconds, cpuSecondsByName, RssSampler } from './provision';
import { startBenchStack, type BenchStack } from './stack';
import {
  log,
  mb,
  numberFlag,
  parseFlags,
  printJson,
  printTable,
  round,
  runPool,
  summarize,
  type Flags,
} from './stats';

export interface AuthBenchOptions {
  users: number;
  concurrency: number;
  /** Flow starts per second (0: as fast as the concurrency allows). */
  rate: number;
}

export function authOptions(flags: Flags, defaults: AuthBenchOptions): AuthBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    rate: numberFlag(flags, 'rate', defaults.rate),
  };
}

export interface FlowRun {
  timings: FlowTiming[];
  failures: string[];
  seconds: number;
}

/** Drives `users` simulated users (open_ids from `first`) through the whole flow. */
export async function driveFlows(stack: BenchStack, options: AuthBenchOptions, first = 0): Promise<FlowRun> {
  const watcher = await MessageWatcher.connect(stack.sandbox, stack.app.appId);
  const timings: FlowTiming[] = [];
  const failures: string[] = [];
  const started = Date.now();
  let lastReport = started;
  try {
    await runPool(
      options.users,
      options.concurrency,
      async (i) => {
        try {
          timings.push(await runFlow(stack.sandbox, watcher, stack.app.apiUrl, benchOpenId(first + i)));
        } catch (err) {
          failures.push((err as Error).message);
        }
        if (Date.now() - lastReport > 5_000) {
          lastReport = Date.now();
          const done = timings.length + failures.length;
          log(`${done}/${options.users} flows (${round(done / ((lastReport - started) / 1000))}/s)`);
        }
      },
      options.rate,
    );
  } finally {
    watcher.close();
  }
  return { timings, failures, seconds: (Date.now() - started) / 1000 };
}

export async function runAuthBench(options: AuthBenchOptions) {
  log(
    `bench:auth — ${options.users} users, concurrency ${options.concurrency}, rate ${options.rate || 'open'}`,
  );
  const stack = await startBenchStack({ users: options.users, api: true });
  const rss = new RssSampler({
    worker: stack.worker.pid,
    api: stack.api!.pid,
    temporal: stack.infra.temporalPid,
  });
  try {
    // A short warm-up with other users would skew the open_id range; the first flows include JIT warm-up.
    const cpu = () => ({
      worker: cpuSeconds(stack.worker.pid),
      api: cpuSeconds(stack.api!.pid),
      temporal: cpuSeconds(stack.infra.temporalPid),
      postgres: cpuSecondsByName('postgres'),
      benchAndSandbox: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    const cpuBefore = cpu();
    const run = await driveFlows(stack, options);
    const cpuAfter = cpu();
    const cpuPercent = Object.fromEntries(
      Object.entries(cpuAfter).map(([k, v]) => [
        k,
        round((100 * (v - cpuBefore[k as keyof typeof cpuBefore])) / run.seconds, 0),
      ]),
    );
    const page = summarize(run.timings.map((t) => t.redirectToPageMs));
    const card = summarize(run.timings.map((t) => t.redirectToCardMs));
    const request = summarize(run.timings.map((t) => t.requestMs));
    const total = summarize(run.timings.map((t) => t.totalMs));
    const result = {
      users: options.users,
      concurrency: options.concurrency,
      rate: options.rate,
      completed: run.timings.length,
      failed: run.failures.length,
      seconds: round(run.seconds, 2),
      flowsPerSecond: round(run.timings.length / run.seconds),
      redirectToPageMs: page,
      redirectToCardMs: card,
      requestMs: request,
      flowMs: total,
      workerPeakRssMb: mb(rss.peakKb('worker')),
      apiPeakRssMb: mb(rss.peakKb('api')),
      temporalPeakRssMb: mb(rss.peakKb('temporal')),
      cpuPercentOfOneCore: cpuPercent,
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      firstFailures: [...new Set(run.failures)].slice(0, 5),
    };
    printTable(`bench:auth (${options.users} users, concurrency ${options.concurrency})`, [
      ['flows completed / failed', `${result.completed} / ${result.failed}`],
      ['wall time', `${result.seconds} s`],
      ['flows/s', `${result.flowsPerSecond}   (target 50)`],
      ['redirect → page p50 / p99', `${page.p50} / ${page.p99} ms   (target p99 ≤ 300)`],
      ['redirect → card updated p50 / p99', `${card.p50} / ${card.p99} ms`],
      ['POST /v1/authorizations p50 / p99', `${request.p50} / ${request.p99} ms`],
      ['whole flow p50 / p99', `${total.p50} / ${total.p99} ms`],
      ['peak RSS worker / API', `${result.workerPeakRssMb} / ${result.apiPeakRssMb} MB`],
      ['peak RSS Temporal server', `${result.temporalPeakRssMb} MB`],
      ['CPU % of a core (worker/API/Temporal/PG/bench+sandbox)', Object.values(cpuPercent).join(' / ')],
      ['load average (1/5/15 min)', result.loadAverage.join(' ')],
    ]);
    for (const failure of result.firstFailures) log(`failure: ${failure}`);
    printJson('auth', result);
    return result;
  } finally {
    rss.stop();
    await stack.close();
  }
}

export const AUTH_DEFAULTS: AuthBenchOptions = { users: 300, concurrency: 50, rate: 0 };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runAuthBench(authOptions(parseFlags(), AUTH_DEFAULTS)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:auth failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
