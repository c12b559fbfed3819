import { proxyActivities, sleep } from '@temporalio/workflow';
import type { CallbackActivities } from '../activities/callbacks.ts';
import type { Locale } from '../lib/grant-types.ts';

/** What a card button or a bot DM asked for, as the API understood it before answering Feishu. */
export type CallbackWork =
  | { action: 'cancel'; openId: string; attemptId: string }
  | { action: 'revoke'; openId: string; requestedAt?: number }
  | { action: 'retry'; openId: string; attemptId: string; messageId?: string }
  | { action: 'request'; openId: string; scopes: string[]; locale: Locale };

export interface CallbackWorkflowInput {
  work: CallbackWork;
  /**
   * Epoch ms before which nothing may change the card: the end of Feishu's wait for the
   * callback's answer (a card changed while the answer is awaited is reverted by the client).
   */
  notBefore?: number;
  /**
   * Epoch ms (the API's clock) when the click or DM arrived: a request or Retry whose work is done
   * again later (its activity's answer was lost) sees that it was already answered since.
   */
  receivedAt?: number;
}

const { actOnCallback } = proxyActivities<CallbackActivities>({
  startToCloseTimeout: '1m',
  // A worker killed mid-way is noticed in seconds, not after the start-to-close timeout.
  heartbeatTimeout: '15s',
  // Rides out a PostgreSQL or Temporal restart; what still fails after an hour is left visible as failed.
  scheduleToCloseTimeout: '1h',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
});

/**
 * One Feishu callback's work, handed over by the API before it answers Feishu, so that an API
 * that dies after answering loses nothing. Started under an id made of the event id, so a
 * re-delivered event is the same workflow.
 */
export async function feishuCallbackWorkflow({
  work,
  notBefore,
  receivedAt,
}: CallbackWorkflowInput): Promise<void> {
  const wait = (notBefore ?? 0) - Date.now();
  if (wait > 0) await sleep(wait);
  await actOnCallback(work, receivedAt);
}
