import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../scripts/stack/free-port.ts';
import {
  spawnService,
  waitForApi,
  waitForWorker,
  type BenchApp,
  type ServiceProcess,
  type SpawnOptions,
} from '../provision.ts';
import { runOpenLoop, runPool } from '../stats.ts';
import { bareDeliver, bareGrantWorkflow, bareRequest } from './workflows.ts';

/** The bare workflow's worker process, on a task queue of its own beside the grant worker's. */
export async function startBareWorker(
  env: NodeJS.ProcessEnv,
  taskQueue: string,
  options: SpawnOptions = {},
): Promise<ServiceProcess> {
  const metricsPort = await freePort();
  const worker = spawnService(
    'bare-worker',
    { ...env, BARE_TASK_QUEUE: taskQueue, WORKER_METRICS_PORT: String(metricsPort) },
    { ...options, script: 'bench/bare/worker.ts' },
  );
  try {
    await waitForWorker(metricsPort, worker);
  } catch (err) {
    await worker.stop();
    throw err;
  }
  return worker;
}

/** The bare token route's process; answers on the returned URL. */
export async function startBareTokenServer(
  env: NodeJS.ProcessEnv,
  options: SpawnOptions = {},
): Promise<{ process: ServiceProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawnService(
    'bare-token',
    { ...env, PORT: String(port) },
    { ...options, script: 'bench/bare/token-server.ts' },
  );
  try {
    await waitForApi(url, server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { process: server, url };
}

export interface BareTiming {
  /** Update-with-start until it answered (bench:auth's POST /v1/authorizations). */
  requestMs: number;
  /** The second update until it answered (bench:auth's redirect → page). */
  deliverMs: number;
}

export interface BareRun {
  timings: BareTiming[];
  failures: string[];
  seconds: number;
}

/**
 * Drives bare flows from this process, the way the API drives grants: update-with-start, then the
 * second update. `rate` > 0 is an open loop; otherwise `concurrency` closed-loop clients.
 */
export async function driveBareFlows(
  temporalAddress: string,
  app: Pick<BenchApp, 'appId'>,
  taskQueue: string,
  options: { flows: number; concurrency: number; rate: number; first: number },
): Promise<BareRun> {
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection });
  const timings: BareTiming[] = [];
  const failures: string[] = [];
  const flow = async (i: number, dueAt = performance.now()) => {
    try {
      const workflowId = `bare-${app.appId}-${options.first + i}`;
      const startWorkflowOperation = new WithStartWorkflowOperation(bareGrantWorkflow, {
        workflowId,
        taskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      await client.workflow.executeUpdateWithStart(bareRequest, { startWorkflowOperation });
      const tRequested = performance.now();
      await client.workflow.getHandle(workflowId).executeUpdate(bareDeliver);
      timings.push({ requestMs: tRequested - dueAt, deliverMs: performance.now() - tRequested });
    } catch (err) {
      failures.push((err as Error).message);
    }
  };
  const started = performance.now();
  try {
    if (options.rate > 0) await runOpenLoop(options.flows, options.rate, flow);
    else await runPool(options.flows, options.concurrency, (i) => flow(i));
  } finally {
    await connection.close();
  }
  return { timings, failures, seconds: (performance.now() - started) / 1000 };
}
