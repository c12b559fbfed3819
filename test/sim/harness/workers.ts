import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  DefaultLogger,
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Activities } from '../../../activities/index.ts';
import { failureConverterPath } from '../../../lib/data-converter.ts';
import { refreshTaskQueue } from '../../../workflows/task-queues.ts';

/** Bundled once per process and path: webpack takes seconds, simulations reuse it. */
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();
function bundle(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  let built = bundles.get(workflowsPath);
  if (!built) {
    // The bundle carries the service's failure converter, as workers/worker.ts builds it.
    built = bundleWorkflowCode({ workflowsPath, failureConverterPath, logger: new DefaultLogger('WARN') });
    bundles.set(workflowsPath, built);
  }
  return built;
}

export interface SimWorkerOptions {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  workflowsPath: string;
  activities: Activities;
  dataConverter: DataConverter;
  /**
   * Restarts need this off. With a workflow cache the worker gets a sticky queue, and the test
   * server sends queries to the sticky queue of a stopped worker for good (it has no fallback,
   * ShutdownWorker or ResetStickyTaskQueue). Without one, every workflow task replays the history,
   * which tests determinism as it goes but costs several times the time.
   */
  cacheWorkflows: boolean;
}

/**
 * The grant worker pair as workers/worker.ts builds it — the workflow bundle and activities on the
 * main queue, refreshGrant alone on the refresh queue — with the model's activities. A restart is a
 * new process's workers: new connection, empty cache, every grant replayed from its history.
 */
export class SimWorkers {
  private running?: { workers: Worker[]; connection: NativeConnection; done: Promise<unknown> };

  private constructor(
    private readonly options: SimWorkerOptions,
    private readonly workflowBundle: WorkflowBundleWithSourceMap,
  ) {}

  static async start(options: SimWorkerOptions): Promise<SimWorkers> {
    const workers = new SimWorkers(options, await bundle(options.workflowsPath));
    await workers.start();
    return workers;
  }

  private async start(): Promise<void> {
    const { env, taskQueue, activities, dataConverter, cacheWorkflows } = this.options;
    const connection = await NativeConnection.connect({ address: env.address });
    const common = {
      connection,
      namespace: env.namespace ?? 'default',
      dataConverter,
      // The model answers at once: nothing in flight needs time to finish.
      shutdownGraceTime: '1s',
    };
    const workers = [
      await Worker.create({
        ...common,
        taskQueue,
        workflowBundle: this.workflowBundle,
        activities,
        ...(cacheWorkflows ? {} : { maxCachedWorkflows: 0 }),
      }),
      await Worker.create({
        ...common,
        taskQueue: refreshTaskQueue(taskQueue),
        activities: { refreshGrant: activities.refreshGrant.bind(activities) },
      }),
    ];
    this.running = { workers, connection, done: Promise.all(workers.map((w) => w.run())) };
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (!running) return;
    for (const worker of running.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.done;
    await running.connection.close();
  }

  async restart(): Promise<void> {
    if (this.options.cacheWorkflows) throw new Error('restarts need a simulation without a workflow cache');
    await this.stop();
    await this.start();
  }
}
