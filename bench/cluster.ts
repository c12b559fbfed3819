import type { Sandbox } from '../sandbox/index.ts';
import { freeClusterPorts, startCluster, type Cluster } from '../scripts/stack/cluster.ts';
import { newBenchApp, root, serviceEnv, startBenchSandbox, type BenchApp } from './provision.ts';

export interface BenchCluster {
  app: BenchApp;
  sandbox: Sandbox;
  cluster: Cluster;
  close: () => Promise<void>;
}

/**
 * The production topology, started by `npm run cluster`'s own code on free ports and fresh
 * databases named after `name`, with the Feishu sandbox in this process and `users` simulated
 * users: two workers and two API replicas behind the load balancer, on the Temporal server on
 * PostgreSQL.
 */
export async function startBenchCluster(
  users: number,
  name: string,
  extraEnv: Record<string, string> = {},
): Promise<BenchCluster> {
  const app = await newBenchApp();
  const sandbox = await startBenchSandbox(app, users);
  try {
    const cluster = await startCluster({
      root,
      name,
      // The app's API address is the load balancer's: the sandbox redirects browsers there.
      ports: { ...(await freeClusterPorts()), api: app.apiPort },
      fresh: true,
      ui: false,
      serviceEnv: (infra) => serviceEnv(app, infra, sandbox.url, extraEnv),
    });
    return {
      app,
      sandbox,
      cluster,
      close: async () => {
        await cluster.stop();
        await sandbox.close();
      },
    };
  } catch (err) {
    await sandbox.close();
    throw err;
  }
}
