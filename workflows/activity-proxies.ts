import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { refreshTaskQueue } from './task-queues.ts';

/**
 * How the grant workflow calls its activities. Each group's retry budget is chosen by who waits:
 * a browser, a service reading a token, or nobody. Activities that call Feishu heartbeat while
 * they wait (each call has a 10 s deadline), so a cancellation reaches them within seconds.
 */

/**
 * The code exchange, which the browser waits on: a short retry budget, so a Feishu outage turns
 * into a "failed, try again" page instead of a hanging one.
 */
export const exchange = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
});

/** Sending a card: the caller learns within minutes whether it reached the user. */
export const cards = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
});

/**
 * Updating a card already sent is best-effort: a message older than 14 days cannot be PATCHed at
 * all, and no outcome may hang on it.
 */
export const cardUpdates = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/**
 * Writes to our own database that must land (an attempt's end, a revocation): retried until
 * PostgreSQL is back, however long that takes.
 */
export const store = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * Refreshes run on their own rate-limited task queue, so a crowd of due grants stays in Feishu's
 * budget. A refresh a token read waits on goes ahead of the scheduled backlog (lower priority key
 * first) and gives up within the reader's patience; scheduled ones may take their time.
 */
export function refreshers() {
  const taskQueue = refreshTaskQueue(workflowInfo().taskQueue);
  return {
    scheduled: proxyActivities<Activities>({
      taskQueue,
      startToCloseTimeout: '30s',
      heartbeatTimeout: '10s',
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10 },
    }),
    urgent: proxyActivities<Activities>({
      taskQueue,
      startToCloseTimeout: '20s',
      heartbeatTimeout: '5s',
      scheduleToCloseTimeout: '1m',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' },
      priority: { priorityKey: 1 },
    }),
  };
}

/**
 * Device-code polls share the refresh queue, and so its rate limit: Feishu's token-endpoint budget
 * is one for refreshes, polls and exchanges. A person is waiting on a poll, so it goes after token
 * reads (1) and before scheduled refreshes (the default, 3). A poll that keeps failing is simply
 * not retried for long: the next one is due an interval later anyway.
 */
export function devicePolls() {
  return proxyActivities<Activities>({
    taskQueue: refreshTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '20s',
    heartbeatTimeout: '5s',
    scheduleToCloseTimeout: '1m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
    priority: { priorityKey: 2 },
  });
}
