/** The rate-limited queue that carries a grant workflow's refresh activities. */
export function refreshTaskQueue(taskQueue: string): string {
  return `${taskQueue}-refresh`;
}

/** One workflow per (app, user): the single writer of that user's grant. */
export function grantWorkflowId(appId: string, openId: string): string {
  return `feishu-auth:${appId}:${openId}`;
}

/** Webhook delivery workflows and their HTTP calls: a queue of their own, so a slow subscriber never takes a grant's slots. */
export function webhookTaskQueue(taskQueue: string): string {
  return `${taskQueue}-webhooks`;
}

/** One delivery workflow per (subscriber, grant): the order of that grant's events for that subscriber. */
export function webhookDeliveryWorkflowId(subscriberId: string, appId: string, openId: string): string {
  return `webhooks:${subscriberId}:${appId}:${openId}`;
}

/** The rate-limited queue that carries batch activities: each one may send a user a card. */
export function batchTaskQueue(taskQueue: string): string {
  return `${taskQueue}-batch`;
}

/** One workflow per batch, named by the caller's batch id. */
export function batchWorkflowId(appId: string, batchId: string): string {
  return `feishu-batch:${appId}:${batchId}`;
}

/** One workflow per Feishu callback (a card click, a DM), named by Feishu's event id. */
export function callbackWorkflowId(appId: string, eventId: string): string {
  return `feishu-callback:${appId}:${eventId}`;
}
