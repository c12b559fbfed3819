import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../../activities/index.ts';
import { FeishuAuthStatus, FeishuTokenExpiresAt } from '../../lib/search-attributes.ts';
import { cardFailure } from '../activity-failures.ts';
import { settledView } from '../card-views.ts';
import { describeGrant } from '../details.ts';
import { Lock } from '../lock.ts';
import { refreshTaskQueue } from '../task-queues.ts';
import { renewalNoticesAt } from '../timing.ts';
import {
  cancelAttempt,
  deliverRedirect,
  ensureFreshToken,
  grantState,
  requestAuthorization,
  revoke,
} from '../messages.ts';
import {
  DEFAULT_GRANT_SETTINGS,
  type AttemptOutcome,
  type AttemptSummary,
  type AuthorizationRequest,
  type AuthorizationResponse,
  type GrantSettings,
  type GrantState,
  type GrantStatus,
  type RedirectDelivery,
  type TokenMeta,
} from '../../lib/grant-types.ts';
import { CARD_NOT_SENT, type GrantWorkflow, type GrantWorkflowInput } from '../grant-contract.ts';

/**
 * The code exchange, which the browser waits on: a short retry budget, so a Feishu outage turns
 * into a "failed, try again" page instead of a hanging one. (A local activity would save two
 * server round trips, but the SDK core panicked here when a worker restarted mid-flight.)
 */
const exchange = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
});

const feishu = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8 },
});

/** Refreshes run on their own rate-limited task queue, so a crowd of due grants stays in Feishu's budget. */
function refreshActivitiesOn(taskQueue: string) {
  return proxyActivities<Activities>({
    taskQueue: refreshTaskQueue(taskQueue),
    startToCloseTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10 },
  });
}

const FAILED_REFRESH_RETRY_MS = 10 * 60 * 1000;

/** The patch that moves a live run of this code on to the current code (docs/operations.md, "Versioning"). */
const MOVE_TO_CURRENT_CODE = 'grant-v1-moves-on';

/**
 * The grant workflow as deployed at 0f8d4b2, frozen: runs recorded with it replay here command
 * for command. The one addition is behind a patch: at its first new workflow task after the
 * upgrade a run waits for its handlers and continues as new on the current code, carrying its
 * state (see docs/operations.md, "Versioning").
 */
