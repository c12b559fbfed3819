import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../../activities/index.ts';
import type { SettleInput } from '../../../activities/attempts.ts';
import type { ExchangeResult } from '../../../activities/exchange.ts';
import { REFRESH_REFUSED } from '../../../activities/failure-types.ts';
import { failureReasonFor, toActivityFailure } from '../../../activities/feishu-failure.ts';
import { movedOn, type RefreshResult } from '../../../activities/refresh.ts';
import { pendingAttemptView, type CardView } from '../../../lib/cards/build.ts';
import { FeishuApiError, isRetryable } from '../../../lib/feishu/errors.ts';
import type { TokenSet, UserProfile } from '../../../lib/feishu/gateway.ts';
import type { CardNotice } from '../../../lib/grant-types.ts';
import { tokenMetaOf, type GrantRow } from '../../../lib/store/grants.ts';
import type { SessionRow } from '../../../lib/store/sessions.ts';
import { checkNoRefreshAfterRevoke, checkOneLiveCard } from '../invariants/model-checks.ts';
import type { World } from './world.ts';

const INVALID_CODE: ExchangeResult = { outcome: { kind: 'failed', reason: 'invalid_code' } };
/** user_info is retried inside the exchange (the code is spent by then): one call and three more. */
const USER_INFO_TRIES = 4;

function authorized(grant: GrantRow): ExchangeResult {
  const token = tokenMetaOf(grant);
  return { outcome: { kind: 'authorized', userName: token.userName, scopes: token.scopes }, token };
}

/** Feishu errors leave a model call the way the real activities let them leave: as Temporal failures. */
function asActivityFailure<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw toActivityFailure(err);
  }
}

/**
 * The grant workflow's activities over the model: the same names, inputs, results and failure
 * types as activities/, with the same store guards, in server time.
 */
