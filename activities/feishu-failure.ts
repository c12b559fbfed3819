import { ApplicationFailure } from '@temporalio/activity';
import { FeishuApiError, failureReasonOf, isRetryable } from '../lib/feishu/errors.ts';
import type { FailureReason } from '../lib/grant-types.ts';

/**
 * Turns a Feishu error into the failure Temporal should see: transient ones stay retryable
 * (honouring x-ogw-ratelimit-reset), the rest are final. The message has codes, never data.
 */
export function toActivityFailure(err: unknown): unknown {
  if (!(err instanceof FeishuApiError)) return err;
  return ApplicationFailure.create({
    type: `Feishu.${err.kind}`,
    message: err.message,
    nonRetryable: !isRetryable(err.kind),
    nextRetryDelay:
      err.retryAfterSeconds !== undefined ? `${Math.max(1, err.retryAfterSeconds)}s` : undefined,
    details: [{ code: err.code, httpStatus: err.httpStatus }],
  });
}

/** The reason an authorization attempt shows for a Feishu error that retrying cannot fix. */
export function failureReasonFor(err: FeishuApiError): FailureReason {
  return failureReasonOf(err.kind);
}
