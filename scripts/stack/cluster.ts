import path from 'node:path';
import { loadConfig, type Config } from '../../lib/config.ts';
import { readDeployment, type Deployment } from './compose.ts';
import { freePorts } from './free-port.ts';
import { startLoadBalancer, type LoadBalancer } from './load-balancer.ts';
import { uiCodecEndpoint } from './local-env.ts';
import { ensureLocalPostgres, ensureLoginRole } from './postgres.ts';
import { Supervisor } from './processes.ts';
import { step } from './progress.ts';
import { waitFor } from './run.ts';
import {
  CLUSTER_TEMPORAL_PORTS,
  MAX_MEMBERSHIP_PORT,
  SERVICES,
  startTemporalCluster,
  startTemporalUi,
  type TemporalPorts,
} from './temporal-cluster.ts';

/** The role the compose deployment gives Temporal; a loopback-only development password. */
const TEMPORAL_ROLE = 'temporal';
const TEMPORAL_PASSWORD = 'temporal_dev';
/** The namespace compose's setup job creates by default; this Temporal server serves only us. */
const NAMESPACE = 'default';

export interface ClusterPorts {
  temporal: TemporalPorts;
  ui: number;
  /** The load balancer: the one public address all API replicas share (PUBLIC_BASE_URL). */
  api: number;
  /** One per API replica: where it serves, and its metrics port. */
  apis: { port: number; metrics: number }[];
  /** One per worker: its metrics port and its Temporal SDK exporter's. */
  workers: { metrics: number; sdkMetrics: number }[];
}

/** `npm run cluster`'s ports, clear of `npm start`'s (3000, 3100, 7233, 8233, 9464–9466). */
export const CLUSTER_PORTS: ClusterPorts = {
  temporal: CLUSTER_TEMPORAL_PORTS,
  ui: 18080,
  api: 13000,
  apis: [
    { port: 13001, metrics: 19468 },
    { port: 13002, metrics: 19469 },
  ],
  workers: [
    { metrics: 19464, sdkMetrics: 19465 },
    { metrics: 19466, sdkMetrics: 19467 },
  ],
};

/** Ports nobody uses now, for a cluster that runs beside `npm run cluster` (tests, benchmarks). */
export async function freeClusterPorts(replicas = 2): Promise<ClusterPorts> {
  const ports = await freePorts(8 + 4 * replicas);
  const membership = await freePorts(SERVICES.length, { below: MAX_MEMBERSHIP_PORT + 1 });
  const take = () => ports.pop()!;
  const service = () => ({ grpc: take(), membership: membership.pop()! });
  return {
    temporal: {
      services: { frontend: service(), history: service(), matching: service(), worker: service() },
      frontendHttp: take(),
      metrics: take(),
    },
    ui: take(),
    api: take(),
    apis: Array.from({ length: replicas }, () => ({ port: take(), metrics: take() })),
    workers: Array.from({ length: replicas }, () => ({ metrics: take(), sdkMetrics: take() })),
  };
}

export const publicBaseUrlOf = (ports: ClusterPorts): string => `http://127.0.0.1:${ports.api}`;

export interface ClusterOptions {
  root: string;
  /**
   * Names what this cluster owns, so it never touches `npm start`'s or `npm test`'s: its databases
   * (feishu_user_auth_<name>, …_temporal, …_visibility) and its folder under .data.
   */
  name: string;
  ports: ClusterPorts;
  /** Drops its databases first. */
  fresh: boolean;
  /** Serves the Temporal Web UI (built on first use). */
  ui: boolean;
  /**
   * The service's settings, given where PostgreSQL and Temporal are: Feishu app, keys, API keys,
   * and PUBLIC_BASE_URL when browsers reach the load balancer by another address. The cluster
   * sets each replica's ports.
   */
  serviceEnv(infra: { databaseUrl: string; temporalAddress: string }): NodeJS.ProcessEnv;
  /** Runs with the service's complete configuration before any worker or API starts (`npm run cluster`'s sandbox). */
  beforeServices?: (supervisor: Supervisor, config: Config, env: NodeJS.ProcessEnv) => Promise<void>;
}

export interface Cluster {
  deployment: Deployment;
  databaseUrl: string;
  temporalAddress: string;
  temporalPid: number | undefined;
  publicBaseUrl: string;
  uiUrl: string | undefined;
  /** Names the supervisor runs them under: worker-1, worker-2, … */
  workers: string[];
  apis: { name: string; url: string }[];
  supervisor: Supervisor;
  balancer: LoadBalancer;
  stop(): Promise<void>;
}

