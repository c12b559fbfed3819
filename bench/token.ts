import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { driveFlows } from './auth.ts';
import { BENCH_API_KEY, benchOpenId, cpuSeconds, cpuSecondsByName, RssSampler } from './provision.ts';
import { startBareTokenServer } from './bare/index.ts';
import { clearProfiles, monotonicUs, printProfiles, profileFlags } from './profile.ts';
import { startBenchStack } from './stack.ts';
import {
  log,
  mb,
  numberFlag,
  parseFlags,
  printJson,
  runBenchCommand,
  printTable,
  round,
  runOpenLoop,
  sleep,
  summarize,
  type Flags,
} from './stats.ts';

export interface TokenBenchOptions {
  /** Users authorized (through the whole flow) before the load starts. */
  users: number;
  /** Concurrent clients, each with one keep-alive connection. */
  concurrency: number;
  /** Measured seconds, after `warmup` seconds that are not counted. */
  seconds: number;
  warmup: number;
  /** Open-loop requests per second; 0: 50 % and 80 % of saturation, and 3,000. */
  rate: number;
  /** Runs the API under node --cpu-prof and prints its top functions. */
  profile: boolean;
}

export function tokenOptions(flags: Flags, defaults: TokenBenchOptions): TokenBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    seconds: numberFlag(flags, 'seconds', defaults.seconds),
    warmup: numberFlag(flags, 'warmup', defaults.warmup),
    rate: numberFlag(flags, 'rate', defaults.rate),
    profile: flags.profile === true || defaults.profile,
  };
}

interface Reply {
  status: number;
  body: string;
}

