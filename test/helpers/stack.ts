import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type * as lark from '@larksuiteoapi/node-sdk';
import type { DestinationStream } from 'pino';
import { createApp } from '../../api/app.ts';
import { startLongConnection } from '../../api/feishu/long-connection.ts';
import { GrantService } from '../../api/grants.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { grantDataConverter } from '../../lib/data-converter.ts';
import { createDb, type Db } from '../../lib/db.ts';
import { FeishuGateway } from '../../lib/feishu/gateway.ts';
import { createLogger } from '../../lib/logger.ts';
import { TokenCipher, sodiumReady } from '../../lib/token-crypto.ts';
import { spawnService, waitForApi, waitForWorker, type ServiceProcess } from '../../bench/provision.ts';
import { freePort } from '../../scripts/stack/free-port.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/index.ts';
import { bundleGrantWorkflows, createGrantWorkers } from '../../workers/worker.ts';
import { DEFAULT_GRANT_SETTINGS, type GrantSettings } from '../../lib/grant-types.ts';
import { startWebhookDelivery, type WebhookDelivery } from '../../workers/webhook-worker.ts';

export const API_KEY = 'test-token-key-0123456789abcdef';
export const STATUS_KEY = 'test-status-key-0123456789abcdef';
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** Enough people that each test in a file can use users of its own. */
const TEST_USERS = [
  '张三',
  '李四',
  '王五',
  '赵六',
  '孙七',
  '周八',
  '吴九',
  '郑十',
  '冯十一',
  '陈十二',
  '褚十三',
  '卫十四',
].map((name, i) => ({ name, enName: `Test User ${i}` }));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
let runtimeInstalled = false;

/** Bundled once per test file: webpack takes seconds, every stack in the file reuses it. */
function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleGrantWorkflows();
  return bundle;
}

export interface StackOptions {
  settings?: Partial<GrantSettings>;
  callbackMode?: 'ws' | 'http';
  sandbox?: Partial<Omit<SandboxOptions, 'apps'>>;
  app?: Partial<SandboxOptions['apps'][number]>;
  env?: Record<string, string>;
  /** Where PostgreSQL and Temporal are; inside vitest, what the global set-up provided. */
  infra?: { databaseUrl: string; temporalAddress: string };
  /** Receives every log line of the API and worker (the no-plaintext test reads them). */
  logSink?: DestinationStream;
  /** Runs webhook delivery (worker and dispatcher) too; subscribers from `env.WEBHOOK_URLS` or the API. */
  webhooks?: boolean;
  /** Worker rate limit for refreshes (per second). */
  refreshesPerSecond?: number;
  /**
   * Runs the worker and the API as deployed instead of in this process: workers/main.ts and
   * api/main.ts as child processes configured by environment (grant settings from `env`, not
   * `settings`), each serving /metrics on a port of its own. `serviceEnv` reaches only them, for
   * example addresses the test can cut while its own connections stay up. `image` runs the
   * compiled service from a folder laid out as the image's /app instead (spawnService).
   */
  processes?: { serviceEnv?: Record<string, string>; image?: string };
}

async function suiteInfra(): Promise<{ databaseUrl: string; temporalAddress: string }> {
  // Imported lazily so benchmarks, which pass `infra`, can use this module outside vitest.
  const { inject } = await import('vitest');
  return { databaseUrl: inject('databaseUrl'), temporalAddress: inject('temporalAddress') };
}

