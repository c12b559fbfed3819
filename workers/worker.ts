import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities, type ServiceDeps } from '../activities';
import { failureConverterPath } from '../lib/data-converter';
import { refreshTaskQueue } from '../workflows/task-queues';

export const workflowsPath = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'workflows',
  'index.ts',
);

/** A prebuilt bundle must carry the failure converter itself: the worker cannot add it later. */
export function bundleGrantWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, failureConverterPath, logger: undefined });
}

export interface GrantWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ServiceDeps;
  /** grantDataConverter(PAYLOAD_CODEC_KEYS): payloads and failures are encrypted before they reach Temporal. */
  dataConverter: DataConverter;
  /** Token-endpoint budget for refreshes (Feishu: 50/s and 1000/min per app, shared with code exchanges). */
  refreshesPerSecond: number;
  /** Workflows kept in memory between tasks; the rest are replayed from history when they wake. */
  maxCachedWorkflows?: number;
  /** A prebuilt bundle from bundleGrantWorkflows (tests, production images); bundled from source when omitted. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}

/**
 * Two workers in one process: the main queue runs grant workflows and their Feishu calls; the
 * refresh queue runs only refreshes, rate-limited across all workers by the Temporal server.
 */
export async function createGrantWorkers(options: GrantWorkerOptions): Promise<Worker[]> {
  const activities = createActivities(options.deps);
  const workflowSource = options.workflowBundle
    ? { workflowBundle: options.workflowBundle }
    : { workflowsPath };
  const main = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...workflowSource,
    dataConverter: options.dataConverter,
    activities,
    maxCachedWorkflows: options.maxCachedWorkflows,
  });
  const refresh = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: refreshTaskQueue(options.taskQueue),
    dataConverter: options.dataConverter,
    activities: {
      refreshGrant: (input: Parameters<typeof activities.refreshGrant>[0]) => activities.refreshGrant(input),
    },
    maxTaskQueueActivitiesPerSecond: options.refreshesPerSecond,
  });
  return [main, refresh];
}
