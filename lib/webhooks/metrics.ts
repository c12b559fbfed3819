import client from 'prom-client';
import { registry } from '../metrics.ts';

/** Labels carry a subscriber's configured name (never its URL or secret) and fixed results. */
export const webhookDeliveryAttempts = new client.Counter({
  name: 'webhook_delivery_attempts_total',
  help: 'Webhook delivery tries by subscriber and result: delivered (2xx), failed (retried with back-off).',
  labelNames: ['subscriber', 'result'] as const,
  registers: [registry],
});
/**
 * Without labels, so it is served as 0 from the start: an alert's increase() then sees the first
 * dead letter too (a labelled series would appear at 1). Which subscriber: the log line and
 * GET /v1/webhooks/deliveries?status=dead.
 */
export const webhookDeadLettered = new client.Counter({
  name: 'webhook_deliveries_dead_lettered_total',
  help: 'Webhook deliveries given up after their retry window (WEBHOOK_RETRY_WINDOW_SECONDS).',
  registers: [registry],
});
export const webhookDeliveryLatency = new client.Histogram({
  name: 'webhook_delivery_latency_seconds',
  help: "Time from a grant's change to its subscriber's 2xx, retries included.",
  labelNames: ['subscriber'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600, 86_400],
  registers: [registry],
});
