import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import { getSession } from '../lib/store/sessions.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { feishuCall } from './attempt-context.ts';
import { INVALID_CODE, consentSteps, type AttemptRef, type ExchangeResult } from './consent.ts';
import { failureReasonFor, toActivityFailure } from './feishu-failure.ts';

export type { ExchangeResult } from './consent.ts';

export function exchangeActivities(deps: ServiceDeps) {
  const { db, cipher, feishu, redirectUri, logger } = deps;
  const { alreadyExchanged, keepConsent } = consentSteps(deps);
  return {
    /**
     * Code → tokens → user_info → identity check → sealed tokens in PostgreSQL. Returns only
     * metadata. Transient Feishu errors before the code is spent are thrown for Temporal to retry.
     */
    async exchangeCode(input: AttemptRef): Promise<ExchangeResult> {
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
      return keepConsent(input, tokens);
    },
  };
}