export function modelActivities(world: World): Activities {
  const { feishu, store, log, interleave, faults } = world;

  const pendingView = (row: SessionRow, notice?: CardNotice): CardView =>
    pendingAttemptView(
      row,
      `https://accounts.feishu.cn/open-apis/authen/v1/authorize?attempt=${row.id}`,
      notice,
    );

  function settle(now: number, input: Omit<SettleInput, 'card'>): void {
    store.settleSession(now, input.attemptId, {
      status: input.sessionStatus,
      errorCode: input.errorCode !== undefined ? String(input.errorCode) : undefined,
      reason: input.reason,
    });
    if (input.grantStatus) {
      store.setGrantStatus(
        now,
        input.appId,
        input.openId,
        input.grantStatus,
        input.reason ?? null,
        input.grantStatus !== 'authorized',
      );
    }
  }

  function deliver(now: number, row: SessionRow, card: CardView, reuseMessageId?: string): string {
    if (reuseMessageId) {
      try {
        feishu.patchCard(now, reuseMessageId, card);
        return reuseMessageId;
      } catch (err) {
        if (!(err instanceof FeishuApiError && err.kind === 'card_not_updatable')) throw err;
      }
    }
    return feishu.sendCard(now, row.open_id, card, row.id);
  }

  function alreadyExchanged(openId: string): ExchangeResult {
    const grant = store.getGrant(openId);
    return grant?.status === 'authorized' ? authorized(grant) : INVALID_CODE;
  }

  function userInfo(now: number, accessToken: string): UserProfile {
    for (let tries = 1; ; tries++) {
      try {
        return feishu.userInfo(now, accessToken);
      } catch (err) {
        if (!(err instanceof FeishuApiError && isRetryable(err.kind)) || tries === USER_INFO_TRIES) throw err;
      }
    }
  }

  function afterLostRace(openId: string, expectedVersion: number): RefreshResult {
    const outcome = movedOn(store.getGrant(openId), expectedVersion);
    if (!outcome) throw new Error('the grant changed during its refresh');
    return outcome;
  }

  function giveUp(now: number, openId: string, expectedVersion: number, code: number): RefreshResult {
    const reason = `feishu_${code}`;
    if (!store.markNeedsReauth(now, openId, expectedVersion, reason))
      return afterLostRace(openId, expectedVersion);
    return { kind: 'needs_reauth', reason, errorCode: code };
  }

  return {
    async startAttempt(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      const row = store.insertSession(now, input);
      const started = (messageId: string) => {
        const grant = store.markGrantPending(now, input.appId, input.openId);
        return { messageId, grantStatus: grant.status, grantReason: grant.reason ?? undefined };
      };
      if (row.message_id) return started(row.message_id);
      const messageId = asActivityFailure(() =>
        deliver(now, row, pendingView(row, input.notice), input.reuseMessageId),
      );
      row.message_id = messageId;
      checkOneLiveCard(world, now, input.openId, row.id);
      return started(messageId);
    },

    pollDeviceAuthorization() {
      throw new Error('the model drives the code flow only');
    },

    async rescopeAttempt(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      const row = store.getSession(input.attemptId);
      if (!row) return undefined;
      row.scopes = input.scopes;
      row.expires_at = new Date(input.expiresAt);
      const messageId = row.message_id;
      if (messageId) asActivityFailure(() => feishu.patchCard(now, messageId, pendingView(row)));
      // The model drives the code flow only: no device terms to answer.
      return undefined;
    },

    async settleAttempt(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      settle(now, input);
      const card = input.card;
      if (card) asActivityFailure(() => feishu.patchCard(now, card.messageId, card.view));
    },

    async settleAttemptShowingCard(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      settle(now, input);
      try {
        feishu.patchCard(now, input.card.messageId, input.card.view);
        return { card: 'shown' };
      } catch (err) {
        if (!(err instanceof FeishuApiError && !isRetryable(err.kind))) return { card: 'unreached' };
        return { card: 'refused', failure: `Feishu.${err.kind}` };
      }
    },

    async updateCard(input) {
      await interleave.run('updateCard', input.view.openId, input);
      const now = await world.clock();
      asActivityFailure(() => feishu.patchCard(now, input.messageId, input.view));
    },

    async exchangeCode(input) {
      await interleave.run('exchangeCode', input.openId, input);
      const now = await world.clock();
      faults.checkDatabase(now);
      const row = store.getSession(input.attemptId);
      if (row?.code_spent_at) return alreadyExchanged(input.openId);
      if (!row?.code_ct) return INVALID_CODE;
      const code = row.code_ct.toString();
      let tokens: TokenSet;
      try {
        tokens = feishu.exchangeCode(now, code);
      } catch (err) {
        if (err instanceof FeishuApiError && !isRetryable(err.kind)) {
          return { outcome: { kind: 'failed', reason: failureReasonFor(err), errorCode: err.code } };
        }
        throw toActivityFailure(err);
      }
      let profile: UserProfile;
      try {
        profile = userInfo(now, tokens.accessToken);
      } catch (err) {
        if (!(err instanceof FeishuApiError)) throw err;
        return { outcome: { kind: 'failed', reason: failureReasonFor(err), errorCode: err.code } };
      }
      if (profile.openId !== input.openId) {
        return { outcome: { kind: 'identity_mismatch', consentedName: profile.name } };
      }
      if (store.spendCode(now, input.attemptId)) {
        return authorized(store.saveAuthorizedGrant(now, input.appId, input.openId, tokens, profile));
      }
      // The attempt was settled while Feishu answered: what it bought is not stored.
      return store.getSession(input.attemptId)?.code_spent_at ? alreadyExchanged(input.openId) : INVALID_CODE;
    },

    async refreshGrant(input) {
      const { openId, expectedVersion } = input;
      await interleave.run('refreshGrant', openId, input);
      const now = await world.clock();
      checkNoRefreshAfterRevoke(world, now, openId, Context.current().info.scheduledTimestampMs);
      faults.checkDatabase(now);
      const grant = store.getGrant(openId);
      const early = movedOn(grant, expectedVersion);
      if (early) return early;
      const refreshToken = grant?.refresh_token_ct?.toString();
      if (!refreshToken) throw new Error('the model stores a refresh token with every access token');
      let tokens: TokenSet;
      try {
        tokens = feishu.refresh(now, refreshToken);
      } catch (err) {
        if (!(err instanceof FeishuApiError)) throw err;
        if (isRetryable(err.kind)) throw toActivityFailure(err);
        if (err.kind === 'refresh_token_spent') {
          // Spent by an earlier run of this activity that stored its pair, or revoked meanwhile.
          const outcome = movedOn(store.getGrant(openId), expectedVersion);
          if (outcome) return outcome;
        }
        if (err.kind === 'needs_reauth' || err.kind === 'refresh_token_spent') {
          return giveUp(now, openId, expectedVersion, err.code);
        }
        // Neither transient nor the grant's end: an operator has to fix something.
        log.record(now, openId, `refresh refused (${err.kind}, code ${err.code})`);
        throw ApplicationFailure.create({
          type: REFRESH_REFUSED,
          message: err.message,
          nonRetryable: true,
          details: [{ code: err.code, httpStatus: err.httpStatus, kind: err.kind }],
        });
      }
      const saved = store.saveRotatedTokens(now, openId, expectedVersion, tokens);
      if (!saved) {
        log.record(now, openId, 'the grant changed while Feishu rotated its token; the new pair is dropped');
        return afterLostRace(openId, expectedVersion);
      }
      return { kind: 'refreshed', token: tokenMetaOf(saved) };
    },

    async revokeGrant(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      store.setGrantStatus(now, input.appId, input.openId, 'revoked', `revoked_by_${input.source}`, true);
    },

    async currentGrantSettings() {
      await interleave.run('currentGrantSettings', undefined, undefined);
      return world.settings;
    },

    async endGrant(input) {
      const now = await world.clock();
      faults.checkDatabase(now);
      store.setGrantStatus(now, input.appId, input.openId, 'needs_reauth', input.reason, true);
    },
  };
}
