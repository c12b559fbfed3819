import { pathToFileURL } from 'node:url';
import { startBenchCluster } from './cluster.ts';
import { MessageWatcher, runFlow, type FlowTiming } from './flow.ts';
import os from 'node:os';
import { benchOpenId, cpuSeconds, cpuSecondsByName, RssSampler } from './provision.ts';
import { startBenchStack, type BenchStack } from './stack.ts';
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
} from './stats.ts';

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
export async function driveFlows(
  stack: Pick<BenchStack, 'app' | 'sandbox'>,
  options: AuthBenchOptions,
  first = 0,
): Promise<FlowRun> {
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

/** The dev server stack every benchmark uses, or the production topology `npm run cluster` runs. */
export type AuthTopology = 'dev server' | 'cluster';

/** What a run drives and measures; a role with replicas lists each process. */
interface AuthTarget {
  stack: Pick<BenchStack, 'app' | 'sandbox'>;
  pids: Record<'worker' | 'api' | 'temporal', (number | undefined)[]>;
  close(): Promise<void>;
}

async function startTarget(topology: AuthTopology, users: number): Promise<AuthTarget> {
  if (topology === 'cluster') {
    const { app, sandbox, cluster, close } = await startBenchCluster(users, 'cluster_bench');
    const pid = (name: string) => cluster.supervisor.pid(name);
    return {
      stack: { app, sandbox },
      pids: {
        worker: cluster.workers.map(pid),
        api: cluster.apis.map((a) => pid(a.name)),
        temporal: [cluster.temporalPid],
      },
      close,
    };
  }
  const stack = await startBenchStack({ users, api: true });
  return {
    stack,
    pids: { worker: [stack.worker.pid], api: [stack.api!.pid], temporal: [stack.infra.temporalPid] },
    close: () => stack.close(),
  };
}

export async function runAuthBench(options: AuthBenchOptions, topology: AuthTopology = 'dev server') {
  log(
    `bench:auth on the ${topology} — ${options.users} users, concurrency ${options.concurrency}, rate ${options.rate || 'open'}`,
  );
  const target = await startTarget(topology, options.users);
  const { pids } = target;
  const processName = (role: keyof AuthTarget['pids'], i: number) => `${role}-${i}`;
  const rss = new RssSampler(
    Object.fromEntries(
      Object.entries(pids).flatMap(([role, list]) =>
        list.map((pid, i) => [processName(role as keyof AuthTarget['pids'], i), pid]),
      ),
    ),
  );
  /** The largest of a role's processes. */
  const peakRssMb = (role: keyof AuthTarget['pids']) =>
    mb(Math.max(...pids[role].map((_, i) => rss.peakKb(processName(role, i)))));
  const cpuOf = (role: keyof AuthTarget['pids']) =>
    pids[role].reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  try {
    // A short warm-up with other users would skew the open_id range; the first flows include JIT warm-up.
    const cpu = () => ({
      worker: cpuOf('worker'),
      api: cpuOf('api'),
      temporal: cpuOf('temporal'),
      postgres: cpuSecondsByName('postgres'),
      benchAndSandbox: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    const cpuBefore = cpu();
    const run = await driveFlows(target.stack, options);
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
      topology,
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
      workerPeakRssMb: peakRssMb('worker'),
      apiPeakRssMb: peakRssMb('api'),
      temporalPeakRssMb: peakRssMb('temporal'),
      cpuPercentOfOneCore: cpuPercent,
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      firstFailures: [...new Set(run.failures)].slice(0, 5),
    };
    printTable(`bench:auth on the ${topology} (${options.users} users, concurrency ${options.concurrency})`, [
      ['flows completed / failed', `${result.completed} / ${result.failed}`],
      ['wall time', `${result.seconds} s`],
      ['flows/s', `${result.flowsPerSecond}   (target 50)`],
      ['redirect → page p50 / p99', `${page.p50} / ${page.p99} ms   (target p99 ≤ 300)`],
      ['redirect → card updated p50 / p99', `${card.p50} / ${card.p99} ms`],
      ['POST /v1/authorizations p50 / p99', `${request.p50} / ${request.p99} ms`],
      ['whole flow p50 / p99', `${total.p50} / ${total.p99} ms`],
      ['peak RSS per worker / API', `${result.workerPeakRssMb} / ${result.apiPeakRssMb} MB`],
      ['peak RSS Temporal server', `${result.temporalPeakRssMb} MB`],
      ['CPU % of a core (worker/API/Temporal/PG/bench+sandbox)', Object.values(cpuPercent).join(' / ')],
      ['load average (1/5/15 min)', result.loadAverage.join(' ')],
    ]);
    for (const failure of result.firstFailures) log(`failure: ${failure}`);
    printJson('auth', result);
    return result;
  } finally {
    rss.stop();
    await target.close();
  }
}

/**
 * `--cluster`: the same flows on the dev server, then on the production topology (Temporal server
 * on PostgreSQL, two workers, two API replicas behind the load balancer), side by side.
 */
async function compareWithCluster(options: AuthBenchOptions): Promise<void> {
  const dev = await runAuthBench(options, 'dev server');
  const cluster = await runAuthBench(options, 'cluster');
  const both = (value: (r: typeof dev) => string | number) => `${value(dev)}   |   ${value(cluster)}`;
  printTable(
    `bench:auth, dev server | cluster (${options.users} users, concurrency ${options.concurrency})`,
    [
      ['flows completed / failed', both((r) => `${r.completed} / ${r.failed}`)],
      ['flows/s', both((r) => r.flowsPerSecond)],
      [
        'redirect → page p50 / p99 (ms)',
        both((r) => `${r.redirectToPageMs.p50} / ${r.redirectToPageMs.p99}`),
      ],
      [
        'redirect → card p50 / p99 (ms)',
        both((r) => `${r.redirectToCardMs.p50} / ${r.redirectToCardMs.p99}`),
      ],
      ['whole flow p50 / p99 (ms)', both((r) => `${r.flowMs.p50} / ${r.flowMs.p99}`)],
      ['peak RSS per worker / API (MB)', both((r) => `${r.workerPeakRssMb} / ${r.apiPeakRssMb}`)],
      ['peak RSS Temporal server (MB)', both((r) => r.temporalPeakRssMb)],
      [
        'CPU % of a core (worker/API/Temporal/PG/bench)',
        both((r) => Object.values(r.cpuPercentOfOneCore).join('/')),
      ],
    ],
  );
  printJson('auth-cluster', { devServer: dev, cluster });
}

export const AUTH_DEFAULTS: AuthBenchOptions = { users: 300, concurrency: 50, rate: 0 };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = parseFlags();
  const options = authOptions(flags, AUTH_DEFAULTS);
  (flags.cluster ? compareWithCluster(options) : runAuthBench(options)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:auth failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