export async function grantWorkflowV1(
  input: GrantWorkflowInput,
  // A test stands in for the 0f8d4b2 deployment by never moving on.
  movesOn: () => boolean = () => patched(MOVE_TO_CURRENT_CODE),
): Promise<GrantState> {
  const settings: GrantSettings = { ...DEFAULT_GRANT_SETTINGS, ...input.settings };
  const { appId, openId } = input;
  const state: GrantState = input.carried?.state ?? { appId, openId, status: 'pending', refreshCount: 0 };
  let grantMessageId = input.carried?.grantMessageId;
  let renewalAsked = input.carried?.renewalAsked ?? false;
  let refreshesThisRun = 0;
  let revoked = false;
  const lock = new Lock();
  const refresher = refreshActivitiesOn(workflowInfo().taskQueue);
  let movingOn = false;
  /** True from the first workflow task this code runs for real (never while replaying old tasks). */
  const upgrading = () => (movingOn ||= movesOn());
  const locked = <T>(section: () => Promise<T>): Promise<T> => {
    upgrading();
    return lock.run(section);
  };

  const pending = () => state.attempt !== undefined && state.attempt.outcome === undefined;
  // The attempt whose end has been recorded and shown. An outcome can arrive (a quick redirect or
  // Cancel) before the main loop first looks, so "has an outcome" is not "was settled".
  let settledAttemptId = input.carried?.state.attempt?.id;
  const unsettled = () => state.attempt !== undefined && state.attempt.id !== settledAttemptId;

  // What the search attributes say now: the start options set 'pending', and an unchanged value
  // is not written again (each write is a command in history).
  let published = { status: state.status, expiresAt: state.token?.accessExpiresAt };

  function publishStatus(status: GrantStatus): void {
    state.status = status;
    setCurrentDetails(describeGrant(state));
    const expiresAt = state.token?.accessExpiresAt;
    if (published.status === status && published.expiresAt === expiresAt) return;
    published = { status, expiresAt };
    const updates: SearchAttributeUpdatePair[] = [{ key: FeishuAuthStatus, value: status }];
    if (expiresAt !== undefined) updates.push({ key: FeishuTokenExpiresAt, value: new Date(expiresAt) });
    upsertSearchAttributes(updates);
  }

  function covers(scopes: string[]): boolean {
    return (
      state.status === 'authorized' && !!state.token && scopes.every((s) => state.token!.scopes.includes(s))
    );
  }

  async function startAttempt(
    req: AuthorizationRequest & { reuseMessageId?: string },
    notice?: 'reauth' | 'renewal',
  ) {
    const attemptId = `a-${uuid4()}`;
    const expiresAt = Date.now() + (req.expiresInSeconds ?? settings.attemptExpirySeconds) * 1000;
    const scopes = [...new Set(req.scopes)].sort();
    const attempt: AttemptSummary = { id: attemptId, scopes, expiresAt };
    state.attempt = attempt;
    try {
      const { messageId } = await feishu.startAttempt({
        appId,
        openId,
        workflowId: workflowInfo().workflowId,
        attemptId,
        scopes,
        expiresAt,
        locale: req.locale ?? 'zh_cn',
        notice,
        reuseMessageId: req.reuseMessageId,
      });
      attempt.messageId = messageId;
    } catch (err) {
      // No card reached the user: the attempt ends here, and the caller learns why.
      const failure = cardFailure(err);
      attempt.outcome = { kind: 'failed', ...failure };
      await settle();
      throw ApplicationFailure.nonRetryable(
        `the authorization card could not be sent (${failure.reason}${failure.errorCode ? `, Feishu code ${failure.errorCode}` : ''})`,
        CARD_NOT_SENT,
        failure,
      );
    }
    // A live grant, or one waiting for re-authorization, keeps its status while the card is out.
    if (state.status !== 'authorized' && state.status !== 'needs_reauth') publishStatus('pending');
  }

  function respond(reused: boolean): AuthorizationResponse {
    return {
      status: pending() ? 'pending' : state.status,
      attemptId: state.attempt?.id,
      scopes: pending() ? state.attempt!.scopes : (state.token?.scopes ?? []),
      expiresAt: pending() ? state.attempt!.expiresAt : undefined,
      reused,
    };
  }

  async function refresh(): Promise<void> {
    if (!state.token) return;
    const result = await refresher.refreshGrant({ appId, openId, expectedVersion: state.token.tokenVersion });
    if (result.kind === 'refreshed') {
      state.token = result.token;
      state.refreshCount++;
      refreshesThisRun++;
      publishStatus('authorized');
    } else if (result.kind === 'gone') {
      state.token = undefined;
      revoked = true;
      publishStatus('revoked');
    } else {
      state.token = undefined;
      state.reason = result.reason;
      publishStatus('needs_reauth');
      // The grant is needs_reauth whether or not the card gets through; the API already says so.
      await startAttempt({ scopes: state.attempt?.scopes ?? [], source: 'reauth' }, 'reauth').catch(
        (err: unknown) => log.warn('the re-authorize card could not be sent', { error: String(err) }),
      );
    }
  }

  setHandler(grantState, () => state);

  setHandler(requestAuthorization, (req) =>
    locked(async () => {
      if (covers(req.scopes) && !pending()) return respond(true);
      if (pending()) {
        const merged = [...new Set([...state.attempt!.scopes, ...req.scopes])].sort();
        if (merged.length !== state.attempt!.scopes.length) {
          state.attempt!.scopes = merged;
          await feishu.rescopeAttempt({
            attemptId: state.attempt!.id,
            scopes: merged,
            expiresAt: state.attempt!.expiresAt,
          });
        }
        return respond(true);
      }
      const scopes = [...new Set([...(state.token?.scopes ?? []), ...req.scopes])];
      await startAttempt({ ...req, scopes });
      return respond(false);
    }),
  );

  setHandler(
    deliverRedirect,
    (delivery) =>
      locked(async (): Promise<AttemptOutcome> => {
        const attempt = state.attempt;
        // Settled meanwhile (expired or cancelled while this update waited for the lock).
        if (!attempt || attempt.id !== delivery.attemptId || attempt.outcome)
          return attempt?.outcome ?? { kind: 'expired' };
        if (delivery.denied) {
          attempt.outcome = { kind: 'denied' };
          return attempt.outcome;
        }
        let result;
        try {
          result = await exchange.exchangeCode({ appId, openId, attemptId: attempt.id });
        } catch {
          // Feishu stayed unavailable through every retry: say so now, with a Retry button.
          attempt.outcome ??= { kind: 'failed', reason: 'feishu_unavailable' };
          return attempt.outcome;
        }
        if (result.token) state.token = result.token;
        // Tokens that were stored win over a Cancel that arrived during the exchange.
        if (!attempt.outcome || result.outcome.kind === 'authorized') attempt.outcome = result.outcome;
        return attempt.outcome;
      }),
    {
      validator: (delivery: RedirectDelivery) => {
        if (!state.attempt || state.attempt.id !== delivery.attemptId || state.attempt.outcome) {
          throw new Error('the attempt is no longer waiting for a redirect');
        }
      },
    },
  );

  setHandler(cancelAttempt, ({ attemptId }) => {
    upgrading();
    if (state.attempt?.id === attemptId && !state.attempt.outcome)
      state.attempt.outcome = { kind: 'cancelled' };
  });

  setHandler(revoke, ({ source }) =>
    locked(async () => {
      if (pending()) state.attempt!.outcome = { kind: 'cancelled' };
      await feishu.revokeGrant({ appId, openId, source });
      state.token = undefined;
      state.reason = `revoked_by_${source}`;
      revoked = true;
      publishStatus('revoked');
      return state;
    }),
  );

  setHandler(
    ensureFreshToken,
    ({ validUntil }) =>
      locked(async () => {
        // An absolute instant from the caller's clock: workflow time lags real time by a task's age.
        if (state.token && state.token.accessExpiresAt < validUntil) await refresh();
        if (!state.token || state.status !== 'authorized') {
          throw ApplicationFailure.nonRetryable(
            `the grant is ${state.status}`,
            'GrantNotAuthorized',
            state.reason,
          );
        }
        return state.token;
      }),
    {
      validator: (_request) => {
        if (state.status !== 'authorized') throw new Error(`the grant is ${state.status}`);
      },
    },
  );

  async function settle(): Promise<void> {
    settledAttemptId = state.attempt!.id;
    const attempt = state.attempt!;
    const outcome = attempt.outcome!;
    const sessionStatus = outcome.kind;
    const reason = outcome.kind === 'failed' ? outcome.reason : undefined;
    // An attempt that did not authorize leaves a live, revoked or re-auth-waiting grant as it was.
    const grantUnaffected =
      outcome.kind !== 'authorized' &&
      (!!state.token || revoked || state.status === 'needs_reauth' || outcome.kind === 'superseded');
    const grantStatus = grantUnaffected || sessionStatus === 'superseded' ? undefined : sessionStatus;
    await feishu.settleAttempt({
      appId,
      openId,
      attemptId: attempt.id,
      sessionStatus,
      grantStatus,
      reason,
      errorCode: outcome.kind === 'failed' ? outcome.errorCode : undefined,
      card: attempt.messageId
        ? { messageId: attempt.messageId, view: settledView(openId, attempt.id, outcome) }
        : undefined,
    });
    if (outcome.kind === 'authorized') {
      if (grantMessageId && grantMessageId !== attempt.messageId) {
        await feishu.updateCard({
          messageId: grantMessageId,
          view: { state: 'superseded', openId, attemptId: attempt.id },
        });
      }
      grantMessageId = attempt.messageId;
      state.reason = undefined;
      renewalAsked = false;
      publishStatus('authorized');
    } else if (grantStatus) {
      state.reason = reason;
      publishStatus(grantStatus);
    }
  }

  function nextWakeAt(token: TokenMeta): number {
    const renewAt = renewalNoticesAt(token, settings)[0]!;
    // Never sooner than half the refresh token's remaining life: a token that lives shorter than
    // the lead must not turn the loop into back-to-back refreshes that burn the app's budget.
    let refreshAt: number = token.refreshExpiresAt
      ? Math.max(
          token.refreshExpiresAt -
            (settings.refreshLeadSeconds + Math.random() * settings.refreshJitterSeconds) * 1000,
          Date.now() + (token.refreshExpiresAt - Date.now()) / 2,
        )
      : token.accessExpiresAt;
    if (settings.refreshPolicy === 'eager') {
      refreshAt = Math.min(refreshAt, token.accessExpiresAt - settings.accessTokenMarginSeconds * 1000);
    }
    return renewalAsked ? refreshAt : Math.min(refreshAt, renewAt);
  }

  /** Hands the grant, an unsettled attempt included, to a run of the current code. */
  async function moveToCurrentCode(): Promise<never> {
    const current = await feishu.currentGrantSettings();
    await condition(allHandlersFinished);
    return continueAsNew<GrantWorkflow>({
      appId,
      openId,
      settings: current,
      carried: { state, grantMessageId, renewalAsked, settledAttemptId },
    });
  }

  for (;;) {
    if (upgrading()) return moveToCurrentCode();
    if (unsettled()) {
      const attempt = state.attempt!;
      await condition(
        () => attempt.outcome !== undefined || movingOn,
        Math.max(0, attempt.expiresAt - Date.now()),
      );
      if (movingOn && attempt.outcome === undefined) continue;
      await locked(async () => {
        attempt.outcome ??= { kind: 'expired' };
        await settle();
      });
      continue;
    }
    if (revoked) {
      if (grantMessageId)
        await feishu.updateCard({
          messageId: grantMessageId,
          view: { state: 'revoked', openId, attemptId: state.attempt?.id ?? '' },
        });
      break;
    }
    if (state.status === 'authorized' && state.token) {
      if (refreshesThisRun >= settings.refreshesPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<GrantWorkflow>({
          appId,
          openId,
          settings: input.settings,
          carried: { state, grantMessageId, renewalAsked },
        });
      }
      const token = state.token;
      const wakeAt = nextWakeAt(token);
      const woke = await condition(
        () => pending() || revoked || state.token !== token || movingOn,
        Math.max(0, wakeAt - Date.now()),
      );
      if (woke) continue;
      await locked(async () => {
        if (state.token !== token || pending()) return;
        const renewAt = renewalNoticesAt(token, settings)[0]!;
        if (!renewalAsked && Date.now() >= renewAt) {
          renewalAsked = true;
          await startAttempt({ scopes: token.scopes, source: 'renewal' }, 'renewal').catch((err: unknown) =>
            log.warn('the renewal card could not be sent', { error: String(err) }),
          );
          return;
        }
        try {
          await refresh();
        } catch (err) {
          // Feishu stayed unavailable through every retry: the grant is kept and tried again later.
          log.warn('refresh failed; will try again', { error: String(err) });
          await condition(() => revoked || movingOn, FAILED_REFRESH_RETRY_MS);
        }
      });
      continue;
    }
    // A settled grant that is not alive (denied, expired, …): nothing to wait for. A new request
    // starts a new run with the same id.
    await condition(allHandlersFinished);
    if (!unsettled()) break;
  }
  return state;
}
