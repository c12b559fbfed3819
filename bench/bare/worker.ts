import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { serveMetrics } from '../../lib/metrics-server.ts';
import { bareActivities } from './activities.ts';

/**
 * The bare workflow's worker, its own Node process like `npm run worker`: its own bundle, task
 * queue BARE_TASK_QUEUE, the default data converter. Ready once WORKER_METRICS_PORT answers,
 * as the real worker is.
 */
async function main(): Promise<void> {
  const env = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows.ts'),
    logger: undefined,
  });
  const worker = await Worker.create({
    connection,
    taskQueue: env('BARE_TASK_QUEUE'),
    workflowBundle,
    activities: bareActivities,
  });
  const metrics = await serveMetrics(Number(env('WORKER_METRICS_PORT')), '127.0.0.1');
  await worker.run();
  metrics.close();
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`bare worker failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
