import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { driveFlows } from './auth.ts';
import { BENCH_API_KEY, benchOpenId, cpuSeconds, cpuSecondsByName, RssSampler } from './provision.ts';
import { startBenchStack } from './stack.ts';
import {
  log,
  mb,
  numberFlag,
  parseFlags,
  printJson,
  printTable,
  round,
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
}

export function tokenOptions(flags: Flags, defaults: TokenBenchOptions): TokenBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    seconds: numberFlag(flags, 'seconds', defaults.seconds),
    warmup: numberFlag(flags, 'warmup', defaults.warmup),
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

/** `concurrency` closed-loop clients asking for the tokens of `users` users in turn. */
async function load(
  apiUrl: string,
  apiPid: number,
  openIds: string[],
  options: TokenBenchOptions,
): Promise<LoadResult> {
  const url = new URL(apiUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let ok = 0;
  let measuring = false;
  let stop = false;
  let next = 0;
  const clients = Array.from({ length: options.concurrency }, async () => {
    while (!stop) {
      const openId = openIds[next++ % openIds.length]!;
      const t0 = performance.now();
      try {
        const reply = await get(agent, url, `/v1/users/${openId}/token`);
        const ms = performance.now() - t0;
        if (!measuring) continue;
        if (reply.status === 200 && reply.body.includes('"access_token"')) {
          ok++;
          latencies.push(ms);
        } else {
          const key = `http_${reply.status}`;
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      } catch (err) {
        if (!measuring) continue;
        const key = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  });
  await sleep(options.warmup * 1000);
  measuring = true;
  const started = performance.now();
  const cpuBefore = cpuNow(apiPid);
  await sleep(options.seconds * 1000);
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuNow(apiPid);
  stop = true;
  await Promise.all(clients);
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

export async function runTokenBench(options: TokenBenchOptions) {
  log(
    `bench:token — ${options.users} users, ${options.concurrency} clients, ${options.seconds}s (+${options.warmup}s warm-up)`,
  );
  const stack = await startBenchStack({ users: options.users, api: true });
  const rss = new RssSampler({ api: stack.api!.pid });
  try {
    log(`authorizing ${options.users} users through the whole flow`);
    const seeded = await driveFlows(stack, { users: options.users, concurrency: 25, rate: 0 });
    if (seeded.timings.length === 0) throw new Error(`no user was authorized: ${seeded.failures[0]}`);
    const openIds = Array.from({ length: options.users }, (_, i) => benchOpenId(i));
    const refreshesBefore = refreshCount(stack.sandbox.state.tokenEvents());
    log('loading GET /v1/users/:openId/token');
    const result = await load(stack.app.apiUrl, stack.api!.pid, openIds, options);
    const refreshes = refreshCount(stack.sandbox.state.tokenEvents()) - refreshesBefore;
    const latency = summarize(result.latencies);
    const out = {
      users: options.users,
      authorized: seeded.timings.length,
      concurrency: options.concurrency,
      seconds: round(result.seconds, 2),
      requests: result.ok,
      requestsPerSecond: round(result.ok / result.seconds, 0),
      latencyMs: latency,
      errors: Object.fromEntries(result.errors),
      refreshesDuringLoad: refreshes,
      cpuPercentOfOneCore: result.cpuPercent,
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      apiPeakRssMb: mb(rss.peakKb('api')),
    };
    printTable(`bench:token (${options.users} users, ${options.concurrency} clients, ${options.seconds}s)`, [
      ['fresh-token requests', out.requests],
      ['requests/s', `${out.requestsPerSecond}   (target ≥ 3000)`],
      ['latency p50 / p99 / max', `${latency.p50} / ${latency.p99} / ${latency.max} ms   (target p99 ≤ 10)`],
      ['errors', JSON.stringify(out.errors)],
      ['refreshes during load (want 0)', refreshes],
      [
        'CPU % of a core: API / PostgreSQL / load generator',
        `${result.cpuPercent.api} / ${result.cpuPercent.postgres} / ${result.cpuPercent.loadGenerator}`,
      ],
      ['load average (1/5/15 min)', out.loadAverage.join(' ')],
      ['peak RSS API', `${out.apiPeakRssMb} MB`],
    ]);
    printJson('token', out);
    return out;
  } finally {
    rss.stop();
    await stack.close();
  }
}

const refreshCount = (events: { grantType: string }[]): number =>
  events.filter((e) => e.grantType === 'refresh_token').length;

export const TOKEN_DEFAULTS: TokenBenchOptions = { users: 100, concurrency: 50, seconds: 15, warmup: 3 };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runTokenBench(tokenOptions(parseFlags(), TOKEN_DEFAULTS)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:token failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
