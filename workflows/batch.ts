import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BatchActivities } from '../activities/batch.ts';
import { batchTaskQueue } from './task-queues.ts';

export interface BatchWorkflowInput {
  appId: string;
  batchId: string;
  /** Users in the batch; their open_ids and what to do for them are in PostgreSQL, by position. */
  total: number;
  /** The first position this run handles (a continued run picks up where the last one stopped). */
  from?: number;
  /** Positions one run handles before it continues as new, keeping each history small. */
  itemsPerRun?: number;
  /** Users in flight at once; the batch queue's rate limit paces them. */
  concurrency?: number;
}

const DEFAULT_BATCH_ITEMS_PER_RUN = 200;
const DEFAULT_BATCH_CONCURRENCY = 50;

/** Attempts per user (about four minutes of backoff) before the user is recorded as failed. */
const BATCH_ITEM_ATTEMPTS = 8;

/**
 * How long one user may take: their grant's card send, retried through Feishu rate limits. The
 * activity heartbeats while it waits, so a lost worker is noticed within the heartbeat timeout.
 */
const RETRIES = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } as const;

/**
 * One batch of authorization requests or revocations. The workflow only counts positions: each
 * user is one activity on the rate-limited batch queue, which asks that user's grant workflow
 * exactly as a single request would and writes the user's result to PostgreSQL. A run handles
 * `itemsPerRun` users and continues as new, so a batch of 1,000 never has a large history.
 */
export async function authorizationBatchWorkflow(input: BatchWorkflowInput): Promise<void> {
  const { appId, batchId, total } = input;
  const taskQueue = batchTaskQueue(workflowInfo().taskQueue);
  const users = proxyActivities<BatchActivities>({
    taskQueue,
    startToCloseTimeout: '10m',
    heartbeatTimeout: '30s',
    retry: { ...RETRIES, maximumAttempts: BATCH_ITEM_ATTEMPTS },
  });
  const store = proxyActivities<BatchActivities>({
    taskQueue,
    startToCloseTimeout: '30s',
    retry: RETRIES,
  });
  const from = input.from ?? 0;
  const end = Math.min(total, from + (input.itemsPerRun ?? DEFAULT_BATCH_ITEMS_PER_RUN));
  const concurrency = input.concurrency ?? DEFAULT_BATCH_CONCURRENCY;
  const inFlight = new Set<Promise<void>>();
  for (let position = from; position < end; position++) {
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
    const item = { appId, batchId, position };
    // A user whose every attempt failed is recorded as failed; the batch goes on.
    const done: Promise<void> = users
      .processBatchItem(item)
      .catch(() => store.failBatchItem(item))
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  }
  await Promise.all(inFlight);
  if (end < total) await continueAsNew<typeof authorizationBatchWorkflow>({ ...input, from: end });
  await store.finishBatch({ appId, batchId });
}
