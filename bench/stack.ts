import type { Lifetimes, Sandbox } from '../sandbox/index.ts';
import { freePort } from '../scripts/stack/free-port.ts';
import {
  newBenchApp,
  provisionInfra,
  serviceEnv,
  spawnService,
  startBenchSandbox,
  waitForApi,
  waitForWorker,
  type BenchApp,
  type Infra,
  type ServiceProcess,
} from './provision.ts';
import { log } from './stats.ts';

export interface BenchStackOptions {
  users: number;
  api: boolean;
  lifetimes?: Partial<Lifetimes>;
  rateLimits?: boolean;
  workerEnv?: Record<string, string>;
  /** Extra Node flags per service, e.g. profileFlags('worker') from bench/profile.ts. */
  nodeFlags?: { worker?: string[]; api?: string[] };
}

export interface BenchStack {
  infra: Infra;
  app: BenchApp;
  sandbox: Sandbox;
  api: ServiceProcess | undefined;
  worker: ServiceProcess;
  /** The services' environment, for more processes of the same configuration (the bare baselines). */
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/**
 * PostgreSQL and the Temporal dev server (bench-only database and port), the Feishu sandbox in
 * this process, and the worker (and API) as child processes configured by environment, like
 * `npm start` runs them.
 */
export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const infra = await provisionInfra();
  const app = await newBenchApp();
  const sandbox = await startBenchSandbox(app, options.users, {
    lifetimes: options.lifetimes,
    rateLimits: options.rateLimits,
  });
  const metricsPort = await freePort();
  const sdkMetricsPort = await freePort();
  // The API's /metrics port too: its default (9466) may belong to `npm start` running beside.
  const apiMetricsPort = await freePort();
  const env = serviceEnv(app, infra, sandbox.url, {
    WORKER_METRICS_PORT: String(metricsPort),
    WORKER_SDK_METRICS_PORT: String(sdkMetricsPort),
    API_METRICS_PORT: String(apiMetricsPort),
    ...options.workerEnv,
  });
  log(`starting the worker (task queue ${app.taskQueue})${options.api ? ' and the API' : ''}`);
  const worker = spawnService('worker', env, { nodeFlags: options.nodeFlags?.worker });
  const api = options.api ? spawnService('api', env, { nodeFlags: options.nodeFlags?.api }) : undefined;
  try {
    await waitForWorker(metricsPort, worker);
    if (api) await waitForApi(app.apiUrl, api);
  } catch (err) {
    await api?.stop();
    await worker.stop();
    await sandbox.close();
    await infra.stop();
    throw err;
  }
  return {
    infra,
    app,
    sandbox,
    api,
    worker,
    env,
    close: async () => {
      await api?.stop();
      await worker.stop();
      await sandbox.close();
      await infra.stop();
    },
  };
}