/**
 * The production topology on this machine: PostgreSQL with the service's database and Temporal's
 * two, the Temporal server on them at the version docker-compose.yml runs, workers and API
 * replicas as processes behind a load balancer, and optionally the Web UI. All on loopback.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { ports, root } = options;
  const deployment = readDeployment(root);
  const dir = path.join(root, '.data', options.name);
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const pg = await ensureLocalPostgres(`feishu_user_auth_${options.name}`, { fresh: options.fresh });
    cleanups.push(() => pg.stop());
    if (pg.version !== deployment.postgres) {
      step(`PostgreSQL ${pg.version} runs here; docker-compose.yml runs ${deployment.postgres}`);
    }
    await ensureLoginRole(TEMPORAL_ROLE, TEMPORAL_PASSWORD, { createDb: true });
    const pgUrl = new URL(pg.databaseUrl);
    const temporal = await startTemporalCluster({
      version: deployment.temporalServer,
      dir: path.join(dir, 'temporal'),
      databases: {
        host: pgUrl.hostname,
        port: Number(pgUrl.port),
        user: TEMPORAL_ROLE,
        password: TEMPORAL_PASSWORD,
        main: `feishu_user_auth_${options.name}_temporal`,
        visibility: `feishu_user_auth_${options.name}_visibility`,
      },
      fresh: options.fresh,
      ports: ports.temporal,
      namespace: NAMESPACE,
      retentionSeconds: deployment.namespaceRetentionSeconds,
      dynamicConfigFile: path.join(root, 'deploy', 'temporal', 'dynamicconfig', 'feishu-user-auth.yaml'),
    });
    cleanups.push(() => temporal.stop());

    const infra = { databaseUrl: pg.databaseUrl, temporalAddress: temporal.address };
    const serviceEnv = options.serviceEnv(infra);
    const publicBaseUrl = serviceEnv.PUBLIC_BASE_URL ?? publicBaseUrlOf(ports);
    const uiUrl = options.ui ? `http://localhost:${ports.ui}` : undefined;
    // Ours whatever the settings say: a DATABASE_URL in .env is `npm start`'s, not this cluster's.
    const env: NodeJS.ProcessEnv = {
      ...serviceEnv,
      DATABASE_URL: infra.databaseUrl,
      TEMPORAL_ADDRESS: infra.temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      PUBLIC_BASE_URL: publicBaseUrl,
    };
    if (uiUrl) env.CODEC_CORS_ORIGINS = `${uiUrl},http://127.0.0.1:${ports.ui}`;
    // One message naming every bad variable now, rather than four processes failing in a loop.
    const config = loadConfig(env);

    const balancer = await startLoadBalancer(
      ports.api,
      ports.apis.map((a) => a.port),
    );
    cleanups.push(() => balancer.close());
    const supervisor = new Supervisor(root);
    cleanups.push(() => supervisor.stop());
    await options.beforeServices?.(supervisor, config, env);
    const workers = ports.workers.map((worker, i) => {
      const name = `worker-${i + 1}`;
      supervisor.start(name, 'workers/main.ts', {
        ...env,
        WORKER_METRICS_PORT: String(worker.metrics),
        WORKER_SDK_METRICS_PORT: String(worker.sdkMetrics),
      });
      return name;
    });
    const apis = ports.apis.map((api, i) => {
      const name = `api-${i + 1}`;
      supervisor.start(name, 'api/main.ts', {
        ...env,
        PORT: String(api.port),
        API_METRICS_PORT: String(api.metrics),
      });
      return { name, url: `http://127.0.0.1:${api.port}` };
    });
    step(`starting ${workers.length} workers and ${apis.length} API replicas behind ${publicBaseUrl}`);
    await Promise.all([
      // A worker serves its metrics once its Temporal workers are created.
      ...ports.workers.map((w, i) =>
        waitFor(workers[i]!, async () => (await fetch(`http://127.0.0.1:${w.metrics}/metrics`)).ok, 120_000),
      ),
      ...apis.map((api) => waitFor(api.name, async () => (await fetch(`${api.url}/readyz`)).ok, 120_000)),
    ]);

    if (uiUrl) {
      const ui = await startTemporalUi({
        version: deployment.temporalUi,
        dir: path.join(dir, 'ui'),
        port: ports.ui,
        temporalAddress: temporal.address,
        namespace: NAMESPACE,
        codecEndpoint: uiCodecEndpoint(env),
      });
      cleanups.push(() => ui.stop());
    }
    return {
      deployment,
      databaseUrl: pg.databaseUrl,
      temporalAddress: temporal.address,
      temporalPid: temporal.child?.pid,
      publicBaseUrl,
      uiUrl,
      workers,
      apis,
      supervisor,
      balancer,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
