import type { Client } from '@temporalio/client';
import { inTransaction, type Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
import { PgListener } from '../lib/pg-listener.ts';
import {
  fanOutEvents,
  lockUnwokenGroups,
  markWoken,
  rewakeStalled,
} from '../lib/store/webhook-deliveries.ts';
import { webhookDeliveryWorkflowId } from '../workflows/task-queues.ts';
import {
  webhooksPending,
  webhookDeliveryWorkflow,
  type WebhookDeliveryInput,
} from '../workflows/webhook-delivery.ts';

/** Signal-with-starts in flight at once, per dispatch round. */
const SIGNALS_AT_ONCE = 16;

/** The channel the outbox triggers (and a replay) notify, with the app id. */
const CHANNEL = 'webhook_outbox';

export interface WebhookDispatcherOptions {
  db: Db;
  temporal: Client;
  appId: string;
  taskQueue: string;
  logger: Logger;
  retryWindowSeconds: number;
  retry: WebhookDeliveryInput['retry'];
  /** A round also runs this often, for notifications lost while the LISTEN connection was down. */
  pollIntervalMs?: number;
}

/**
 * Moves the outbox forward: new events become deliveries, one per subscriber, and the delivery
 * workflow of each (subscriber, grant) with new deliveries is signalled, started if it is not
 * running. Woken by NOTIFY and by a timer; any number of workers may run one. Returns stop().
 */
export function startWebhookDispatcher(options: WebhookDispatcherOptions): () => Promise<void> {
  const { db, temporal, appId, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 5_000;
  // A pending delivery untried for longer than the longest back-off (and a try) lost its workflow.
  const stalledAfterSeconds = options.retry.maximumIntervalMs / 1000 + 120;
  let stopped = false;
  let again = false;
  let round: Promise<void> | undefined;
  const listener = new PgListener({
    db,
    channel: CHANNEL,
    logger,
    purpose: 'webhook',
    onNotify: (payload) => {
      if (payload === appId) kick();
    },
  });
  let lastStalledSweep = 0;

  async function wakeGroups(): Promise<number> {
    return inTransaction(db, async (tx) => {
      const { ids, groups } = await lockUnwokenGroups(tx, appId);
      // A few at a time: one by one, a burst of events for many grants waits on round trips.
      for (let i = 0; i < groups.length; i += SIGNALS_AT_ONCE) {
        await Promise.all(
          groups.slice(i, i + SIGNALS_AT_ONCE).map((group) => {
            const args: WebhookDeliveryInput = { ...group, appId, retry: options.retry };
            return temporal.workflow.signalWithStart(webhookDeliveryWorkflow, {
              workflowId: webhookDeliveryWorkflowId(group.subscriberId, appId, group.openId),
              taskQueue: options.taskQueue,
              args: [args],
              signal: webhooksPending,
              signalArgs: [],
            });
          }),
        );
      }
      if (ids.length > 0) await markWoken(tx, ids);
      return ids.length;
    });
  }

  async function runRound(): Promise<void> {
    if (Date.now() - lastStalledSweep > 60_000) {
      lastStalledSweep = Date.now();
      const stalled = await rewakeStalled(db, appId, stalledAfterSeconds);
      if (stalled > 0)
        logger.warn({ stalled }, 'webhook deliveries without a live workflow; waking them again');
    }
    while ((await fanOutEvents(db, appId, options.retryWindowSeconds)) > 0 && !stopped);
    while ((await wakeGroups()) > 0 && !stopped);
  }

  function kick(): void {
    if (stopped) return;
    if (round) {
      again = true;
      return;
    }
    round = runRound()
      .catch((err: unknown) => logger.warn({ err }, 'webhook dispatch round failed; the next one retries'))
      .finally(() => {
        round = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  const tick = () => {
    if (!stopped) {
      listener
        .ensure()
        .catch((err: unknown) => logger.warn({ err }, 'cannot LISTEN for webhook events; polling meanwhile'));
    }
    kick();
  };
  tick();
  const timer = setInterval(tick, pollIntervalMs);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await round;
    await listener.stop();
  };
}
