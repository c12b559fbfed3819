import { pathToFileURL } from 'node:url';
import { startBenchCluster } from './cluster.ts';
import { MessageWatcher, runFlow, type FlowTiming } from './flow.ts';
import os from 'node:os';
import { benchOpenId, cpuSeconds, cpuSecondsByName, RssSampler, type ServiceProcess } from './provision.ts';
import { startBenchStack, type BenchStack } from './stack.ts';
import { driveBareFlows, startBareWorker } from './bare/index.ts';
import { clearProfiles, monotonicUs, printProfiles, profileFlags } from './profile.ts';
import {
  log,
  mb,
  numberFlag,
  parseFlags,
  printJson,
  printTable,
  round,
  runOpenLoop,
  runPool,
  summarize,
  type Flags,
  type Summary,
} from './stats.ts';

export interface AuthBenchOptions {
  /** Flows in the saturation run (and in the bare one). */
  users: number;
  concurrency: number;
  /** Open-loop arrivals per second; 0: at 50 % and 80 % of the saturation throughput just measured. */
  rate: number;
  /** Flows per open-loop run (0: half of `users`). */
  openUsers: number;
  /** Flows of each kind run first and not counted (JIT, connection pools, caches). */
  warmup: number;
  /** Runs the worker and the API under node --cpu-prof and prints their top functions. */
  profile: boolean;
}

export function authOptions(flags: Flags, defaults: AuthBenchOptions): AuthBenchOptions {
  const users = numberFlag(flags, 'users', defaults.users);
  return {
    users,
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    rate: numberFlag(flags, 'rate', defaults.rate),
    openUsers: numberFlag(flags, 'open-users', defaults.openUsers) || Math.ceil(users / 2),
    warmup: numberFlag(flags, 'warmup', defaults.warmup),
    profile: flags.profile === true || defaults.profile,
  };
}

export interface FlowRun {
  timings: FlowTiming[];
  failures: string[];
  seconds: number;
}

/**
 * Drives `flows` simulated users (open_ids from `first`) through the whole flow: `concurrency`
 * closed-loop clients, or an open loop when `rate` > 0.
 */
