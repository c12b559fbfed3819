import { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { webhookActivities, type WebhookDeps } from '../activities/webhooks.ts';
import type { Config, KeyRingEntry } from '../lib/config.ts';
import { grantDataConverter } from '../lib/data-converter.ts';
import { syncEnvSubscribers } from '../lib/store/webhook-subscribers.ts';
import { webhookTaskQueue } from '../workflows/task-queues.ts';
import { startWebhookDispatcher } from './webhook-dispatcher.ts';
import { DEFAULT_SHUTDOWN_GRACE_MS, workflowSource } from './worker.ts';

/** Deliveries in flight per worker: they wait on subscribers, not on this process. */
const MAX_CONCURRENT_DELIVERIES = 100;

export interface WebhookDeliveryOptions {
  connection: NativeConnection;
  namespace: string;
  /** The grant task queue; webhooks run on their own queue beside it. */
  taskQueue: string;
  appId: string;
  deps: Omit<WebhookDeps, 'envSubscribers'>;
  config: Pick<
    Config,
    | 'WEBHOOK_URLS'
    | 'WEBHOOK_RETRY_WINDOW_SECONDS'
    | 'WEBHOOK_RETRY_INITIAL_SECONDS'
    | 'WEBHOOK_RETRY_MAX_INTERVAL_SECONDS'
  >;
  payloadCodecKeys: KeyRingEntry[];
  workflowBundle?: WorkflowBundleOption;
  shutdownGraceMs?: number;
  dispatchPollIntervalMs?: number;
}

export interface WebhookDelivery {
  worker: Worker;
  /** Stops the dispatcher; shut the worker down as the others are. */
  stopDispatcher: () => Promise<void>;
}

/**
 * Webhook delivery for one app: WEBHOOK_URLS made the app's env subscribers, a worker for the
 * delivery workflows and their HTTP calls on the webhook task queue, and the outbox dispatcher.
 */
export async function startWebhookDelivery(options: WebhookDeliveryOptions): Promise<WebhookDelivery> {
  const { config, deps, appId } = options;
  await syncEnvSubscribers(deps.db, appId, config.WEBHOOK_URLS);
  const dataConverter = grantDataConverter(options.payloadCodecKeys, { refuseUnencrypted: true });
  const taskQueue = webhookTaskQueue(options.taskQueue);
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue,
    ...workflowSource(options.workflowBundle),
    dataConverter,
    activities: webhookActivities({ ...deps, envSubscribers: config.WEBHOOK_URLS }),
    maxConcurrentActivityTaskExecutions: MAX_CONCURRENT_DELIVERIES,
    shutdownGraceTime: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
  const stopDispatcher = startWebhookDispatcher({
    db: deps.db,
    temporal: new Client({ connection: options.connection, namespace: options.namespace, dataConverter }),
    appId,
    taskQueue,
    logger: deps.logger,
    retryWindowSeconds: config.WEBHOOK_RETRY_WINDOW_SECONDS,
    retry: {
      initialIntervalMs: config.WEBHOOK_RETRY_INITIAL_SECONDS * 1000,
      maximumIntervalMs: config.WEBHOOK_RETRY_MAX_INTERVAL_SECONDS * 1000,
    },
    pollIntervalMs: options.dispatchPollIntervalMs,
  });
  return { worker, stopDispatcher };
}