function get(agent: http.Agent, url: URL, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${BENCH_API_KEY}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface LoadResult {
  latencies: number[];
  ok: number;
  errors: Map<string, number>;
  seconds: number;
  /** Percent of one core during the measured window. */
  cpuPercent: Record<'api' | 'postgres' | 'loadGenerator', number>;
}

/** Where the load goes: the API, or the bare route beside it. */
interface LoadTarget {
  url: string;
  pid: number;
}

/**
 * Asks for the tokens of `openIds` in turn for `warmup` + `seconds` seconds, counting only the
 * last `seconds`: `concurrency` closed-loop clients, or, when `rate` > 0, an open loop of `rate`
 * requests a second whose latency counts from each request's due time.
 */
async function load(
  target: LoadTarget,
  openIds: string[],
  options: TokenBenchOptions,
  rate = 0,
): Promise<LoadResult> {
  const url = new URL(target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let ok = 0;
  let measuring = false;
  let next = 0;
  const one = async (dueAt: number, counted: () => boolean) => {
    const openId = openIds[next++ % openIds.length]!;
    try {
      const reply = await get(agent, url, `/v1/users/${openId}/token`);
      const ms = performance.now() - dueAt;
      if (!counted()) return;
      if (reply.status === 200 && reply.body.includes('"access_token"')) {
        ok++;
        latencies.push(ms);
      } else {
        const key = `http_${reply.status}`;
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    } catch (err) {
      if (!counted()) return;
      const key = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
  };
  let stop = false;
  const loadStarted = performance.now();
  const measureFrom = loadStarted + options.warmup * 1000;
  const done =
    rate > 0
      ? runOpenLoop(Math.round(rate * (options.warmup + options.seconds)), rate, (_, dueAt) =>
          one(dueAt, () => dueAt >= measureFrom),
        )
      : Promise.all(
          Array.from({ length: options.concurrency }, async () => {
            while (!stop) await one(performance.now(), () => measuring);
          }),
        );
  await sleep(options.warmup * 1000);
  measuring = true;
  const started = performance.now();
  const cpuBefore = cpuNow(target.pid);
  if (rate > 0) await done;
  else await sleep(options.seconds * 1000);
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuNow(target.pid);
  stop = true;
  await done;
  agent.destroy();
  const share = (k: keyof CpuSnapshot) => round((100 * (cpuAfter[k] - cpuBefore[k])) / seconds, 0);
  return {
    latencies,
    ok,
    errors,
    seconds,
    cpuPercent: { api: share('api'), postgres: share('postgres'), loadGenerator: share('self') },
  };
}

interface CpuSnapshot {
  api: number;
  postgres: number;
  self: number;
}

function cpuNow(apiPid: number): CpuSnapshot {
  const self = process.cpuUsage();
  return {
    api: cpuSeconds(apiPid),
    postgres: cpuSecondsByName('postgres'),
    self: (self.user + self.system) / 1e6,
  };
}

/** One load's figures, as the table and BENCH_RESULT show them. */
function figures(result: LoadResult) {
  return {
    seconds: round(result.seconds, 2),
    requests: result.ok,
    requestsPerSecond: round(result.ok / result.seconds, 0),
    latencyMs: summarize(result.latencies),
    errors: Object.fromEntries(result.errors),
    cpuPercentOfOneCore: result.cpuPercent,
  };
}

export async function runTokenBench(options: TokenBenchOptions) {
  log(
    `bench:token — ${options.users} users, ${options.concurrency} clients, ${options.seconds}s (+${options.warmup}s warm-up) per load`,
  );
  if (options.profile) clearProfiles(['api']);
  const loadWindow = { fromUs: 0, toUs: 0 };
  const stack = await startBenchStack({
    users: options.users,
    api: true,
    nodeFlags: options.profile ? { api: profileFlags('api') } : undefined,
  });
  const rss = new RssSampler({ api: stack.api!.pid });
  let out;
  try {
    const bare = await startBareTokenServer(stack.env);
    try {
      log(`authorizing ${options.users} users through the whole flow`);
      const seeded = await driveFlows(stack, { flows: options.users, concurrency: 25, rate: 0 });
      if (seeded.timings.length === 0) throw new Error(`no user was authorized: ${seeded.failures[0]}`);
      const openIds = Array.from({ length: options.users }, (_, i) => benchOpenId(i));
      const refreshesBefore = refreshCount(stack.sandbox.state.tokenEvents());
      const api = { url: stack.app.apiUrl, pid: stack.api!.pid };
      log('saturation: GET /v1/users/:openId/token');
      loadWindow.fromUs = monotonicUs();
      const saturated = figures(await load(api, openIds, options));
      log('saturation: the bare route');
      const bareSaturated = figures(await load({ url: bare.url, pid: bare.process.pid }, openIds, options));
      const rates =
        options.rate > 0
          ? [{ rate: options.rate }]
          : [
              { share: 0.5, rate: round(0.5 * saturated.requestsPerSecond, 0) },
              { share: 0.8, rate: round(0.8 * saturated.requestsPerSecond, 0) },
              { rate: TARGET_RATE },
            ];
      const openLoop = [];
      for (const { share, rate } of rates as { share?: number; rate: number }[]) {
        log(`open loop: ${rate} req/s`);
        openLoop.push({ ofSaturation: share, rate, ...figures(await load(api, openIds, options, rate)) });
      }
      loadWindow.toUs = monotonicUs();
      const refreshes = refreshCount(stack.sandbox.state.tokenEvents()) - refreshesBefore;
      out = {
        users: options.users,
        authorized: seeded.timings.length,
        concurrency: options.concurrency,
        ...saturated,
        bare: bareSaturated,
        ratioToBare: round(saturated.requestsPerSecond / bareSaturated.requestsPerSecond, 2),
        openLoop,
        refreshesDuringLoad: refreshes,
        loadAverage: os.loadavg().map((l) => round(l, 2)),
        apiPeakRssMb: mb(rss.peakKb('api')),
      };
      const latency = saturated.latencyMs;
      const cpu = saturated.cpuPercentOfOneCore;
      printTable(
        `bench:token (${options.users} users, ${options.concurrency} clients, ${options.seconds}s)`,
        [
          ['fresh-token requests', out.requests],
          ['requests/s', `${out.requestsPerSecond}   (target ≥ 3000)`],
          ['bare route requests/s', bareSaturated.requestsPerSecond],
          ['ratio to bare', out.ratioToBare],
          ['latency p50 / p99 / max', `${latency.p50} / ${latency.p99} / ${latency.max} ms`],
          [
            'bare route latency p50 / p99',
            `${bareSaturated.latencyMs.p50} / ${bareSaturated.latencyMs.p99} ms`,
          ],
          ['errors', JSON.stringify(out.errors)],
          ['refreshes during load (want 0)', refreshes],
          [
            'CPU % of a core: API / PostgreSQL / load generator',
            `${cpu.api} / ${cpu.postgres} / ${cpu.loadGenerator}`,
          ],
          ['load average (1/5/15 min)', out.loadAverage.join(' ')],
          ['peak RSS API', `${out.apiPeakRssMb} MB`],
        ],
      );
      printTable(
        `open loop (target p99 ≤ 10 ms at ${TARGET_RATE} req/s)`,
        openLoop.map((r) => [
          `${r.rate} req/s${r.ofSaturation ? ` (${r.ofSaturation * 100} % of saturation)` : ''}`,
          `achieved ${r.requestsPerSecond}/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, errors ${JSON.stringify(r.errors)}`,
        ]),
      );
    } finally {
      await bare.process.stop();
    }
  } finally {
    rss.stop();
    await stack.close();
  }
  if (options.profile) printProfiles(['api'], loadWindow);
  return out;
}

/** The token API's goal: p99 ≤ 10 ms at this many requests a second. */
const TARGET_RATE = 3000;

const refreshCount = (events: { grantType: string }[]): number =>
  events.filter((e) => e.grantType === 'refresh_token').length;

export const TOKEN_DEFAULTS: TokenBenchOptions = {
  users: 100,
  concurrency: 50,
  seconds: 15,
  warmup: 3,
  rate: 0,
  profile: false,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchCommand('token', () =>
    runTokenBench(tokenOptions(parseFlags(), TOKEN_DEFAULTS)).then((result) => printJson('token', result)),
  );
}
