import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrate } from '../../../db/migrate.ts';
import {
  BENCH_API_KEY,
  benchOpenId,
  newBenchApp,
  root,
  serviceEnv,
  spawnService,
  startBenchSandbox,
  type BenchApp,
  type ServiceProcess,
} from '../../../bench/provision.ts';
import type { Lifetimes, Sandbox } from '../../../sandbox/index.ts';
import { freePort, freePorts } from '../../../scripts/stack/free-port.ts';
import { waitFor } from '../../../scripts/stack/run.ts';
import { findOrBuildTemporalCli } from '../../../scripts/stack/temporal-cli.ts';
import { ensureDevServer, type RunningServer } from '../../../scripts/stack/temporal-server.ts';
import { startOwnedPostgres, type OwnedPostgres } from './postgres.ts';

export const CHAOS_API_KEY = BENCH_API_KEY;
export const chaosOpenId = benchOpenId;

export type ProcessName = 'worker-1' | 'worker-2' | 'api';

/** Short lifetimes, so every grant that lives a few minutes refreshes several times. */
export const CHAOS_LIFETIMES: Partial<Lifetimes> = { accessTokenSeconds: 20, refreshTokenSeconds: 150 };

/** Grant settings of the service under chaos, by environment (lib/config.ts). */
const CHAOS_SETTINGS = {
  // Long enough that a card outlives the restarts a loaded machine takes (let_expire asks for 30 s).
  AUTH_EXPIRY_SECONDS: '300',
  REFRESH_LEAD_SECONDS: '90',
  REFRESH_JITTER_SECONDS: '10',
  ACCESS_TOKEN_MARGIN_SECONDS: '5',
  // One key stands for every service asking: the run is about faults, not our own rate limit.
  AUTHORIZATION_REQUESTS_PER_MINUTE: '600',
  AUTHORIZATION_REQUEST_BURST: '100',
  USER_CARD_REQUESTS_PER_MINUTE: '600',
  LOG_LEVEL: 'debug',
};

/**
 * What `npm start` runs, each part on a port and in a directory of the run's own, every part
 * killable: a PostgreSQL cluster in a temporary directory, the Temporal dev server on a SQLite file
 * (so a restart keeps its workflows), two workers and the API as child processes, and the Feishu
 * sandbox in this process (it is Feishu: it does not crash, it misbehaves).
 */
export class ChaosStack {
  readonly logFiles: string[] = [];
  private readonly processes = new Map<ProcessName, ServiceProcess>();
  private readonly down = new Set<ProcessName>();
  private stopping = false;

  private constructor(
    readonly app: BenchApp,
    readonly sandbox: Sandbox,
    readonly postgres: OwnedPostgres,
    private temporal: RunningServer,
    private readonly temporalOptions: Parameters<typeof ensureDevServer>[0],
    private readonly env: NodeJS.ProcessEnv,
    private readonly metricsPorts: Record<ProcessName, [number, number]>,
    readonly dir: string,
  ) {}

  static async start(users: number, random: () => number): Promise<ChaosStack> {
    const dir = path.join(tmpdir(), `feishu-chaos-${process.pid}`);
    const postgres = await startOwnedPostgres(path.join(dir, 'postgres'), await freePort());
    try {
      await migrate(postgres.databaseUrl);
      const temporalOptions = {
        cli: await findOrBuildTemporalCli(),
        port: await freePort(),
        dbFile: path.join(dir, 'temporal.db'),
        logFile: path.join(root, '.data', 'chaos', 'temporal.log'),
        namespace: 'default',
      };
      const temporal = await ensureDevServer(temporalOptions);
      const app = await newBenchApp();
      const sandbox = await startBenchSandbox(app, users, {
        lifetimes: CHAOS_LIFETIMES,
        rateLimits: true,
        random,
      });
      const [a, b, c, d, e] = await freePorts(5);
      const metricsPorts = { 'worker-1': [a!, b!], 'worker-2': [c!, d!], api: [e!, 0] } as Record<
        ProcessName,
        [number, number]
      >;
      const env = serviceEnv(
        app,
        { databaseUrl: postgres.databaseUrl, temporalAddress: temporal.address },
        sandbox.url,
        CHAOS_SETTINGS,
      );
      const stack = new ChaosStack(app, sandbox, postgres, temporal, temporalOptions, env, metricsPorts, dir);
      try {
        for (const name of ['worker-1', 'worker-2', 'api'] as const) stack.spawn(name);
        await stack.ready();
      } catch (err) {
        // A run that never got going leaves nothing behind: its processes, Temporal server, folder.
        await stack.close();
        throw err;
      }
      return stack;
    } catch (err) {
      await postgres.stop();
      throw err;
    }
  }

  private logFile(name: string): string {
    return path.join(root, '.data', 'chaos', `${name}.log`);
  }

  /** Starts one process, and again whenever it dies on its own (as a process manager would). */
  private spawn(name: ProcessName): void {
    const [metrics, sdkMetrics] = this.metricsPorts[name];
    const env =
      name === 'api'
        ? { ...this.env, API_METRICS_PORT: String(metrics) }
        : { ...this.env, WORKER_METRICS_PORT: String(metrics), WORKER_SDK_METRICS_PORT: String(sdkMetrics) };
    const logFile = this.logFile(name);
    if (!this.logFiles.includes(logFile)) this.logFiles.push(logFile);
    const service = spawnService(name === 'api' ? 'api' : 'worker', env, {
      logFile,
      append: this.processes.has(name),
    });
    this.processes.set(name, service);
    service.child.once('exit', () => {
      if (this.stopping || this.down.has(name) || this.processes.get(name) !== service) return;
      setTimeout(() => {
        if (!this.stopping && this.processes.get(name) === service) this.spawn(name);
      }, 2_000).unref();
    });
  }

  /** Whether a process answers: the API its readiness, a worker its metrics. */
  async isUp(name: ProcessName): Promise<boolean> {
    const url =
      name === 'api' ? `${this.app.apiUrl}/readyz` : `http://127.0.0.1:${this.metricsPorts[name][0]}/metrics`;
    return fetch(url, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.ok,
      () => false,
    );
  }

  async isReady(): Promise<boolean> {
    const answers = await Promise.all((['worker-1', 'worker-2', 'api'] as const).map((n) => this.isUp(n)));
    return answers.every(Boolean);
  }

  async ready(timeoutMs = 180_000): Promise<void> {
    await waitFor('the API and both workers', () => this.isReady(), timeoutMs);
  }

  /** SIGKILLs a process and starts it again at once, as a crash under a process manager. */
  async crash(name: ProcessName): Promise<void> {
    this.down.add(name);
    await this.processes.get(name)!.kill('SIGKILL');
    this.down.delete(name);
    this.spawn(name);
  }

  /** Stops the Temporal server and starts it again on the same SQLite file. */
  async restartTemporal(): Promise<void> {
    await this.temporal.stop();
    this.temporal = await ensureDevServer(this.temporalOptions);
  }

  get temporalAddress(): string {
    return this.temporal.address;
  }

  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
    await this.sandbox.close();
    await this.temporal.stop();
    await this.postgres.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const apiHeaders = {
  'content-type': 'application/json',
  authorization: `Bearer ${CHAOS_API_KEY}`,
};
