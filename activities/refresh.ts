import { ApplicationFailure } from '@temporalio/activity';
import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import { tokenRefreshTotal } from '../lib/metrics.ts';
import {
  getGrant,
  markNeedsReauth,
  recordGrantEvent,
  revokeStoredGrant,
  saveRotatedTokens,
  tokenMetaOf,
  type GrantRow,
} from '../lib/store/grants.ts';
import type { RevokeRequest, TokenMeta } from '../lib/grant-types.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { feishuCall } from './attempt-context.ts';
import { REFRESH_REFUSED } from './failure-types.ts';
import { toActivityFailure } from './feishu-failure.ts';
import { sealTokens } from './seal-tokens.ts';

export type RefreshResult =
  | { kind: 'refreshed'; token: TokenMeta }
  | { kind: 'needs_reauth'; reason: string; errorCode?: number }
  | { kind: 'gone' };

/**
 * What a refresh reports when the grant is no longer the one the workflow last saw: given up on
 * (an earlier run of this activity, killed before it could report, found the refresh token dead:
 * that tokenless grant is not a revoked one, and its user needs a re-authorize card), gone
 * (revoked or without tokens), or rotated by an earlier run. Undefined when it still is.
 */
export function movedOn(grant: GrantRow | undefined, expectedVersion: number): RefreshResult | undefined {
  if (grant?.status === 'needs_reauth')
    return { kind: 'needs_reauth', reason: grant.reason ?? 'needs_reauth' };
  if (!grant || grant.status === 'revoked' || !grant.access_token_ct) return { kind: 'gone' };
  if (grant.token_version !== expectedVersion) return { kind: 'refreshed', token: tokenMetaOf(grant) };
  return undefined;
}

export function refreshActivities({ db, cipher, feishu, logger }: ServiceDeps) {
  /** Where the grant stands after a write that found it changed; an error if it did not change. */
  async function afterLostRace(
    appId: string,
    openId: string,
    expectedVersion: number,
  ): Promise<RefreshResult> {
    const outcome = movedOn(await getGrant(db, appId, openId), expectedVersion);
    if (!outcome) throw new Error('the grant changed during its refresh');
    return outcome;
  }

  async function giveUp(
    appId: string,
    openId: string,
    expectedVersion: number,
    reason: string,
    errorCode?: number,
  ): Promise<RefreshResult> {
    if (!(await markNeedsReauth(db, appId, openId, expectedVersion, reason))) {
      return afterLostRace(appId, openId, expectedVersion);
    }
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

  /** A refusal that is neither transient nor the grant's end: an operator has to fix something. */
  async function refused(appId: string, openId: string, err: FeishuApiError): Promise<never> {
    logger.error(
      { appId, feishuCode: err.code, kind: err.kind },
      'refresh refused for a reason retrying cannot fix',
    );
    tokenRefreshTotal.inc({ result: 'refused' });
    await recordGrantEvent(db, {
      appId,
      openId,
      kind: 'refresh',
      outcome: 'refused',
      errorCode: String(err.code),
      detail: err.kind,
    });
    throw ApplicationFailure.create({
      type: REFRESH_REFUSED,
      message: err.message,
      nonRetryable: true,
      details: [{ code: err.code, httpStatus: err.httpStatus, kind: err.kind }],
    });
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
      const early = movedOn(grant, expectedVersion);
      if (early || !grant) {
        if (early?.kind === 'refreshed') tokenRefreshTotal.inc({ result: 'skipped' });
        return early ?? { kind: 'gone' };
      }
      if (!grant.refresh_token_ct || !grant.key_id) {
        return giveUp(appId, openId, expectedVersion, 'no_refresh_token');
      }
      const refreshToken = cipher.open(
        { keyId: grant.key_id, box: grant.refresh_token_ct },
        { appId, openId, kind: 'refresh_token' },
      );

      let tokens;
      try {
        tokens = await feishuCall((signal) => feishu.refresh(refreshToken, signal));
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
          // Spent by an earlier run of this activity that stored its pair, or revoked meanwhile.
          const outcome = movedOn(await getGrant(db, appId, openId), expectedVersion);
          if (outcome) return outcome;
        }
        if (err.kind === 'needs_reauth' || err.kind === 'refresh_token_spent') {
          return giveUp(appId, openId, expectedVersion, `feishu_${err.code}`, err.code);
        }
        return refused(appId, openId, err);
      }

      // Written even when this attempt was cancelled or timed out meanwhile: Feishu has already
      // rotated, so the new pair is the only live one. The write checks version and status, so it
      // lands only on the grant as this attempt read it, and a retry then finds it done.
      // Feishu rotates the refresh token on every refresh; should an answer lack one, the current
      // one is re-sealed with the new key id rather than left under a key id it no longer matches.
      const sealed = sealTokens(cipher, appId, openId, {
        ...tokens,
        refreshToken: tokens.refreshToken ?? refreshToken,
      });
      const saved = await saveRotatedTokens(db, appId, openId, expectedVersion, sealed);
      if (!saved) {
        // Revoked, re-authorized or given up while Feishu answered: the pair it issued is dropped.
        logger.warn({ appId }, 'the grant changed while Feishu rotated its token; the new pair is dropped');
        await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'discarded' });
        return afterLostRace(appId, openId, expectedVersion);
      }
      await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'success' });
      tokenRefreshTotal.inc({ result: 'success' });
      return { kind: 'refreshed', token: tokenMetaOf(saved) };
    },

    /** Deletes the stored tokens; Feishu has no revocation endpoint, so forgetting them is revoking. */
    async revokeGrant({ appId, openId, ...request }: { appId: string; openId: string } & RevokeRequest) {
      await revokeStoredGrant(db, appId, openId, request);
    },
  };
}
