import type { FailureReason } from '../grant-types.ts';

/**
 * How the service reacts to each Feishu error it can meet (docs/feishu-facts.md §2 and §6).
 * Pure: the gateway classifies, activities and workflows decide by kind.
 */
export type FeishuErrorKind =
  | 'transient' // retry with backoff
  | 'rate_limited' // retry after x-ogw-ratelimit-reset
  | 'invalid_code' // the authorization code cannot be used: ask the user again
  | 'user_not_allowed' // the user may not use the app
  | 'config_error' // our app's set-up is wrong: an operator must act
  | 'refresh_token_spent' // revoked or already used: re-read storage before giving up
  | 'needs_reauth' // the grant is over: the user must authorize again
  | 'invalid_request' // a scope problem in what we asked
  | 'bug' // a request we built wrongly
  | 'card_not_updatable' // the message cannot be PATCHed (too old, not ours, not a card)
  | 'unknown';

const BY_CODE: Record<number, FeishuErrorKind> = {
  20001: 'bug',
  20063: 'bug',
  20070: 'bug',
  20002: 'config_error',
  20009: 'config_error',
  20048: 'config_error',
  20069: 'config_error',
  20071: 'config_error',
  20027: 'config_error',
  20029: 'config_error',
  20003: 'invalid_code',
  20004: 'invalid_code',
  20024: 'invalid_code',
  20049: 'invalid_code',
  20065: 'invalid_code',
  20008: 'user_not_allowed',
  20010: 'user_not_allowed',
  20066: 'user_not_allowed',
  20026: 'needs_reauth',
  20037: 'needs_reauth',
  20074: 'needs_reauth',
  20064: 'refresh_token_spent',
  20073: 'refresh_token_spent',
  20067: 'invalid_request',
  20068: 'invalid_request',
  20050: 'transient',
  20072: 'transient',
  99991400: 'rate_limited',
  99991663: 'transient', // our tenant token went stale: the SDK fetches a new one on retry
  99991661: 'bug',
  99991671: 'bug',
  99991668: 'needs_reauth',
  99991672: 'config_error',
  99991677: 'transient',
  230013: 'user_not_allowed', // the user is outside the bot's availability
  230001: 'card_not_updatable',
  230002: 'card_not_updatable',
  230020: 'rate_limited',
  230031: 'card_not_updatable',
};

/**
 * The one table from a Feishu error kind to the reason a card, a page and a metric show. The
 * workflow reads the kind from an activity failure's type, activities from the error itself.
 */
const REASON_BY_KIND: Record<FeishuErrorKind, FailureReason> = {
  transient: 'feishu_unavailable',
  rate_limited: 'feishu_unavailable',
  invalid_code: 'invalid_code',
  user_not_allowed: 'user_not_allowed',
  config_error: 'config_error',
  needs_reauth: 'config_error',
  refresh_token_spent: 'config_error',
  invalid_request: 'invalid_request',
  bug: 'internal',
  card_not_updatable: 'internal',
  unknown: 'internal',
};

export function failureReasonOf(kind: string): FailureReason {
  return REASON_BY_KIND[kind as FeishuErrorKind] ?? 'internal';
}

export function classifyFeishuError(httpStatus: number, code: number): FeishuErrorKind {
  const byCode = BY_CODE[code];
  if (byCode) return byCode;
  if (httpStatus === 429) return 'rate_limited';
  if (httpStatus === 0 || httpStatus >= 500) return 'transient';
  return 'unknown';
}

export function isRetryable(kind: FeishuErrorKind): boolean {
  return kind === 'transient' || kind === 'rate_limited';
}

/**
 * A Feishu call that failed, carrying only what is safe to log or store: never a request body,
 * token or secret. The message names the endpoint and codes.
 */
export class FeishuApiError extends Error {
  override name = 'FeishuApiError';
  readonly kind: FeishuErrorKind;

  constructor(
    readonly endpoint: string,
    readonly httpStatus: number,
    readonly code: number,
    readonly retryAfterSeconds?: number,
  ) {
    const kind = classifyFeishuError(httpStatus, code);
    super(`Feishu ${endpoint} failed: HTTP ${httpStatus || 'network error'}, code ${code} (${kind})`);
    this.kind = kind;
  }
}