export interface Stack {
  appId: string;
  apiUrl: string;
  sandbox: Sandbox;
  grants: GrantService;
  db: Db;
  config: Config;
  temporal: Client;
  /** With `processes`: the /metrics of the API, the worker and the worker's Temporal SDK exporter. */
  metricsUrls?: { api: string; worker: string; workerSdk: string };
  /** Stops only the worker, to test that flows survive a worker crash. */
  stopWorker(): Promise<void>;
  /** Starts the worker with the current workflow code, or with a bundle standing in for an older deployment. */
  startWorker(bundle?: WorkflowBundleWithSourceMap): Promise<void>;
  api(path: string, init?: RequestInit & { key?: string }): Promise<Response>;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/**
 * A whole service against real parts: the sandbox (Feishu), the suite's Temporal server and
 * database, the API on an ephemeral port and a worker on a task queue of its own.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  await sodiumReady();
  if (!runtimeInstalled) {
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: { logging: { forward: {}, filter: 'WARN' } },
    });
    runtimeInstalled = true;
  }
  const infra = options.infra ?? (await suiteInfra());
  const server = http.createServer();
  // As deployed, the API process binds its port itself.
  const port = options.processes ? await freePort() : await listen(server);
  const apiUrl = `http://127.0.0.1:${port}`;
  const appId = `cli_${randomBytes(8).toString('hex')}`;
  const appSecret = randomBytes(16).toString('hex');
  const mode = options.callbackMode ?? 'ws';
  const encryptKey = mode === 'http' ? 'test-encrypt-key' : undefined;
  const verificationToken = mode === 'http' ? 'test-verification-token' : undefined;

  const sandbox = await startSandbox({
    users: TEST_USERS,
    ...options.sandbox,
    apps: [
      {
        appId,
        appSecret,
        redirectUris: [`${apiUrl}/oauth/callback`],
        callback: { mode, url: `${apiUrl}/feishu/events`, encryptKey, verificationToken },
        ...options.app,
      },
    ],
  });
  const env: Record<string, string | undefined> = {
    FEISHU_APP_ID: appId,
    FEISHU_APP_SECRET: appSecret,
    FEISHU_DOMAIN: sandbox.url,
    FEISHU_OAUTH_DOMAIN: sandbox.url,
    FEISHU_CALLBACK_MODE: mode,
    FEISHU_ENCRYPT_KEY: encryptKey,
    FEISHU_VERIFICATION_TOKEN: verificationToken,
    PUBLIC_BASE_URL: apiUrl,
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: `test-${randomBytes(6).toString('hex')}`,
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    PAYLOAD_CODEC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
    API_KEYS: `svc:token:${API_KEY},ops:status:${STATUS_KEY},root:admin:${ADMIN_KEY}`,
    LOG_LEVEL: 'silent',
    ...options.env,
  };
  const config = loadConfig(env);
  const logger = createLogger('test', config.LOG_LEVEL, options.logSink);
  const db = createDb(config.DATABASE_URL);
  const cipher = new TokenCipher(config.TOKEN_ENCRYPTION_KEYS);
  const feishu = new FeishuGateway(
    {
      appId,
      appSecret,
      domain: sandbox.url,
      oauthDomain: sandbox.url,
      tokenEndpoint: config.FEISHU_TOKEN_ENDPOINT,
    },
    logger,
  );
  const settings: GrantSettings = { ...DEFAULT_GRANT_SETTINGS, ...options.settings };
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const dataConverter = grantDataConverter(config.PAYLOAD_CODEC_KEYS);
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
  const grants = new GrantService(
    temporal,
    appId,
    config.TEMPORAL_TASK_QUEUE,
    settings,
    config.FEISHU_AUTH_FLOW,
  );
  const api: Stack['api'] = (path, init = {}) =>
    fetch(`${apiUrl}${path}`, {
      ...init,
      headers: {
        'content-type': 'application/json',
        ...(init.key === '' ? {} : { authorization: `Bearer ${init.key ?? API_KEY}` }),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  const closeOwnConnections = async () => {
    await connection.close();
    await db.end();
    await sandbox.close();
  };
  if (options.processes) {
    const services = await startServiceProcesses(
      { ...env, PORT: String(port), ...options.processes.serviceEnv },
      apiUrl,
      options.processes.image,
    );
    return {
      appId,
      apiUrl,
      sandbox,
      grants,
      db,
      config,
      temporal,
      api,
      ...services,
      close: async () => {
        await services.close();
        await closeOwnConnections();
      },
    };
  }
  const service = createApp({
    config,
    db,
    cipher,
    temporal,
    grants,
    feishu,
    logger,
    accessTokenMarginSeconds: settings.accessTokenMarginSeconds,
  });
  server.on('request', service.app.callback());
  let longConnection: lark.WSClient | undefined;
  if (mode === 'ws') {
    longConnection = await startLongConnection({
      appId,
      appSecret,
      domain: sandbox.url,
      handlers: service.handlers,
      logger,
    });
  }

  const workerConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  let workers: Worker[] = [];
  let running: Promise<unknown> | undefined;
  const startWorker = async (bundle?: WorkflowBundleWithSourceMap) => {
    workers = await createGrantWorkers({
      connection: workerConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      deps: { db, cipher, feishu, redirectUri: `${apiUrl}/oauth/callback`, logger, grantSettings: settings },
      payloadCodecKeys: config.PAYLOAD_CODEC_KEYS,
      refreshesPerSecond: options.refreshesPerSecond ?? 50,
      grants,
      batch: { cardsPerSecond: config.BATCH_CARDS_PER_SECOND },
      shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
      workflowBundle: bundle ?? (await workflowBundle()),
    });
    running = Promise.all(workers.map((w) => w.run()));
  };
  const stopWorker = async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running;
  };
  await startWorker();
  let webhooks: { delivery: WebhookDelivery; running: Promise<void> } | undefined;
  if (options.webhooks) {
    const delivery = await startWebhookDelivery({
      connection: workerConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      appId,
      deps: { db, cipher, logger },
      config,
      payloadCodecKeys: config.PAYLOAD_CODEC_KEYS,
      workflowBundle: await workflowBundle(),
      dispatchPollIntervalMs: 500,
    });
    webhooks = { delivery, running: delivery.worker.run() };
  }

  return {
    appId,
    apiUrl,
    sandbox,
    grants,
    db,
    config,
    temporal,
    stopWorker,
    startWorker,
    api,
    close: async () => {
      longConnection?.close({ force: true });
      if (webhooks) {
        await webhooks.delivery.stopDispatcher();
        webhooks.delivery.worker.shutdown();
        await webhooks.running;
      }
      await stopWorker();
      await workerConnection.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await service.stop();
      await closeOwnConnections();
    },
  };
}

/**
 * workers/main.ts and api/main.ts as child processes, as `npm run worker|api` run them, each
 * with its metrics on a free port; ready once the worker serves /metrics and the API /readyz.
 */
async function startServiceProcesses(
  env: Record<string, string | undefined>,
  apiUrl: string,
  image: string | undefined,
) {
  const ports = { api: await freePort(), worker: await freePort(), workerSdk: await freePort() };
  const processEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...env,
    // Warnings and errors, in the log files spawnService names, say why a process failed.
    LOG_LEVEL: 'warn',
    API_METRICS_PORT: String(ports.api),
    WORKER_METRICS_PORT: String(ports.worker),
    WORKER_SDK_METRICS_PORT: String(ports.workerSdk),
  };
  let worker: ServiceProcess = spawnService('worker', processEnv, { image });
  const apiProcess = spawnService('api', processEnv, { image });
  const close = () => Promise.all([worker.stop(), apiProcess.stop()]).then(() => undefined);
  try {
    await Promise.all([waitForWorker(ports.worker, worker), waitForApi(apiUrl, apiProcess)]);
  } catch (err) {
    await close();
    throw err;
  }
  const metricsAt = (port: number) => `http://127.0.0.1:${port}/metrics`;
  return {
    metricsUrls: {
      api: metricsAt(ports.api),
      worker: metricsAt(ports.worker),
      workerSdk: metricsAt(ports.workerSdk),
    },
    stopWorker: () => worker.stop(),
    startWorker: async (bundle?: WorkflowBundleWithSourceMap) => {
      if (bundle) throw new Error("a worker process runs this checkout's workflow code");
      worker = spawnService('worker', processEnv, { image });
      await waitForWorker(ports.worker, worker);
    },
    close,
  };
}
