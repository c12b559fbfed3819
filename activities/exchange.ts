import { CancelledFailure } from '@temporalio/activity';
import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import type { UserProfile } from '../lib/feishu/gateway.ts';
import { inTransaction } from '../lib/db.ts';
import { getGrant, saveAuthorizedGrant, tokenMetaOf, type GrantRow } from '../lib/store/grants.ts';
import { getSession, spendCode } from '../lib/store/sessions.ts';
import type { AttemptOutcome, TokenMeta } from '../lib/grant-types.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { attemptTimeLeftMs, feishuCall, pause } from './attempt-context.ts';
import { failureReasonFor, toActivityFailure } from './feishu-failure.ts';
import { sealTokens } from './seal-tokens.ts';

export interface ExchangeResult {
  outcome: AttemptOutcome;
  token?: TokenMeta;
}

const USER_INFO_BACKOFF_MS = [200, 1_000, 3_000];

const INVALID_CODE: ExchangeResult = { outcome: { kind: 'failed', reason: 'invalid_code' } };

function authorized(grant: GrantRow): ExchangeResult {
  const token = tokenMetaOf(grant);
  return { outcome: { kind: 'authorized', userName: token.userName, scopes: token.scopes }, token };
}

export function exchangeActivities({ db, cipher, feishu, redirectUri, logger }: ServiceDeps) {
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

  return {
    /**
     * Code → tokens → user_info → identity check → sealed tokens in PostgreSQL. Returns only
     * metadata. Transient Feishu errors before the code is spent are thrown for Temporal to retry.
     */
    async exchangeCode(input: { appId: string; openId: string; attemptId: string }): Promise<ExchangeResult> {
      const row = await getSession(db, input.attemptId);
      if (row?.code_spent_at) return alreadyExchanged(input.appId, input.openId);
      if (!row?.code_ct || !row.code_key_id || !row.verifier_ct) return INVALID_CODE;
      const ctx = { appId: input.appId, openId: input.openId };
      const code = cipher.open({ keyId: row.code_key_id, box: row.code_ct }, { ...ctx, kind: 'oauth_code' });
      const codeVerifier = cipher.open(
        { keyId: row.key_id, box: row.verifier_ct },
        { ...ctx, kind: 'pkce_verifier' },
      );

      let tokens;
      try {
        tokens = await feishuCall((signal) =>
          feishu.exchangeCode({ code, redirectUri, codeVerifier }, signal),
        );
      } catch (err) {
        if (err instanceof FeishuApiError && !isRetryable(err.kind)) {
          logger.warn(
            { attemptId: input.attemptId, feishuCode: err.code, kind: err.kind },
            'code exchange refused',
          );
          return { outcome: { kind: 'failed', reason: failureReasonFor(err), errorCode: err.code } };
        }
        throw toActivityFailure(err);
      }

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
      const grant = await inTransaction(db, async (tx) =>
        (await spendCode(tx, input.attemptId))
          ? saveAuthorizedGrant(tx, input.appId, input.openId, sealed, profile)
          : undefined,
      );
      if (grant) return authorized(grant);
      // Another run of this activity stored its grant first, or the attempt was settled (failed,
      // cancelled, superseded) while this run waited for Feishu: what it bought is not stored.
      if ((await getSession(db, input.attemptId))?.code_spent_at) {
        return alreadyExchanged(input.appId, input.openId);
      }
      logger.warn({ attemptId: input.attemptId }, 'the attempt was settled during its code exchange');
      return INVALID_CODE;
    },
  };
}
