/**
 * Workflows that drive the refresh queue directly, so its worker can be tested apart from the
 * grant workflow: one refresh seen to its end, and a backlog with one urgent refresh behind it.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  ActivityFailure,
} from '@temporalio/workflow';
import type { Activities } from '../../../activities/index.ts';
import type { RefreshResult } from '../../../activities/refresh.ts';

export const cancelRefresh = defineSignal('cancelRefresh');

export interface OneRefresh {
  refreshQueue: string;
  appId: string;
  openId: string;
  expectedVersion: number;
  heartbeatTimeout?: string;
}

export type RefreshEnd =
  | { ended: 'completed'; result: RefreshResult }
  | { ended: 'cancelled' }
  | { ended: 'failed'; failureType?: string };

/** One refresh attempt, no retries; cancelled when the cancelRefresh signal arrives. */
export async function refreshOnce(input: OneRefresh): Promise<RefreshEnd> {
  const { refreshGrant } = proxyActivities<Activities>({
    taskQueue: input.refreshQueue,
    startToCloseTimeout: '30s',
    heartbeatTimeout: input.heartbeatTimeout,
    // The workflow learns how the activity really ended, not just that cancelling was asked.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 1 },
  });
  let cancelRequested = false;
  setHandler(cancelRefresh, () => void (cancelRequested = true));
  const scope = new CancellationScope();
  const running = scope.run(() =>
    refreshGrant({ appId: input.appId, openId: input.openId, expectedVersion: input.expectedVersion }),
  );
  void condition(() => cancelRequested).then(() => scope.cancel());
  try {
    return { ended: 'completed', result: await running };
  } catch (err) {
    if (isCancellation(err)) return { ended: 'cancelled' };
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    return {
      ended: 'failed',
      failureType: cause instanceof ApplicationFailure ? (cause.type ?? undefined) : cause?.name,
    };
  }
}

export interface Backlog {
  refreshQueue: string;
  appId: string;
  /** Scheduled refreshes (the default priority) queued before the urgent one. */
  size: number;
  /** How many of them finish before the urgent one is scheduled: the backlog is draining by then. */
  urgentAfter: number;
  /** The urgent refresh's priority key; omitted, it has the default priority too. */
  urgentPriorityKey?: number;
}

/** Where an urgent refresh finished among a backlog of scheduled ones. */
export async function refreshBehindBacklog(
  input: Backlog,
): Promise<{ doneWhenUrgentScheduled: number; doneWhenUrgentFinished: number }> {
  const options = { taskQueue: input.refreshQueue, startToCloseTimeout: '1m', retry: { maximumAttempts: 1 } };
  const scheduled = proxyActivities<Activities>({ ...options, priority: { priorityKey: 3 } });
  const urgent = proxyActivities<Activities>({
    ...options,
    priority: input.urgentPriorityKey ? { priorityKey: input.urgentPriorityKey } : undefined,
  });
  let done = 0;
  // Users without a grant: each refresh reads the store and ends, no Feishu call.
  const backlog = Array.from({ length: input.size }, (_, i) =>
    scheduled
      .refreshGrant({ appId: input.appId, openId: `ou_backlog_${i}`, expectedVersion: 0 })
      .then(() => void done++),
  );
  await condition(() => done >= input.urgentAfter);
  const doneWhenUrgentScheduled = done;
  await urgent.refreshGrant({ appId: input.appId, openId: 'ou_urgent', expectedVersion: 0 });
  const doneWhenUrgentFinished = done;
  await Promise.all(backlog);
  return { doneWhenUrgentScheduled, doneWhenUrgentFinished };
}
