import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
import {
  deliveryToSend,
  pendingDeliveries,
  recordAttempt,
  settleUndelivered,
  type DeliveryGroup,
  type DeliveryToSend,
  type PendingDelivery,
} from '../lib/store/webhook-deliveries.ts';
import type { TokenCipher } from '../lib/token-crypto.ts';
import type { EnvSubscriber } from '../lib/webhooks/env-subscribers.ts';
import { webhookBody } from '../lib/webhooks/events.ts';
import {
  webhookDeadLettered,
  webhookDeliveryAttempts,
  webhookDeliveryLatency,
} from '../lib/webhooks/metrics.ts';
import { signWebhook } from '../lib/webhooks/signing.ts';

export interface WebhookDeps {
  db: Db;
  cipher: TokenCipher;
  logger: Logger;
  /** WEBHOOK_URLS of this worker: the only place env subscribers' secrets are. */
  envSubscribers: EnvSubscriber[];
}

/** A subscriber has this long to answer; the workflow's start-to-close leaves room for the rest. */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;
export const WEBHOOK_FAILED = 'WebhookDeliveryFailed';

export type DeliveryResult = 'delivered' | 'cancelled' | 'settled_before';

export function webhookActivities({ db, cipher, logger, envSubscribers }: WebhookDeps) {
  function secretsOf(d: DeliveryToSend): string[] {
    if (d.source === 'env') {
      const configured = envSubscribers.find((s) => s.name === d.subscriber_name);
      if (!configured) {
        throw ApplicationFailure.retryable(
          `subscriber ${d.subscriber_name} is not in this worker's WEBHOOK_URLS`,
        );
      }
      return configured.secrets;
    }
    const ctx = { appId: d.app_id, openId: d.subscriber_id, kind: 'webhook_secret' } as const;
    const secrets = [cipher.open({ keyId: d.key_id!, box: d.secret_ct! }, ctx)];
    if (d.previous_secret_ct && d.previous_key_id && (d.previous_valid_until?.getTime() ?? 0) > Date.now()) {
      secrets.push(cipher.open({ keyId: d.previous_key_id, box: d.previous_secret_ct }, ctx));
    }
    return secrets;
  }

  /** POSTs once; the answer's status, or why there was none. Never follows a redirect. */
  async function post(
    d: DeliveryToSend,
    secrets: string[],
  ): Promise<{ httpStatus?: number; error?: string }> {
    const body = webhookBody(d);
    const signal = AbortSignal.any([
      AbortSignal.timeout(WEBHOOK_REQUEST_TIMEOUT_MS),
      ...(activityContext()?.cancellationSignal ? [activityContext()!.cancellationSignal] : []),
    ]);
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'feishu-user-auth-webhooks/1',
          ...signWebhook(d.event_id, body, secrets, new Date()),
        },
        body,
        redirect: 'manual',
        signal,
      });
      await res.body?.cancel();
      return { httpStatus: res.status };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { error: cause ?? (err as Error).name };
    }
  }

  return {
    /** A group's pending deliveries, oldest event first. */
    pendingWebhookDeliveries(group: DeliveryGroup & { appId: string }): Promise<PendingDelivery[]> {
      return pendingDeliveries(db, group);
    },

    /**
     * One try of one delivery: signed with the subscriber's secrets, a 2xx settles it, anything
     * else is recorded and thrown, for Temporal to retry with back-off. A delivery settled
     * meanwhile (delivered by an earlier try, replayed, cancelled) is not sent again.
     */
    async deliverWebhook({ deliveryId }: { deliveryId: string }): Promise<DeliveryResult> {
      const d = await deliveryToSend(db, deliveryId);
      if (!d || d.status !== 'pending') return 'settled_before';
      if (!d.enabled) {
        await settleUndelivered(db, deliveryId, 'cancelled');
        return 'cancelled';
      }
      const outcome = await post(d, secretsOf(d));
      const delivered =
        outcome.httpStatus !== undefined && outcome.httpStatus >= 200 && outcome.httpStatus < 300;
      await recordAttempt(db, deliveryId, { ...outcome, delivered });
      webhookDeliveryAttempts.inc({
        subscriber: d.subscriber_name,
        result: delivered ? 'delivered' : 'failed',
      });
      if (delivered) {
        webhookDeliveryLatency.observe(
          { subscriber: d.subscriber_name },
          (Date.now() - d.occurred_at.getTime()) / 1000,
        );
        return 'delivered';
      }
      const why = outcome.httpStatus !== undefined ? `HTTP ${outcome.httpStatus}` : outcome.error;
      // A subscriber failing is its own trouble, counted in our metrics: benign to the SDK.
      throw ApplicationFailure.create({
        type: WEBHOOK_FAILED,
        message: `subscriber ${d.subscriber_name} answered ${why}`,
        category: ApplicationFailureCategory.BENIGN,
      });
    },

    /** Retries ran out: the delivery is dead-lettered (counted, alerted on, replayable). */
    async deadLetterWebhook({ deliveryId }: { deliveryId: string }): Promise<void> {
      const settled = await settleUndelivered(db, deliveryId, 'dead');
      if (!settled) return;
      webhookDeadLettered.inc();
      logger.warn({ deliveryId, subscriber: settled.subscriber_name }, 'webhook delivery dead-lettered');
    },
  };
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export type WebhookActivities = ReturnType<typeof webhookActivities>;
