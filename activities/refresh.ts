import { FeishuApiError, isRetryable } from '../lib/feishu/errors';
import { tokenRefreshTotal } from '../lib/metrics';
import {
  getGrant,
  recordGrantEvent,
  saveRotatedTokens,
  setGrantStatus,
  type GrantRow,
} from '../lib/store/grants';
import type { TokenMeta } from '../lib/grant-types';
import type { ServiceDeps } from '../lib/service-deps';
import { toActivityFailure } from './feishu-failure';
import { sealTokens } from './seal-tokens';

export type RefreshResult =
  | { kind: 'refreshed'; token: TokenMeta }
  | { kind: 'needs_reauth'; reason: string; errorCode?: number }
  | { kind: 'gone' };

export function tokenMetaOf(row: GrantRow): TokenMeta {
  return {
    scopes: row.scopes,
    accessExpiresAt: row.access_expires_at?.getTime() ?? 0,
    refreshExpiresAt: row.refresh_expires_at?.getTime(),
    authorizedAt: row.authorized_at?.getTime() ?? 0,
    tokenVersion: row.token_version,
    userName: row.user_name ?? '',
  };
}

export function refreshActivities({ db, cipher, feishu, logger }: ServiceDeps) {
  async function giveUp(
    appId: string,
    openId: string,
    reason: string,
    errorCode?: number,
  ): Promise<RefreshResult> {
    await setGrantStatus(db, appId, openId, 'needs_reauth', reason, { dropTokens: true });
    await recordGrantEvent(db, {
      appId,
      openId,
      kind: 'refresh',
      outcome: 'needs_reauth',
      errorCode: errorCode !== undefined ? String(errorCode) : undefined,
      detail: reason,
    });
    tokenRefreshTotal.inc({ result: 'needs_reauth' });
    return { kind: 'needs_reauth', reason, errorCode };
  }

  return {
    /**
     * Rotates the grant's token pair. The new pair is written the moment Feishu answers, so the
     * window in which a crash loses a rotated refresh token is one local UPDATE. A version that
     * moved since the workflow last saw it means an earlier run of this activity already rotated:
     * its result is returned instead of spending the (now dead) old refresh token.
     */
    async refreshGrant(input: {
      appId: string;
      openId: string;
      expectedVersion: number;
    }): Promise<RefreshResult> {
      const { appId, openId, expectedVersion } = input;
      const grant = await getGrant(db, appId, openId);
      if (!grant || grant.status === 'revoked' || !grant.access_token_ct) return { kind: 'gone' };
      if (grant.token_version !== expectedVersion) {
        tokenRefreshTotal.inc({ result: 'skipped' });
        return { kind: 'refreshed', token: tokenMetaOf(grant) };
      }
      if (!grant.refresh_token_ct || !grant.key_id) return giveUp(appId, openId, 'no_refresh_token');
      const refreshToken = cipher.open(
        { keyId: grant.key_id, box: grant.refresh_token_ct },
        { appId, openId, kind: 'refresh_token' },
      );

      let tokens;
      try {
        tokens = await feishu.refresh(refreshToken);
      } catch (err) {
        if (!(err instanceof FeishuApiError)) throw err;
        if (isRetryable(err.kind)) {
          tokenRefreshTotal.inc({ result: 'transient_error' });
          await recordGrantEvent(db, {
            appId,
            openId,
            kind: 'refresh',
            outcome: 'retrying',
            errorCode: String(err.code),
          });
          throw toActivityFailure(err);
        }
        if (err.kind === 'refresh_token_spent') {
          const now = await getGrant(db, appId, openId);
          if (now && now.token_version !== expectedVersion && now.access_token_ct) {
            return { kind: 'refreshed', token: tokenMetaOf(now) };
          }
        }
        if (err.kind === 'needs_reauth' || err.kind === 'refresh_token_spent') {
          return giveUp(appId, openId, `feishu_${err.code}`, err.code);
        }
        logger.error(
          { appId, feishuCode: err.code, kind: err.kind },
          'refresh refused for a reason retrying cannot fix',
        );
        tokenRefreshTotal.inc({ result: 'transient_error' });
        throw toActivityFailure(err);
      }

      // Feishu rotates the refresh token on every refresh; should an answer lack one, the current
      // one is re-sealed with the new key id rather than left under a key id it no longer matches.
      const sealed = sealTokens(cipher, appId, openId, {
        ...tokens,
        refreshToken: tokens.refreshToken ?? refreshToken,
      });
      const version = await saveRotatedTokens(db, appId, openId, expectedVersion, sealed);
      if (version === undefined) throw new Error('the grant changed during its refresh');
      await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'success' });
      tokenRefreshTotal.inc({ result: 'success' });
      const row = await getGrant(db, appId, openId);
      return { kind: 'refreshed', token: tokenMetaOf(row!) };
    },

    /** Deletes the stored tokens; Feishu has no revocation endpoint, so forgetting them is revoking. */
    async revokeGrant(input: { appId: string; openId: string; source: string }): Promise<void> {
      await setGrantStatus(db, input.appId, input.openId, 'revoked', `revoked_by_${input.source}`, {
        dropTokens: true,
      });
      await recordGrantEvent(db, {
        appId: input.appId,
        openId: input.openId,
        kind: 'revoke',
        outcome: 'revoked',
        detail: input.source,
      });
    },
  };
}
