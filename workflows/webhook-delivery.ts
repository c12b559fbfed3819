import {
  ActivityFailure,
  continueAsNew,
  defineSignal,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks.ts';

/** There are new deliveries for this workflow's subscriber and grant. */
export const webhooksPending = defineSignal('webhooksPending');

export interface WebhookDeliveryInput {
  subscriberId: string;
  appId: string;
  openId: string;
  /** Exponential back-off between tries: from the first interval, doubling, up to the maximum. */
  retry: { initialIntervalMs: number; maximumIntervalMs: number };
}

/** Beyond this a run starts afresh; a grant has a handful of events a year, so this is rare. */
const MAX_HISTORY_EVENTS = 5_000;
/** One try's limit: the subscriber's 10 s to answer and our two database writes. */
const ATTEMPT_TIMEOUT = '30s';

const store = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * Delivers one subscriber's events about one grant, one at a time, in the order they happened:
 * each is retried with back-off until its subscriber answers 2xx or its retry window closes, and
 * then dead-lettered, before the next one is sent. Runs on the webhook task queue, apart from the
 * grant's own workflow, and ends when nothing is pending; the dispatcher starts it again.
 */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<void> {
  let woken = true;
  setHandler(webhooksPending, () => {
    woken = true;
  });
  while (woken) {
    woken = false;
    const pending = await store.pendingWebhookDeliveries(input);
    for (const delivery of pending) {
      await deliverOrDeadLetter(delivery, input.retry);
    }
    if (pending.length > 0) woken = true;
    if (woken && workflowInfo().historyLength > MAX_HISTORY_EVENTS)
      await continueAsNew<typeof webhookDeliveryWorkflow>(input);
  }
}

async function deliverOrDeadLetter(
  delivery: { id: string; giveUpAt: number },
  retry: WebhookDeliveryInput['retry'],
): Promise<void> {
  const windowLeftMs = delivery.giveUpAt - Date.now();
  if (windowLeftMs > 0) {
    const sender = proxyActivities<WebhookActivities>({
      startToCloseTimeout: ATTEMPT_TIMEOUT,
      scheduleToCloseTimeout: windowLeftMs,
      retry: {
        initialInterval: retry.initialIntervalMs,
        backoffCoefficient: 2,
        maximumInterval: retry.maximumIntervalMs,
      },
    });
    try {
      await sender.deliverWebhook({ deliveryId: delivery.id });
      return;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
  }
  await store.deadLetterWebhook({ deliveryId: delivery.id });
}
