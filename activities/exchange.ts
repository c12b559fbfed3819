import { FeishuApiError, isRetryable } from '../lib/feishu/errors';
import type { UserProfile } from '../lib/feishu/gateway';
import { inTransaction } from '../lib/db';
import { getGrant, saveAuthorizedGrant } from '../lib/store/grants';
import { getSession, markCodeSpent } from '../lib/store/sessions';
import type { AttemptOutcome, TokenMeta } from '../lib/grant-types';
import type { ServiceDeps } from '../lib/service-deps';
import { failureReasonFor, toActivityFailure } from './feishu-failure';
import { tokenMetaOf } from './refresh';
import { sealTokens } from './seal-tokens';

export interface ExchangeResult {
  outcome: AttemptOutcome;
  token?: TokenMeta;
}

const USER_INFO_BACKOFF_MS = [200, 1_000, 3_000];

export function exchangeActivities({ db, cipher, feishu, redirectUri, logger }: ServiceDeps) {
  /**
   * user_info runs after the code is spent, so a retried activity could not exchange it again:
   * its transient failures are retried here instead.
   */
  async function userInfoWithRetry(accessToken: string): Promise<UserProfile> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await feishu.userInfo(accessToken);
      } catch (err) {
        const delay = USER_INFO_BACKOFF_MS[attempt];
        if (!(err instanceof FeishuApiError) || !isRetryable(err.kind) || delay === undefined) throw err;
        await new Promise((r) => setTimeout(r, Math.max(delay, (err.retryAfterSeconds ?? 0) * 1000)));
      }
    }
  }

  /** A re-run after the grant was stored (the worker died before the workflow heard): report it. */
  async function alreadyExchanged(appId: string, openId: string): Promise<ExchangeResult> {
    const grant = await getGrant(db, appId, openId);
    if (grant?.status !== 'authorized') return { outcome: { kind: 'failed', reason: 'invalid_code' } };
    const token = tokenMetaOf(grant);
    return { outcome: { kind: 'authorized', userName: token.userName, scopes: token.scopes }, token };
  }

  return {
    /**
     * Code → tokens → user_info → identity check → sealed tokens in PostgreSQL. Returns only
     * metadata. Transient Feishu errors before the code is spent are thrown for Temporal to retry.
     */
    async exchangeCode(input: { appId: string; openId: string; attemptId: string }): Promise<ExchangeResult> {
      const row = await getSession(db, input.attemptId);
      if (row?.code_spent_at) return alreadyExchanged(input.appId, input.openId);
      if (!row?.code_ct || !row.code_key_id || !row.verifier_ct) {
        return { outcome: { kind: 'failed', reason: 'invalid_code' } };
      }
      const ctx = { appId: input.appId, openId: input.openId };
      const code = cipher.open({ keyId: row.code_key_id, box: row.code_ct }, { ...ctx, kind: 'oauth_code' });
      const codeVerifier = cipher.open(
        { keyId: row.key_id, box: row.verifier_ct },
        { ...ctx, kind: 'pkce_verifier' },
      );

      let tokens;
      try {
        tokens = await feishu.exchangeCode({ code, redirectUri, codeVerifier });
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
      const tokenVersion = await inTransaction(db, async (tx) => {
        const version = await saveAuthorizedGrant(tx, input.appId, input.openId, sealed, profile);
        await markCodeSpent(tx, input.attemptId);
        return version;
      });
      return {
        outcome: { kind: 'authorized', userName: profile.name, scopes: tokens.scopes },
        token: {
          scopes: tokens.scopes,
          accessExpiresAt: sealed.accessExpiresAt.getTime(),
          refreshExpiresAt: sealed.refreshExpiresAt?.getTime(),
          authorizedAt: Date.now(),
          tokenVersion,
          userName: profile.name,
        },
      };
    },
  };
}
