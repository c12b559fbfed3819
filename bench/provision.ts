import { freePort } from '../scripts/stack/free-port.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../db/migrate.ts';
import { startSandbox, type Lifetimes, type Sandbox } from '../sandbox/index.ts';
import { ensureLocalPostgres } from '../scripts/stack/postgres.ts';
import { waitFor } from '../scripts/stack/run.ts';
import { findOrBuildTemporalCli } from '../scripts/stack/temporal-cli.ts';
import { ensureDevServer } from '../scripts/stack/temporal-server.ts';
import { log, sleep } from './stats.ts';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const logDir = path.join(root, '.data', 'bench');

/**
 * Bench-only names, so benchmarks run beside `npm start` (7233) and `npm test` (a free port of its
 * own). BENCH_DATABASE and BENCH_TEMPORAL_PORT move them, so two benchmarks can run side by side
 * (each drops and recreates its database).
 */
export const BENCH_DATABASE = process.env.BENCH_DATABASE || 'feishu_user_auth_bench';
export const BENCH_TEMPORAL_PORT = Number(process.env.BENCH_TEMPORAL_PORT) || 27233;
export const BENCH_API_KEY = 'bench-token-key-0123456789abcdef';

export interface Infra {
  databaseUrl: string;
  temporalAddress: string;
  /** The Temporal dev server's pid, for its RSS (undefined if it cannot be found). */
  temporalPid: number | undefined;
  stop(): Promise<void>;
}

/** Where one tool's infrastructure lives; the benchmarks' by default. */
export interface InfraNames {
  database: string;
  temporalPort: number;
  logDir: string;
}

/** A fresh database with migrations, and an in-memory Temporal dev server on its own port. */
export async function provisionInfra(
  names: InfraNames = { database: BENCH_DATABASE, temporalPort: BENCH_TEMPORAL_PORT, logDir },
): Promise<Infra> {
  const pg = await ensureLocalPostgres(names.database, { fresh: true });
  await migrate(pg.databaseUrl);
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: names.temporalPort,
    logFile: path.join(names.logDir, 'temporal.log'),
    namespace: 'default',
  });
  return {
    databaseUrl: pg.databaseUrl,
    temporalAddress: server.address,
    temporalPid: server.child?.pid ?? findPidByArg(`${names.temporalPort}`, 'temporal'),
    // PostgreSQL stays up even when this process started it: `npm test` or `npm start` may be using it now.
    stop: () => server.stop(),
  };
}

/** A process whose command line mentions `needle` and whose executable name contains `exe`. */
function findPidByArg(needle: string, exe: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args[0]?.includes(exe) && args.includes(needle)) return Number(entry);
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
}

export interface Memory {
  /** Current resident set (KiB). */
  rssKb: number;
  /** Peak resident set since the process started (KiB). */
  hwmKb: number;
}

export function memoryOf(pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

export interface BenchApp {
  appId: string;
  appSecret: string;
  apiPort: number;
  apiUrl: string;
  taskQueue: string;
  encryptionKeys: string;
  codecKeys: string;
}

export async function newBenchApp(): Promise<BenchApp> {
  const apiPort = await freePort();
  return {
    appId: `cli_${randomBytes(8).toString('hex')}`,
    appSecret: randomBytes(16).toString('hex'),
    apiPort,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    taskQueue: `bench-${randomBytes(4).toString('hex')}`,
    encryptionKeys: `k1:${randomBytes(32).toString('base64')}`,
    codecKeys: `c1:${randomBytes(32).toString('base64')}`,
  };
}

/** open_ids of the simulated users: fixed, so the sandbox's per-user lookups stay cheap at 10,000 users. */
export const benchOpenId = (i: number): string => `ou_bench${String(i).padStart(6, '0')}`;

/** The Feishu sandbox in this process, with `users` simulated users and the rate limits off by default. */
export function startBenchSandbox(
  app: BenchApp,
  users: number,
  options: { lifetimes?: Partial<Lifetimes>; rateLimits?: boolean; random?: () => number } = {},
): Promise<Sandbox> {
  return startSandbox({
    apps: [
      {
        appId: app.appId,
        appSecret: app.appSecret,
        redirectUris: [`${app.apiUrl}/oauth/callback`],
        callback: { mode: 'ws' },
      },
    ],
    users: Array.from({ length: users }, (_, i) => ({
      openId: benchOpenId(i),
      name: `用户${i}`,
      enName: `User ${i}`,
    })),
    lifetimes: options.lifetimes,
    rateLimits: options.rateLimits ?? false,
    random: options.random,
  });
}

/** The environment `npm run api` / `npm run worker` read (lib/config.ts). */
export function serviceEnv(
  app: BenchApp,
  infra: Pick<Infra, 'databaseUrl' | 'temporalAddress'>,
  sandboxUrl: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FEISHU_APP_ID: app.appId,
    FEISHU_APP_SECRET: app.appSecret,
    FEISHU_DOMAIN: sandboxUrl,
    FEISHU_OAUTH_DOMAIN: sandboxUrl,
    FEISHU_CALLBACK_MODE: 'ws',
    PUBLIC_BASE_URL: app.apiUrl,
    PORT: String(app.apiPort),
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: app.taskQueue,
    TOKEN_ENCRYPTION_KEYS: app.encryptionKeys,
    PAYLOAD_CODEC_KEYS: app.codecKeys,
    API_KEYS: `bench:token:${BENCH_API_KEY}`,
    LOG_LEVEL: 'warn',
    // The benchmarks measure the service, not the per-key limit on new authorizations.
    AUTHORIZATION_REQUESTS_PER_MINUTE: '1000000',
    AUTHORIZATION_REQUEST_BURST: '100000',
    ...extra,
  };
}

