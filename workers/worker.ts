import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleOption,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { GrantService } from '../api/grants.ts';
import { batchActivities } from '../activities/batch.ts';
import { callbackActivities } from '../activities/callbacks.ts';
import { createActivities, type ServiceDeps } from '../activities/index.ts';
import type { KeyRingEntry } from '../lib/config.ts';
import { failureConverterPath, grantDataConverter, payloadConverterPath } from '../lib/data-converter.ts';
import { batchTaskQueue, refreshTaskQueue } from '../workflows/task-queues.ts';

const workflowsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows');
export const workflowsPath = path.join(workflowsDir, 'index.ts');
/** Stops starts and signals whose payloads the worker's codec refused (see grantDataConverter). */
const workflowInterceptorModules = [path.join(workflowsDir, 'refuse-unencrypted.ts')];

/**
 * `npm run build` compiles to dist/ and writes the workflow bundle beside the compiled code. A
 * worker running from dist/ (the image) has no TypeScript workflow sources to bundle, and must not
 * spend its start-up in webpack anyway, so it runs that file; from the sources (tsx) it bundles.
 */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';
const runsCompiled = import.meta.url.endsWith('.js');

function prebuiltWorkflowBundle(): WorkflowBundleOption {
  const codePath = fileURLToPath(new URL(`../${WORKFLOW_BUNDLE_FILE}`, import.meta.url));
  if (!existsSync(codePath))
    throw new Error(`${codePath} is missing: \`npm run build\` writes it next to the compiled code`);
  return { codePath };
}

/**
 * How long a stopping worker lets activities in flight finish before it cancels them: longer
 * than their 30 s start-to-close, shorter than the orchestrator's stop timeout (compose's
 * stop_grace_period is 60 s), so a deploy never cuts a Feishu call short.
 */
export const DEFAULT_SHUTDOWN_GRACE_MS = 45_000;

/** A prebuilt bundle must carry the converters and interceptors itself: the worker cannot add them later. */
export function bundleGrantWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath,
    failureConverterPath,
    payloadConverterPath,
    workflowInterceptorModules,
    logger: undefined,
  });
}

/** The workflows a worker runs: a prebuilt bundle, or bundled from source with the interceptors. */
export function workflowSource(bundle: WorkflowBundleOption | undefined) {
  const workflowBundle = bundle ?? (runsCompiled ? prebuiltWorkflowBundle() : undefined);
  return workflowBundle
    ? { workflowBundle }
    : { workflowsPath, interceptors: { workflowModules: workflowInterceptorModules } };
}

export interface GrantWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ServiceDeps;
  /**
   * PAYLOAD_CODEC_KEYS: payloads and failures are encrypted before they reach Temporal, and
   * unencrypted ones arriving from it are refused.
   */
  payloadCodecKeys: KeyRingEntry[];
  /**
   * Token-endpoint budget for refreshes and device-code polls (Feishu: 50/s and 1000/min per app,
   * shared with code exchanges).
   */
  refreshesPerSecond: number;
  /**
   * The service the API asks grants through: batches and Feishu callbacks' work ask each user's
   * grant through it too.
   */
  grants: GrantService;
  /** Batch users are paced to `cardsPerSecond` across all workers (BATCH_CARDS_PER_SECOND): each may send a card. */
  batch: { cardsPerSecond: number };
  /** Workflows kept in memory between tasks; the rest are replayed from history when they wake. */
  maxCachedWorkflows?: number;
  /**
   * A bundle from bundleGrantWorkflows (tests); when omitted, the prebuilt file when running from
   * dist/, else bundled from source.
   */
  workflowBundle?: WorkflowBundleOption;
  /** Drain time on shutdown, in ms (WORKER_SHUTDOWN_GRACE_SECONDS); DEFAULT_SHUTDOWN_GRACE_MS when omitted. */
  shutdownGraceMs?: number;
}

type RefreshWorkerOptions = Omit<
  GrantWorkerOptions,
  'maxCachedWorkflows' | 'workflowBundle' | 'batch' | 'grants'
>;

/**
 * The refresh queue's worker: the grants' token-endpoint calls that no browser waits on
 * (refreshes and device-code polls), rate-limited across all workers by the Temporal
 * server. Within that budget the server hands out the lowest priority key first (with
 * matching.useNewMatcher on, see docs/deployment.md), so a refresh a token read waits on
 * overtakes a backlog of scheduled ones.
 */
export function createRefreshWorker(
  options: RefreshWorkerOptions,
  activities = createActivities(options.deps),
): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: refreshTaskQueue(options.taskQueue),
    dataConverter: grantDataConverter(options.payloadCodecKeys, { refuseUnencrypted: true }),
    activities: {
      refreshGrant: (input: Parameters<typeof activities.refreshGrant>[0]) => activities.refreshGrant(input),
      pollDeviceAuthorization: (input: Parameters<typeof activities.pollDeviceAuthorization>[0]) =>
        activities.pollDeviceAuthorization(input),
    },
    maxTaskQueueActivitiesPerSecond: options.refreshesPerSecond,
    shutdownGraceTime: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
}

/**
 * The batch queue's worker: one activity per user of a batch, rate-limited across all workers by
 * the Temporal server, so a batch of 1,000 stays inside Feishu's message budget for the app.
 */
function createBatchWorker(
  options: RefreshWorkerOptions & Pick<GrantWorkerOptions, 'batch' | 'grants'>,
): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: batchTaskQueue(options.taskQueue),
    dataConverter: grantDataConverter(options.payloadCodecKeys, { refuseUnencrypted: true }),
    activities: batchActivities({
      db: options.deps.db,
      grants: options.grants,
      logger: options.deps.logger,
    }),
    maxTaskQueueActivitiesPerSecond: options.batch.cardsPerSecond,
    shutdownGraceTime: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
}

/**
 * Three workers in one process: the main queue runs grant, batch and callback workflows, the
 * grants' Feishu calls and the callbacks' work; the refresh queue runs only refreshes and device-code polls (createRefreshWorker); the batch queue, one
 * paced activity per user of a batch (createBatchWorker).
 */
export async function createGrantWorkers(options: GrantWorkerOptions): Promise<Worker[]> {
  const activities = createActivities(options.deps);
  const main = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...workflowSource(options.workflowBundle),
    dataConverter: grantDataConverter(options.payloadCodecKeys, { refuseUnencrypted: true }),
    activities: {
      ...activities,
      ...callbackActivities({ db: options.deps.db, grants: options.grants, logger: options.deps.logger }),
    },
    maxCachedWorkflows: options.maxCachedWorkflows,
    shutdownGraceTime: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
  return [main, await createRefreshWorker(options, activities), await createBatchWorker(options)];
}