export async function driveFlows(
  stack: Pick<BenchStack, 'app' | 'sandbox'>,
  options: { flows: number; concurrency: number; rate: number },
  first = 0,
): Promise<FlowRun> {
  const watcher = await MessageWatcher.connect(stack.sandbox, stack.app.appId);
  const timings: FlowTiming[] = [];
  const failures: string[] = [];
  const started = Date.now();
  let lastReport = started;
  const flow = async (i: number, dueAt?: number) => {
    try {
      timings.push(await runFlow(stack.sandbox, watcher, stack.app.apiUrl, benchOpenId(first + i), dueAt));
    } catch (err) {
      failures.push((err as Error).message);
    }
    if (Date.now() - lastReport > 5_000) {
      lastReport = Date.now();
      const done = timings.length + failures.length;
      log(`${done}/${options.flows} flows (${round(done / ((lastReport - started) / 1000))}/s)`);
    }
  };
  try {
    if (options.rate > 0) await runOpenLoop(options.flows, options.rate, flow);
    else await runPool(options.flows, options.concurrency, (i) => flow(i));
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
  /** The bare baseline's worker, on the same Temporal server (dev server only). */
  bare?: { worker: ServiceProcess; temporalAddress: string; taskQueue: string };
  close(): Promise<void>;
}

async function startTarget(topology: AuthTopology, users: number, profile: boolean): Promise<AuthTarget> {
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
  const nodeFlags = profile ? { worker: profileFlags('worker'), api: profileFlags('api') } : undefined;
  const stack = await startBenchStack({ users, api: true, nodeFlags });
  const taskQueue = `${stack.app.taskQueue}-bare`;
  let worker: ServiceProcess;
  try {
    worker = await startBareWorker(stack.env, taskQueue);
  } catch (err) {
    await stack.close();
    throw err;
  }
  return {
    stack,
    pids: { worker: [stack.worker.pid], api: [stack.api!.pid], temporal: [stack.infra.temporalPid] },
    bare: { worker, temporalAddress: stack.infra.temporalAddress, taskQueue },
    close: async () => {
      await worker.stop();
      await stack.close();
    },
  };
}

/** Open-loop latencies at one arrival rate. */
export interface OpenLoopRow {
  /** The arrival rate as a share of the saturation throughput (undefined for an explicit --rate). */
  ofSaturation?: number;
  rate: number;
  completed: number;
  failed: number;
  achievedPerSecond: number;
  redirectToPageMs: Summary;
  redirectToCardMs: Summary;
  requestMs: Summary;
}

type CpuMsPerFlow = Record<string, number | undefined>;

/**
 * The whole machine's CPU per flow, ours against the bare flow's, and the best ratio ours could
 * reach: the bare flow has no API, no PostgreSQL and no Feishu calls, yet they share the same
 * cores, so even a worker and a Temporal server as cheap as the bare ones leave their cost. With
 * the machine saturated, throughput follows CPU per flow.
 */
function machineShares(ours: CpuMsPerFlow, bare: CpuMsPerFlow) {
  const ms = (v: number | undefined) => Math.max(0, v ?? 0);
  const bareMachine = ms(bare.bareWorker) + ms(bare.temporal) + ms(bare.benchAndSandbox);
  const onlyOurs =
    ms(ours.api) + ms(ours.postgres) + Math.max(0, ms(ours.benchAndSandbox) - ms(bare.benchAndSandbox));
  const ourMachine =
    ms(ours.worker) + ms(ours.temporal) + ms(ours.benchAndSandbox) + ms(ours.api) + ms(ours.postgres);
  return {
    machineCpuRatioToBare: round(bareMachine / ourMachine, 2),
    ceilingRatioToBare: round(bareMachine / (bareMachine + onlyOurs), 2),
  };
}

export async function runAuthBench(options: AuthBenchOptions, topology: AuthTopology = 'dev server') {
  log(
    `bench:auth on the ${topology} — ${options.users} users, concurrency ${options.concurrency}, open loop ${options.rate || '50 % and 80 % of saturation'} × ${options.openUsers}`,
  );
  const openRates = options.rate > 0 ? [{ rate: options.rate }] : [{ share: 0.5 }, { share: 0.8 }];
  const sandboxUsers = options.warmup + options.users + openRates.length * options.openUsers;
  if (options.profile) clearProfiles(['worker', 'api']);
  const target = await startTarget(topology, sandboxUsers, options.profile);
  /** The profiles count the saturation and open-loop runs only, not start-up or warm-up. */
  const loadWindow = { fromUs: 0, toUs: 0 };
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
  const cpu = () => ({
    worker: cpuOf('worker'),
    api: cpuOf('api'),
    temporal: cpuOf('temporal'),
    postgres: cpuSecondsByName('postgres'),
    benchAndSandbox: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    bareWorker: cpuSeconds(target.bare?.worker.pid),
  });
  const cpuPercentOver = (before: ReturnType<typeof cpu>, seconds: number) =>
    Object.fromEntries(
      Object.entries(cpu()).map(([k, v]) => [
        k,
        round((100 * (v - before[k as keyof typeof before])) / seconds, 0),
      ]),
    );
  /** CPU milliseconds each flow cost a process: robust where wall time is not, on a shared machine. */
  const cpuMsPerFlow = (before: ReturnType<typeof cpu>, flows: number) =>
    Object.fromEntries(
      Object.entries(cpu()).map(([k, v]) => [
        k,
        round((1000 * (v - before[k as keyof typeof before])) / Math.max(1, flows), 1),
      ]),
    );
  // Users (sandbox open_ids) and bare workflow ids are handed out in turn, never twice.
  let nextUser = 0;
  const take = (n: number) => {
    const first = nextUser;
    nextUser += n;
    return first;
  };
  let nextBare = 0;
  const bareFlows = (flows: number, rate = 0) =>
    driveBareFlows(target.bare!.temporalAddress, target.stack.app, target.bare!.taskQueue, {
      flows,
      concurrency: options.concurrency,
      rate,
      first: (nextBare += flows) - flows,
    });
  let result;
  try {
    if (options.warmup > 0) {
      log(`warm-up: ${options.warmup} flows of each kind`);
      const warm = {
        flows: options.warmup,
        concurrency: Math.min(options.concurrency, options.warmup),
        rate: 0,
      };
      await driveFlows(target.stack, warm, take(options.warmup));
      if (target.bare) await bareFlows(options.warmup);
    }

    log(`saturation: ${options.users} flows, ${options.concurrency} at a time`);
    loadWindow.fromUs = monotonicUs();
    const cpuBefore = cpu();
    const run = await driveFlows(
      target.stack,
      { flows: options.users, concurrency: options.concurrency, rate: 0 },
      take(options.users),
    );
    const cpuPercent = cpuPercentOver(cpuBefore, run.seconds);
    const cpuMs = cpuMsPerFlow(cpuBefore, run.timings.length);
    const flowsPerSecond = round(run.timings.length / run.seconds);

    let bare;
    if (target.bare) {
      log(`bare baseline: ${options.users} flows, ${options.concurrency} at a time`);
      const bareCpuBefore = cpu();
      const bareRun = await bareFlows(options.users);
      bare = {
        completed: bareRun.timings.length,
        failed: bareRun.failures.length,
        seconds: round(bareRun.seconds, 2),
        flowsPerSecond: round(bareRun.timings.length / bareRun.seconds),
        requestMs: summarize(bareRun.timings.map((t) => t.requestMs)),
        deliverMs: summarize(bareRun.timings.map((t) => t.deliverMs)),
        cpuPercentOfOneCore: cpuPercentOver(bareCpuBefore, bareRun.seconds),
        cpuMsPerFlow: cpuMsPerFlow(bareCpuBefore, bareRun.timings.length),
        firstFailures: [...new Set(bareRun.failures)].slice(0, 5),
      };
    }

    const openLoop: OpenLoopRow[] = [];
    for (const { rate, share } of openRates as { rate?: number; share?: number }[]) {
      const arrivals = round(rate ?? share! * flowsPerSecond, 2);
      log(`open loop: ${options.openUsers} flows arriving at ${arrivals}/s`);
      const open = await driveFlows(
        target.stack,
        { flows: options.openUsers, concurrency: 0, rate: arrivals },
        take(options.openUsers),
      );
      for (const failure of [...new Set(open.failures)].slice(0, 3)) log(`open-loop failure: ${failure}`);
      openLoop.push({
        ofSaturation: share,
        rate: arrivals,
        completed: open.timings.length,
        failed: open.failures.length,
        achievedPerSecond: round(open.timings.length / open.seconds),
        redirectToPageMs: summarize(open.timings.map((t) => t.redirectToPageMs)),
        redirectToCardMs: summarize(open.timings.map((t) => t.redirectToCardMs)),
        requestMs: summarize(open.timings.map((t) => t.requestMs)),
      });
    }

    loadWindow.toUs = monotonicUs();
    const page = summarize(run.timings.map((t) => t.redirectToPageMs));
    const card = summarize(run.timings.map((t) => t.redirectToCardMs));
    const request = summarize(run.timings.map((t) => t.requestMs));
    const total = summarize(run.timings.map((t) => t.totalMs));
    result = {
      topology,
      users: options.users,
      concurrency: options.concurrency,
      warmup: options.warmup,
      completed: run.timings.length,
      failed: run.failures.length,
      seconds: round(run.seconds, 2),
      flowsPerSecond,
      redirectToPageMs: page,
      redirectToCardMs: card,
      requestMs: request,
      flowMs: total,
      bare,
      ratioToBare: bare ? round(flowsPerSecond / bare.flowsPerSecond, 2) : undefined,
      cpuMsPerFlow: cpuMs,
      /** The bare flow's CPU (its worker + Temporal) over ours (worker + API + Temporal), per flow. */
      cpuRatioToBare: bare
        ? round(
            (bare.cpuMsPerFlow.bareWorker! + bare.cpuMsPerFlow.temporal!) /
              (cpuMs.worker! + cpuMs.api! + cpuMs.temporal!),
            2,
          )
        : undefined,
      ...(bare ? machineShares(cpuMs, bare.cpuMsPerFlow) : {}),
      openLoop,
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
      ...(bare
        ? ([
            [
              'bare workflow flows/s (completed / failed)',
              `${bare.flowsPerSecond}   (${bare.completed} / ${bare.failed})`,
            ],
            ['ratio to bare', `${result.ratioToBare}   (target ≥ 0.9)`],
            [
              'CPU ms per flow: worker / API / Temporal',
              `${cpuMs.worker} / ${cpuMs.api} / ${cpuMs.temporal}`,
            ],
            [
              'CPU ms per bare flow: worker / Temporal',
              `${bare.cpuMsPerFlow.bareWorker} / ${bare.cpuMsPerFlow.temporal}`,
            ],
            ['CPU ratio to bare (bare CPU / ours, per flow)', `${result.cpuRatioToBare}`],
            ['machine CPU ratio (bare flow / ours, all processes)', `${result.machineCpuRatioToBare}`],
            [
              'ceiling: ratio if worker and Temporal cost what bare does',
              `${result.ceilingRatioToBare}   (API, PostgreSQL and Feishu share the cores)`,
            ],
            ['bare second update p50 / p99', `${bare.deliverMs.p50} / ${bare.deliverMs.p99} ms`],
          ] as [string, string][])
        : []),
      ['redirect → page p50 / p99', `${page.p50} / ${page.p99} ms`],
      ['redirect → card updated p50 / p99', `${card.p50} / ${card.p99} ms`],
      ['POST /v1/authorizations p50 / p99', `${request.p50} / ${request.p99} ms`],
      ['whole flow p50 / p99', `${total.p50} / ${total.p99} ms`],
      ['peak RSS per worker / API', `${result.workerPeakRssMb} / ${result.apiPeakRssMb} MB`],
      ['peak RSS Temporal server', `${result.temporalPeakRssMb} MB`],
      [
        'CPU % of a core (worker/API/Temporal/PG/bench+sandbox)',
        Object.values(cpuPercent).slice(0, 5).join(' / '),
      ],
      ['load average (1/5/15 min)', result.loadAverage.join(' ')],
    ]);
    printOpenLoop(openLoop);
    for (const failure of result.firstFailures) log(`failure: ${failure}`);
  } finally {
    rss.stop();
    await target.close();
  }
  // The profiles are written as the services exit.
  if (options.profile && topology === 'dev server') printProfiles(['worker', 'api'], loadWindow);
  return result;
}

