import { CancelledFailure } from '@temporalio/activity';
import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import type { TokenSet, UserProfile } from '../lib/feishu/gateway.ts';
import { getGrant, spendCodeSavingGrant, tokenMetaOf, type GrantRow } from '../lib/store/grants.ts';
import { getSession } from '../lib/store/sessions.ts';
import type { AttemptOutcome, TokenMeta } from '../lib/grant-types.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { attemptTimeLeftMs, feishuCall, pause } from './attempt-context.ts';
import { failureReasonFor } from './feishu-failure.ts';
import { sealTokens } from './seal-tokens.ts';

export interface ExchangeResult {
  outcome: AttemptOutcome;
  token?: TokenMeta;
}

export interface AttemptRef {
  appId: string;
  openId: string;
  attemptId: string;
}

const USER_INFO_BACKOFF_MS = [200, 1_000, 3_000];

export const INVALID_CODE: ExchangeResult = { outcome: { kind: 'failed', reason: 'invalid_code' } };

function authorized(grant: GrantRow): ExchangeResult {
  const token = tokenMetaOf(grant);
  return { outcome: { kind: 'authorized', userName: token.userName, scopes: token.scopes }, token };
}

/**
 * What both flows do once Feishu has issued tokens for an attempt (a code exchanged, a device
 * code approved): user_info, the identity check, sealed tokens in PostgreSQL. Returns only metadata.
 */
export function consentSteps({ db, cipher, feishu, logger }: ServiceDeps) {
  /**
   * user_info runs after the code is spent, so a retried activity could not exchange it again:
   * its transient failures are retried here instead, as long as another call still fits in the
   * attempt (a late answer would find the attempt given up on).
   */
  async function userInfoWithRetry(accessToken: string): Promise<UserProfile> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await feishuCall((signal) => feishu.userInfo(accessToken, signal));
      } catch (err) {
        const backoff = USER_INFO_BACKOFF_MS[attempt];
        if (!(err instanceof FeishuApiError) || !isRetryable(err.kind) || backoff === undefined) throw err;
        const delay = Math.max(backoff, (err.retryAfterSeconds ?? 0) * 1000);
        if (delay + feishu.httpTimeoutMs > attemptTimeLeftMs()) throw err;
        await pause(delay);
      }
    }
  }

  /** A re-run after the grant was stored (the worker died before the workflow heard): report it. */
  async function alreadyExchanged(appId: string, openId: string): Promise<ExchangeResult> {
    const grant = await getGrant(db, appId, openId);
    return grant?.status === 'authorized' ? authorized(grant) : INVALID_CODE;
  }

  /** user_info → identity check → sealed tokens in PostgreSQL, in the transaction that spends the attempt. */
  async function keepConsent(input: AttemptRef, tokens: TokenSet): Promise<ExchangeResult> {
    let profile: UserProfile;
    try {
      profile = await userInfoWithRetry(tokens.accessToken);
    } catch (err) {
      if (err instanceof CancelledFailure) throw err;
      const reason = err instanceof FeishuApiError ? failureReasonFor(err) : 'internal';
      return {
        outcome: {
          kind: 'failed',
          reason,
          errorCode: err instanceof FeishuApiError ? err.code : undefined,
        },
      };
    }
    if (profile.openId !== input.openId) {
      // Someone else consented: their tokens are dropped here and never stored.
      return { outcome: { kind: 'identity_mismatch', consentedName: profile.name } };
    }

    const sealed = sealTokens(cipher, input.appId, input.openId, tokens);
    const grant = await spendCodeSavingGrant(db, input.attemptId, input.appId, input.openId, sealed, profile);
    if (grant) return authorized(grant);
    // Another run of this activity stored its grant first, or the attempt was settled (failed,
    // cancelled, superseded) while this run waited for Feishu: what it bought is not stored.
    if ((await getSession(db, input.attemptId))?.code_spent_at) {
      return alreadyExchanged(input.appId, input.openId);
    }
    logger.warn({ attemptId: input.attemptId }, 'the attempt was settled while Feishu issued its tokens');
    return INVALID_CODE;
  }

  return { alreadyExchanged, keepConsent };
}
