import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadApiKeys } from '../lib/config.ts';
import { CLUSTER_PORTS, publicBaseUrlOf, startCluster, type Cluster } from './stack/cluster.ts';
import { loadLocalEnv } from './stack/local-env.ts';
import { elapsed, step } from './stack/progress.ts';
import { startSandboxProcess, useLocalSandbox } from './stack/sandbox.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SANDBOX_PORT = 13100;

let cluster: Cluster | undefined;

function summary(cluster: Cluster, started: number, sandbox: boolean, env: NodeJS.ProcessEnv): string {
  const { deployment, supervisor } = cluster;
  const ports = CLUSTER_PORTS;
  const key = loadApiKeys(env)[0];
  const lines = [
    '',
    `feishu-user-auth cluster is up (${elapsed(started)})`,
    `  API              ${cluster.publicBaseUrl}   (load balancer over ${cluster.apis.map((a) => a.url).join(', ')})`,
    `  workers          ${cluster.workers.map((w) => `${w} (pid ${supervisor.pid(w)})`).join(', ')}; metrics on ${ports.workers.map((w) => w.metrics).join(', ')}`,
    `  Temporal server  ${deployment.temporalServer} at ${cluster.temporalAddress} on PostgreSQL; metrics http://127.0.0.1:${ports.temporal.metrics}/metrics; log .data/cluster/temporal/server.log`,
    cluster.uiUrl ? `  Temporal Web UI  ${cluster.uiUrl}   (${deployment.temporalUi})` : '',
    sandbox
      ? `  Feishu sandbox   http://127.0.0.1:${SANDBOX_PORT}/   (the chat view: DM the bot "授权" to start)`
      : `  Feishu           ${env.FEISHU_DOMAIN ?? 'https://open.feishu.cn'}`,
    key
      ? `  API key          "${key.name}" (${key.role}) from ${sandbox ? '.data/local.env' : 'API_KEYS'}`
      : '',
    '  Ctrl-C stops everything this command started.',
    '',
  ];
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

/**
 * `npm run cluster`: the production topology without Docker. Temporal server on PostgreSQL at the
 * versions docker-compose.yml runs, two workers, two API replicas behind a load balancer, the Web
 * UI, and the Feishu sandbox unless FEISHU_APP_ID is set. Its databases and ports are its own, so
 * `npm start` and `npm test` run beside it; a second run reuses the stored data.
 */
async function main(): Promise<void> {
  const started = Date.now();
  const { values } = parseArgs({ options: { 'no-ui': { type: 'boolean', default: false } } });
  loadLocalEnv(root);
  const env: NodeJS.ProcessEnv = { ...process.env };
  const useSandbox = !env.FEISHU_APP_ID;
  if (useSandbox) {
    useLocalSandbox(env, SANDBOX_PORT);
    // The sandbox redirects browsers to the load balancer, whatever .env says for `npm start`.
    env.PUBLIC_BASE_URL = publicBaseUrlOf(CLUSTER_PORTS);
  }
  cluster = await startCluster({
    root,
    name: 'cluster',
    ports: CLUSTER_PORTS,
    fresh: false,
    ui: !values['no-ui'],
    serviceEnv: () => env,
    beforeServices: useSandbox
      ? (supervisor, config, serviceEnv) => startSandboxProcess(supervisor, serviceEnv, config, SANDBOX_PORT)
      : undefined,
  });
  process.stdout.write(summary(cluster, started, useSandbox, env));

  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  step('stopping');
  await cluster.stop();
  step('stopped');
}

main().catch(async (err: unknown) => {
  process.stderr.write(`npm run cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  await cluster?.stop();
  process.exit(1);
});