function printOpenLoop(rows: OpenLoopRow[]): void {
  const header = [
    'arrivals/s',
    'of saturation',
    'done/failed',
    'page p50',
    'page p99',
    'card p50',
    'card p99',
  ];
  const cells = rows.map((r) => [
    String(r.rate),
    r.ofSaturation === undefined ? '—' : `${r.ofSaturation * 100} %`,
    `${r.completed}/${r.failed}`,
    String(r.redirectToPageMs.p50),
    String(r.redirectToPageMs.p99),
    String(r.redirectToCardMs.p50),
    String(r.redirectToCardMs.p99),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ');
  process.stdout.write(
    [
      '\nopen loop: redirect → page and → card (ms); target page p99 ≤ 300 at 80 % of saturation',
      line(header),
      ...cells.map(line),
    ].join('\n') + '\n',
  );
}

/**
 * `--cluster`: the same flows on the dev server, then on the production topology (Temporal server
 * on PostgreSQL, two workers, two API replicas behind the load balancer), side by side.
 */
async function compareWithCluster(options: AuthBenchOptions) {
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
  return { devServer: dev, cluster };
}

export const AUTH_DEFAULTS: AuthBenchOptions = {
  users: 300,
  concurrency: 50,
  rate: 0,
  openUsers: 0,
  warmup: 20,
  profile: false,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const flags = parseFlags();
  const options = authOptions(flags, AUTH_DEFAULTS);
  (flags.cluster
    ? compareWithCluster(options).then((result) => printJson('auth-cluster', result))
    : runAuthBench(options).then((result) => printJson('auth', result))
  ).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:auth failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
