import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { driveFlows } from './auth.ts';
import { closedLoop, type LoadPhase, type LoadResult, type Reply } from './http-load.ts';
import { BENCH_API_KEY, benchOpenId, cpuSeconds } from './provision.ts';
import { startBenchStack } from './stack.ts';
import {
  log,
  numberFlag,
  parseFlags,
  printJson,
  printTable,
  round,
  runBenchCommand,
  summarize,
  type Flags,
} from './stats.ts';

export interface ProxyBenchOptions {
  /** Users authorized (through the whole flow) before the load starts. */
  users: number;
  /** Concurrent clients, each with one keep-alive connection, in both phases. */
  concurrency: number;
  /** Measured seconds of each phase, after `warmup` seconds that are not counted. */
  seconds: number;
  warmup: number;
}

export function proxyOptions(flags: Flags, defaults: ProxyBenchOptions): ProxyBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    seconds: numberFlag(flags, 'seconds', defaults.seconds),
    warmup: numberFlag(flags, 'warmup', defaults.warmup),
  };
}

/** The user-token API both phases call: the user's own profile. */
const FEISHU_PATH = '/open-apis/authen/v1/user_info';

const feishuOk = (reply: Reply) => reply.status === 200 && reply.body.startsWith('{"code":0');

/** Per measured phase: throughput, latency and the API's CPU (the proxy's cost; the sandbox runs here). */
function phaseSummary(result: LoadResult, apiCpuSeconds: number) {
  return {
    requests: result.ok,
    requestsPerSecond: round(result.ok / result.seconds, 0),
    latencyMs: summarize(result.latencies),
    errors: result.errors,
    apiCpuPercentOfOneCore: round((100 * apiCpuSeconds) / result.seconds, 0),
  };
}

/**
 * `npm run bench:proxy`: the same Feishu call (user_info, with the user's token) made directly to
 * the sandbox and then through the proxy, by the same clients in one run; what the proxy adds is
 * the difference.
 */
export async function runProxyBench(options: ProxyBenchOptions) {
  log(
    `bench:proxy — ${options.users} users, ${options.concurrency} clients, ${options.seconds}s per phase (+${options.warmup}s warm-up)`,
  );
  const unlimited = String(1_000_000_000);
  const stack = await startBenchStack({
    users: options.users,
    api: true,
    // The proxy's own limits would measure themselves; audit lines are written as in production.
    workerEnv: {
      LOG_LEVEL: 'info',
      PROXY_REQUESTS_PER_MINUTE: unlimited,
      PROXY_REQUEST_BURST: unlimited,
      PROXY_USER_REQUESTS_PER_MINUTE: unlimited,
      PROXY_USER_REQUEST_BURST: unlimited,
    },
  });
  try {
    log(`authorizing ${options.users} users through the whole flow`);
    const seeded = await driveFlows(stack, { flows: options.users, concurrency: 25, rate: 0 });
    if (seeded.timings.length < options.users)
      throw new Error(`not every user was authorized: ${seeded.failures[0]}`);
    const openIds = Array.from({ length: options.users }, (_, i) => benchOpenId(i));
    // The direct phase needs what the proxy keeps to itself: the tokens, read with the token key.
    const tokens = await Promise.all(
      openIds.map(async (openId) => {
        const res = await fetch(`${stack.app.apiUrl}/v1/users/${openId}/token`, {
          headers: { authorization: `Bearer ${BENCH_API_KEY}` },
        });
        return ((await res.json()) as { access_token: string }).access_token;
      }),
    );
    const refreshesBefore = stack.sandbox.state.tokenEvents().length;
    const apiPid = stack.api!.pid;
    const common = { concurrency: options.concurrency, warmup: options.warmup, seconds: options.seconds };
    const measure = async (name: string, baseUrl: string, phase: Omit<LoadPhase, keyof typeof common>) => {
      log(`loading ${name}`);
      let cpuBefore = 0;
      let cpuAfter = 0;
      const result = await closedLoop(baseUrl, {
        ...common,
        ...phase,
        onWindow: (edge) => {
          if (edge === 'start') cpuBefore = cpuSeconds(apiPid);
          else cpuAfter = cpuSeconds(apiPid);
        },
      });
      return phaseSummary(result, cpuAfter - cpuBefore);
    };
    const direct = await measure(`${FEISHU_PATH} on the sandbox`, stack.sandbox.url, {
      request: (i) => ({
        path: FEISHU_PATH,
        headers: { authorization: `Bearer ${tokens[i % tokens.length]!}` },
      }),
      succeeded: feishuOk,
    });
    const proxied = await measure(`${FEISHU_PATH} through the proxy`, stack.app.apiUrl, {
      request: (i) => ({
        path: `/v1/users/${openIds[i % openIds.length]!}/proxy${FEISHU_PATH}`,
        headers: { authorization: `Bearer ${BENCH_API_KEY}` },
      }),
      succeeded: feishuOk,
    });
    const out = {
      users: options.users,
      concurrency: options.concurrency,
      secondsPerPhase: options.seconds,
      feishuPath: FEISHU_PATH,
      direct,
      proxied,
      addedLatencyMs: {
        p50: round(proxied.latencyMs.p50 - direct.latencyMs.p50),
        p99: round(proxied.latencyMs.p99 - direct.latencyMs.p99),
      },
      tokenCallsDuringLoad: stack.sandbox.state.tokenEvents().length - refreshesBefore,
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      cpus: os.cpus().length,
    };
    printTable(
      `bench:proxy (${options.users} users, ${options.concurrency} clients, ${options.seconds}s per phase)`,
      [
        ['', 'direct to the sandbox  |  through the proxy'],
        ['requests/s', `${direct.requestsPerSecond}  |  ${proxied.requestsPerSecond}`],
        ['latency p50 (ms)', `${direct.latencyMs.p50}  |  ${proxied.latencyMs.p50}`],
        ['latency p99 (ms)', `${direct.latencyMs.p99}  |  ${proxied.latencyMs.p99}`],
        ['errors', `${JSON.stringify(direct.errors)}  |  ${JSON.stringify(proxied.errors)}`],
        ['API CPU % of a core', `—  |  ${proxied.apiCpuPercentOfOneCore}`],
        ['added latency p50 / p99 (ms)', `${out.addedLatencyMs.p50} / ${out.addedLatencyMs.p99}`],
        ['token calls during load (want 0)', out.tokenCallsDuringLoad],
        ['load average (1/5/15 min)', out.loadAverage.join(' ')],
      ],
    );
    printJson('proxy', out);
    return out;
  } finally {
    await stack.close();
  }
}

export const PROXY_DEFAULTS: ProxyBenchOptions = { users: 20, concurrency: 20, seconds: 10, warmup: 2 };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchCommand('proxy', () => runProxyBench(proxyOptions(parseFlags(), PROXY_DEFAULTS)));
}
