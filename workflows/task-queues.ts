/** The rate-limited queue that carries a grant workflow's refresh activities. */
export function refreshTaskQueue(taskQueue: string): string {
  return `${taskQueue}-refresh`;
}

/** One workflow per (app, user): the single writer of that user's grant. */
export function grantWorkflowId(appId: string, openId: string): string {
  return `feishu-auth:${appId}:${openId}`;
}