export interface ServiceProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
  /** Kills it with a signal (SIGKILL for a crash) and waits until it is gone; it stays down. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /** The entry point, relative to the repository; the service's own main by default. */
  script?: string;
  /** Extra Node flags, e.g. --cpu-prof (see --profile in bench:auth). */
  nodeFlags?: string[];
  /**
   * A folder laid out as the image's /app (dist/, production node_modules, the entrypoint): the
   * compiled entry point runs the way the image's entrypoint and command run it.
   */
  image?: string;
  /** Where its output goes (`.data/bench/<name>.log` by default); `append` keeps a predecessor's lines. */
  logFile?: string;
  append?: boolean;
}

const SERVICE_SCRIPTS: Record<string, string> = { api: 'api/main.ts', worker: 'workers/main.ts' };

/**
 * Runs api/main.ts, workers/main.ts or another entry point as its own Node process (as `npm run
 * api|worker` would), or from an image's folder (SpawnOptions.image); its output goes to
 * SpawnOptions.logFile.
 */
export function spawnService(
  name: string,
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): ServiceProcess {
  const logFile = options.logFile ?? path.join(logDir, `${name}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = createWriteStream(logFile, { flags: options.append ? 'a' : 'w' });
  const script = options.script ?? SERVICE_SCRIPTS[name];
  if (!script) throw new Error(`no entry point for ${name}`);
  const nodeFlags = options.nodeFlags ?? [];
  const [command, args] = options.image
    ? [
        '/bin/sh',
        [
          'deploy/docker-entrypoint.sh',
          process.execPath,
          ...nodeFlags,
          `dist/${script.replace(/\.ts$/, '.js')}`,
        ],
      ]
    : [process.execPath, [...nodeFlags, '--import', 'tsx', script]];
  const child = spawn(command, args, { cwd: options.image ?? root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  if (child.pid === undefined) throw new Error(`could not start the ${name}`);
  const pid = child.pid;
  let exited = false;
  let expected = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      if (!expected) log(`${name} exited unexpectedly (${signal ?? `code ${code}`}); see ${logFile}`);
      resolve();
    }),
  );
  return {
    name,
    pid,
    child,
    logFile,
    stop: async () => {
      expected = true;
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
    kill: async (signal) => {
      expected = true;
      if (!exited) child.kill(signal);
      await gone;
    },
  };
}

/** Fails as soon as the process exits, instead of waiting out the deadline. */
function orExit<T>(service: ServiceProcess, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      const fail = () => reject(new Error(`the ${service.name} exited; see ${service.logFile}`));
      if (service.child.exitCode !== null) fail();
      else service.child.once('exit', fail);
    }),
  ]);
}

export async function waitForApi(apiUrl: string, service: ServiceProcess): Promise<void> {
  await orExit(
    service,
    waitFor(`the API (log: ${service.logFile})`, async () => (await fetch(`${apiUrl}/readyz`)).ok, 90_000),
  );
}

/** The worker is ready once its metrics server listens (it starts after the workers are created). */
export async function waitForWorker(metricsPort: number, service: ServiceProcess): Promise<void> {
  await orExit(
    service,
    waitFor(
      `the worker (log: ${service.logFile})`,
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok,
      120_000,
    ),
  );
  // Pollers start right after the metrics server; give them a moment.
  await sleep(500);
}

/** Samples the resident set of some processes every `everyMs`, keeping each one's peak. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: Record<string, number | undefined>,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.sample();
  }

  sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const mem = memoryOf(pid);
      if (mem) this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, mem.rssKb, mem.hwmKb));
    }
  }

  /** Peak RSS in KiB (VmHWM and sampled VmRSS, whichever is higher). */
  peakKb(name: string): number {
    this.sample();
    return this.peaks.get(name) ?? NaN;
  }

  currentKb(name: string): number {
    return memoryOf(this.pids[name])?.rssKb ?? NaN;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** CPU seconds (user + system) a process has used so far; NaN when it cannot be read. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = 100;

/** CPU seconds used by every process whose command name is `name` (e.g. all PostgreSQL backends). */
export function cpuSecondsByName(name: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === name)
        total += cpuSeconds(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}
