import { ApplicationFailure } from '@temporalio/activity';
import { FeishuApiError, isRetryable } from '../lib/feishu/errors';
import type { FailureReason } from '../lib/grant-types';

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
  switch (err.kind) {
    case 'invalid_code':
      return 'invalid_code';
    case 'user_not_allowed':
      return 'user_not_allowed';
    case 'config_error':
    case 'needs_reauth':
    case 'refresh_token_spent':
      return 'config_error';
    case 'invalid_request':
      return 'invalid_request';
    case 'transient':
    case 'rate_limited':
      return 'feishu_unavailable';
    default:
      return 'internal';
  }
}
