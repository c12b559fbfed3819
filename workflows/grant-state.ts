import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type {
  AttemptOutcome,
  AttemptSummary,
  AuthFlow,
  AuthorizationRequest,
  AuthorizationResponse,
  CardNotice,
  DevicePolling,
  FailureReason,
  GrantSettings,
  GrantState,
  GrantStatus,
  Locale,
  RedirectDelivery,
  RevokeRequest,
  TokenMeta,
} from '../lib/grant-types.ts';
import { FeishuAuthStatus, FeishuTokenExpiresAt } from '../lib/search-attributes.ts';
import { REFRESH_REFUSED } from '../activities/failure-types.ts';
import type { DeviceTerms } from '../activities/attempts.ts';
import type { ExchangeResult } from '../activities/consent.ts';
import { cardFailure, failureType } from './activity-failures.ts';
import { cardUpdates, cards, devicePolls, exchange, refreshers, store } from './activity-proxies.ts';
import { settledView, type SettledView } from './card-views.ts';
import { describeGrant } from './details.ts';
import {
  CARD_NOT_SENT,
  type CarriedGrant,
  type GrantWorkflow,
  type GrantWorkflowInput,
  type OwedNotice,
} from './grant-contract.ts';
import { Lock } from './lock.ts';
import { grantEndsAt, refreshDueAt, refreshRetryDelayMs, renewalNoticesAt } from './timing.ts';
import {
  DECIDED_ATTEMPT_SETTLES_FIRST,
  GRANT_V3,
  LATER_REQUEST_OUTLIVES_REVOKE,
  REVOKED_CARD_AFTER_STORE,
} from './versions.ts';

/**
 * A run continues as new well before Temporal's limits (2,000 updates, 51,200 events per run) and
 * before the simulation's bounds, even when nothing else would wake it.
 */
const MAX_UPDATES_PER_RUN = 400;
const MAX_EVENTS_PER_RUN = 1_000;
/** A notice card that Feishu keeps refusing is given up after about a day of tries. */
const MAX_NOTICE_FAILURES = 8;
/**
 * Marks the first device-flow attempt of a run. Code-flow attempts never reach the check, so
 * their commands are what they were; the marker tells any other code that the history has one.
 */
const DEVICE_FLOW = 'device-flow';
/** RFC 8628 §3.5: each slow_down adds five seconds to the polling interval, for good. */
const SLOW_DOWN_STEP_SECONDS = 5;

/** A piece of the grant's own work and when it falls due. */
interface Due {
  at: number;
  act: () => Promise<void>;
}

/**
 * One (app, user) grant: its state, what its handlers do, and the loop that does the grant's own
 * work when it falls due — settling attempts, refreshing, renewal cards, the end of the year.
 * Handlers and the loop take turns under one lock, except revoke, which never waits.
 */
export class Grant {
  readonly state: GrantState;
  private readonly appId: string;
  private readonly openId: string;
  private readonly lock = new Lock();
  private readonly refresher = refreshers();
  private readonly devicePoller = devicePolls();
  private grantMessageId?: string;
  /**
   * The attempt that card authorized. Its revoked state names that attempt, not whichever came
   * later (a renewal or a request for more scopes, on a card of its own).
   */
  private grantAttemptId?: string;
  /** The attempt whose end has been recorded and shown ("has an outcome" is not "was settled"). */
  private settledAttemptId?: string;
  private renewalNoticesSent: number;
  private refreshFailures: number;
  private refreshRetryAt?: number;
  private owedNotice?: OwedNotice;
  private revokedCardShown: boolean;
  private locale: Locale;
  /** The flow of the latest request, which the grant's own cards (re-authorize, renew) use too. */
  private flow?: AuthFlow;
  private plannedRefresh?: { tokenVersion: number; at: number };
  /** Bumped by each revoke, which never waits for the lock: a section that awaited re-checks it. */
  private revocations = 0;
  /** Revoke handlers whose store write is in flight (they end the loop's wait when done). */
  private revocationsBeingStored = 0;
  private refreshesThisRun = 0;
  private updatesThisRun = 0;
  /** What the search attributes say now: an unchanged value is not written again. */
  private published: { status: GrantStatus; expiresAt?: number };

  /** Set before the loop starts, and before any section under the lock runs (loadSettings). */
  private settings!: GrantSettings;

  constructor(input: GrantWorkflowInput, settings?: GrantSettings) {
    if (settings) this.settings = settings;
    const { appId, openId, carried } = input;
    this.appId = appId;
    this.openId = openId;
    this.state = carried?.state ?? { appId, openId, status: 'pending', refreshCount: 0 };
    this.grantMessageId = carried?.grantMessageId;
    this.grantAttemptId = carried?.grantAttemptId;
    this.settledAttemptId = carried ? settledAttemptOf(carried) : undefined;
    this.renewalNoticesSent = carried?.renewalNoticesSent ?? (carried?.renewalAsked ? 1 : 0);
    this.refreshFailures = carried?.refreshFailures ?? 0;
    this.refreshRetryAt = carried?.refreshRetryAt;
    this.owedNotice = carried?.owedNotice;
    this.revokedCardShown = carried?.revokedCardShown ?? false;
    this.locale = carried?.locale ?? 'zh_cn';
    this.flow = carried?.flow;
    this.published = { status: this.state.status, expiresAt: this.state.token?.accessExpiresAt };
  }

  /**
   * Reads the settings this deployment gives runs started without them. Taken under the lock, so
   * an update that arrives meanwhile (the update of update-with-start) waits for them instead of
   * finding no handler and being rejected.
   */
  loadSettings(): Promise<void> {
    return this.lock.run(async () => {
      this.settings = await store.currentGrantSettings();
    });
  }

  // ── handlers ────────────────────────────────────────────────────────────────────────────────

  request(req: AuthorizationRequest & { reuseMessageId?: string }): Promise<AuthorizationResponse> {
    this.updatesThisRun++;
    return this.lock.run(async () => {
      if (req.locale) this.locale = req.locale;
      if (req.flow) this.flow = req.flow;
      const attempt = this.pendingAttempt();
      // A consent the loop has not recorded yet counts: settle it, then see what it covers.
      if (this.decidedUnsettled() && patched(DECIDED_ATTEMPT_SETTLES_FIRST)) await this.settle();
      if (!attempt && this.covers(req.scopes)) return this.respond(true);
      if (attempt) {
        await this.mergeScopes(attempt, req.scopes);
        return this.respond(true);
      }
      const scopes = [...new Set([...(this.state.token?.scopes ?? []), ...req.scopes])];
      const expiresAt = Date.now() + (req.expiresInSeconds ?? this.settings.attemptExpirySeconds) * 1000;
      const failure = await this.openAttempt(scopes, expiresAt, undefined, req.reuseMessageId);
      if (failure) {
        throw ApplicationFailure.nonRetryable(
          `the authorization card could not be sent (${failure.reason}${failure.errorCode ? `, Feishu code ${failure.errorCode}` : ''})`,
          CARD_NOT_SENT,
          failure,
        );
      }
      return this.respond(false);
    });
  }

  validateDelivery(delivery: RedirectDelivery): void {
    const attempt = this.state.attempt;
    if (!attempt || attempt.id !== delivery.attemptId || attempt.outcome) {
      throw new Error('the attempt is no longer waiting for a redirect');
    }
  }

  deliver(delivery: RedirectDelivery): Promise<AttemptOutcome> {
    this.updatesThisRun++;
    return this.lock.run(async () => {
      const attempt = this.state.attempt;
      // Settled meanwhile (expired or cancelled while this update waited for the lock).
      if (!attempt || attempt.id !== delivery.attemptId || attempt.outcome)
        return attempt?.outcome ?? { kind: 'expired' };
      if (delivery.denied) {
        attempt.outcome = { kind: 'denied' };
        return attempt.outcome;
      }
      const revocations = this.revocations;
      let result;
      try {
        result = await exchange.exchangeCode({
          appId: this.appId,
          openId: this.openId,
          attemptId: attempt.id,
        });
      } catch {
        // Feishu stayed unavailable through every retry: say so now, with a Retry button.
        attempt.outcome ??= { kind: 'failed', reason: 'feishu_unavailable' };
        return attempt.outcome;
      }
      return this.adopt(attempt, result, revocations);
    });
  }

  /** What Feishu's tokens (or refusal) mean for the attempt, once the exchange or poll is back. */
  private async adopt(
    attempt: AttemptSummary,
    result: ExchangeResult,
    revocations: number,
  ): Promise<AttemptOutcome> {
    if (this.revocations !== revocations) {
      // The user revoked while Feishu was asked: revocation wins over the new tokens.
      if (result.token) await store.revokeGrant({ appId: this.appId, openId: this.openId, source: 'api' });
      return attempt.outcome ?? { kind: 'cancelled' };
    }
    if (result.token) this.state.token = result.token;
    // Tokens that were stored win over a Cancel that arrived meanwhile.
    if (!attempt.outcome || result.outcome.kind === 'authorized') attempt.outcome = result.outcome;
    return attempt.outcome;
  }

  cancel({ attemptId }: { attemptId: string }): void {
    const attempt = this.pendingAttempt();
    if (attempt?.id === attemptId) attempt.outcome = { kind: 'cancelled' };
  }

  /**
   * Revocation takes effect at once and never queues behind a refresh: the store's guards keep a
   * refresh still in flight from writing its tokens back.
   */
  async revoke({ source, by, requestedAt }: RevokeRequest): Promise<GrantState> {
    this.updatesThisRun++;
    if (this.postdates(requestedAt) && patched(LATER_REQUEST_OUTLIVES_REVOKE)) {
      log.info('a revocation asked for before the user asked again leaves the newer request alone');
      return this.state;
    }
    this.revocations++;
    const attempt = this.pendingAttempt();
    if (attempt) attempt.outcome = { kind: 'cancelled' };
    this.state.token = undefined;
    this.state.reason = `revoked_by_${source}`;
    this.owedNotice = undefined;
    this.revokedCardShown = false;
    this.publishStatus('revoked');
    this.revocationsBeingStored++;
    try {
      await store.revokeGrant({ appId: this.appId, openId: this.openId, source, by });
    } finally {
      this.revocationsBeingStored--;
    }
    return this.state;
  }

  /**
   * Whether everything the grant holds came after `requestedAt`: a token authorized since, or no
   * token and an attempt the user or a service opened since. An attempt the grant opened itself
   * (re-authorize, renewal) does not count: the user's Revoke still ends it.
   */
  private postdates(requestedAt: number | undefined): boolean {
    if (requestedAt === undefined) return false;
    const token = this.state.token;
    if (token) return token.authorizedAt > requestedAt;
    const pending = this.pendingAttempt();
    return !!pending && !pending.notice && (pending.openedAt ?? 0) > requestedAt;
  }

  validateTokenRead(): void {
    if (this.state.status !== 'authorized') throw new Error(`the grant is ${this.state.status}`);
  }

  /** validUntil is an instant from the caller's clock: workflow time lags real time by a task's age. */
  ensureFresh({ validUntil }: { validUntil: number }): Promise<TokenMeta> {
    this.updatesThisRun++;
    return this.lock.run(async () => {
      const token = this.state.token;
      if (token && this.state.status === 'authorized' && token.accessExpiresAt < validUntil) {
        await this.refresh(this.refresher.urgent);
      }
      if (!this.state.token || this.state.status !== 'authorized') {
        throw ApplicationFailure.nonRetryable(
          `the grant is ${this.state.status}`,
          'GrantNotAuthorized',
          this.state.reason,
        );
      }
      return this.state.token;
    });
  }

  // ── the loop ────────────────────────────────────────────────────────────────────────────────

  /** Does the grant's work as it falls due; ends the run when nothing is left to wait for. */
  async run(): Promise<GrantState> {
    for (;;) {
      const due = this.nextDue();
      if (due && due.at <= Date.now()) {
        await this.lock.run(async () => {
          // A handler may have changed the grant while this waited for the lock.
          const now = this.nextDue();
          if (now && now.at <= Date.now()) await now.act();
        });
        continue;
      }
      if (!due) {
        await condition(allHandlersFinished);
        if (!this.nextDue()) return this.state;
        continue;
      }
      if (this.shouldContinueAsNew()) return this.continueAsNew();
      const seen = this.fingerprint();
      await condition(
        () => this.fingerprint() !== seen || this.shouldContinueAsNew(),
        Math.max(1, due.at - Date.now()),
      );
    }
  }

  private nextDue(): Due | undefined {
    const now = Date.now();
    const { attempt, token, status } = this.state;
    const dues: Due[] = [];
    const unsettled = attempt !== undefined && attempt.id !== this.settledAttemptId;
    if (unsettled) {
      dues.push({ at: attempt.outcome ? now : attempt.expiresAt, act: () => this.settle() });
      const polling = attempt.outcome ? undefined : attempt.polling;
      if (polling && polling.nextPollAt < attempt.expiresAt) {
        dues.push({ at: polling.nextPollAt, act: () => this.poll(attempt, polling) });
      }
    } else if (this.owedNotice) {
      const owed = this.owedNotice;
      dues.push({ at: owed.retryAt, act: () => this.sendNotice(owed.kind, owed.scopes) });
    }
    if (status === 'authorized' && token) {
      dues.push({ at: grantEndsAt(token, this.settings), act: () => this.endGrant(token) });
      dues.push({
        at: this.refreshRetryAt ?? this.plannedRefreshAt(token),
        act: () => this.scheduledRefresh(),
      });
      const renewalAt = renewalNoticesAt(token, this.settings)[this.renewalNoticesSent];
      // A card the user asked for is not cut short by a reminder; the reminder follows it.
      if (renewalAt !== undefined && !(unsettled && attempt.notice !== 'renewal')) {
        dues.push({ at: renewalAt, act: () => this.sendRenewal(token) });
      }
    }
    if (
      status === 'revoked' &&
      !unsettled &&
      !this.revokedCardShown &&
      this.grantMessageId &&
      !this.revocationBeingStored()
    ) {
      const messageId = this.grantMessageId;
      dues.push({ at: now, act: () => this.showRevoked(messageId) });
    }
    return dues.reduce<Due | undefined>(
      (first, due) => (!first || due.at < first.at ? due : first),
      undefined,
    );
  }

  /**
   * The card says "revoked" only once the store does: shown while the revocation was still being
   * written, a token read right after the card could still be served.
   */
  private revocationBeingStored(): boolean {
    return this.revocationsBeingStored > 0 && patched(REVOKED_CARD_AFTER_STORE);
  }

  /** What the loop's wait depends on; any change wakes it to look again. */
  private fingerprint(): string {
    const { status, attempt, token } = this.state;
    return [
      status,
      attempt?.id,
      attempt?.outcome?.kind,
      token?.tokenVersion,
      token?.accessExpiresAt,
      this.owedNotice?.retryAt,
    ].join('|');
  }

  private shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      info.historyLength >= MAX_EVENTS_PER_RUN ||
      this.updatesThisRun >= MAX_UPDATES_PER_RUN ||
      this.refreshesThisRun >= this.settings.refreshesPerRun
    );
  }

  /** Hands the whole grant, unsettled attempt included, to a new run with this deployment's settings. */
  private async continueAsNew(): Promise<never> {
    const settings = await store.currentGrantSettings();
    await condition(allHandlersFinished);
    return continueAsNew<GrantWorkflow>({
      appId: this.appId,
      openId: this.openId,
      settings,
      carried: {
        format: 2,
        state: this.state,
        grantMessageId: this.grantMessageId,
        grantAttemptId: this.grantAttemptId,
        settledAttemptId: this.settledAttemptId,
        renewalNoticesSent: this.renewalNoticesSent,
        refreshFailures: this.refreshFailures,
        refreshRetryAt: this.refreshRetryAt,
        owedNotice: this.owedNotice,
        revokedCardShown: this.revokedCardShown,
        locale: this.locale,
        flow: this.flow,
      },
    });
  }

  // ── attempts and cards ──────────────────────────────────────────────────────────────────────

  private pendingAttempt(): AttemptSummary | undefined {
    const attempt = this.state.attempt;
    return attempt && !attempt.outcome ? attempt : undefined;
  }

  /** The current attempt has an outcome the loop has not settled yet. */
  private decidedUnsettled(): boolean {
    const attempt = this.state.attempt;
    return !!attempt?.outcome && attempt.id !== this.settledAttemptId;
  }

  private covers(scopes: string[]): boolean {
    const token = this.state.token;
    return this.state.status === 'authorized' && !!token && scopes.every((s) => token.scopes.includes(s));
  }

  private respond(reused: boolean): AuthorizationResponse {
    const attempt = this.pendingAttempt();
    return {
      status: attempt ? 'pending' : this.state.status,
      attemptId: this.state.attempt?.id,
      scopes: attempt ? attempt.scopes : (this.state.token?.scopes ?? []),
      expiresAt: attempt?.expiresAt,
      reused,
    };
  }

  /**
   * A second request merged more scopes into the pending attempt: same card, new link. A card
   * that can no longer be changed is replaced by a new one, so the user still has one to act on.
   */
  private async mergeScopes(attempt: AttemptSummary, scopes: string[]): Promise<void> {
    const merged = [...new Set([...attempt.scopes, ...scopes])].sort();
    if (merged.length === attempt.scopes.length) return;
    try {
      const terms = await cards.rescopeAttempt({
        attemptId: attempt.id,
        scopes: merged,
        expiresAt: attempt.expiresAt,
        ...(attempt.polling ? { flow: 'device' as const } : {}),
      });
      attempt.scopes = merged;
      if (terms && attempt.polling) this.pollFrom(attempt, terms);
    } catch (err) {
      log.warn('the pending card could not take the new scopes; sending a new one', {
        failure: failureType(err),
      });
      attempt.outcome ??= { kind: 'superseded' };
      await this.settle();
      await this.openAttempt(merged, attempt.expiresAt, attempt.notice);
    }
  }

  /** Opens an attempt and sends its card; returns why when no card reached the user. */
  private async openAttempt(
    requested: string[],
    expiresAt: number,
    notice?: CardNotice,
    reuseMessageId?: string,
  ): Promise<{ reason: FailureReason; errorCode?: number } | undefined> {
    // An attempt that ended before the loop looked at it is settled first, never dropped.
    if (this.state.attempt && this.state.attempt.id !== this.settledAttemptId) await this.settle();
    const scopes = [...new Set(requested)].sort();
    const revocations = this.revocations;
    let storedStatus: GrantStatus | undefined;
    let storedReason: string | undefined;
    const attempt: AttemptSummary = { id: `a-${uuid4()}`, scopes, expiresAt, openedAt: Date.now(), notice };
    this.state.attempt = attempt;
    const device = this.flow === 'device' && patched(DEVICE_FLOW);
    try {
      const started = await cards.startAttempt({
        appId: this.appId,
        openId: this.openId,
        workflowId: workflowInfo().workflowId,
        attemptId: attempt.id,
        scopes,
        expiresAt,
        locale: this.locale,
        notice,
        reuseMessageId,
        ...(device ? { flow: 'device' as const } : {}),
      });
      attempt.messageId = started.messageId;
      if (started.device) this.pollFrom(attempt, started.device);
      storedStatus = started.grantStatus;
      storedReason = started.grantReason;
    } catch (err) {
      const failure = cardFailure(err);
      attempt.outcome = { kind: 'failed', ...failure };
      await this.settle();
      return failure;
    }
    if (this.revocations !== revocations) return undefined;
    // A live grant, or one waiting for re-authorization, keeps its status while the card is out —
    // also when this run is new and only the store remembers that the grant needs re-authorizing.
    if (storedStatus === 'needs_reauth' && !this.state.token) {
      this.state.reason = storedReason;
      this.publishStatus('needs_reauth');
    } else if (!['authorized', 'needs_reauth'].includes(this.state.status)) {
      this.publishStatus('pending');
    }
    return undefined;
  }

  /** A device attempt lives as long as its device code and is polled at Feishu's interval. */
  private pollFrom(attempt: AttemptSummary, terms: DeviceTerms): void {
    attempt.expiresAt = terms.expiresAt;
    attempt.polling = {
      intervalSeconds: terms.intervalSeconds,
      nextPollAt: Date.now() + terms.intervalSeconds * 1000,
    };
  }

  /**
   * Asks Feishu once whether the user approved the device code. Until they answer, the next poll
   * is an interval away (longer after each slow_down); a poll that failed through its retries is
   * just tried again then, as the device code stays good until it expires.
   */
  private async poll(attempt: AttemptSummary, polling: DevicePolling): Promise<void> {
    const revocations = this.revocations;
    let result;
    try {
      result = await this.devicePoller.pollDeviceAuthorization({
        appId: this.appId,
        openId: this.openId,
        attemptId: attempt.id,
      });
    } catch (err) {
      log.warn('a device-code poll failed; polling on', { failure: failureType(err) });
      polling.nextPollAt = Date.now() + polling.intervalSeconds * 1000;
      return;
    }
    if (result.kind === 'waiting') {
      if (result.slowDown) polling.intervalSeconds += SLOW_DOWN_STEP_SECONDS;
      polling.nextPollAt = Date.now() + polling.intervalSeconds * 1000;
      return;
    }
    await this.adopt(attempt, result, revocations);
  }

  /** Records how the current attempt ended (retried until it lands), then shows it on its card. */
  private async settle(): Promise<void> {
    const attempt = this.state.attempt!;
    const outcome = (attempt.outcome ??= { kind: 'expired' });
    this.settledAttemptId = attempt.id;
    const { status, token } = this.state;
    const revocations = this.revocations;
    // Revoked after the consent, before this settle: the revocation stands.
    const revokedSince = outcome.kind === 'authorized' && status === 'revoked' && !token;
    // An attempt that did not authorize leaves a live, revoked or re-auth-waiting grant as it was.
    const grantUnaffected =
      revokedSince ||
      outcome.kind === 'superseded' ||
      (outcome.kind !== 'authorized' && (!!token || status === 'revoked' || status === 'needs_reauth'));
    const grantStatus = grantUnaffected ? undefined : outcome.kind;
    const reason = outcome.kind === 'failed' ? outcome.reason : undefined;
    const settlement = {
      appId: this.appId,
      openId: this.openId,
      attemptId: attempt.id,
      sessionStatus: outcome.kind,
      grantStatus,
      reason,
      errorCode: outcome.kind === 'failed' ? outcome.errorCode : undefined,
    };
    if (attempt.messageId && patched(GRANT_V3)) {
      // One activity instead of two on every settle; the card stays best-effort.
      const view = settledView(this.openId, attempt.id, outcome);
      const shown = await store.settleAttemptShowingCard({
        ...settlement,
        card: { messageId: attempt.messageId, view },
      });
      if (shown.card === 'unreached') await this.showCard(attempt.messageId, view);
      if (shown.card === 'refused') cardKeptItsState(view, shown.failure);
    } else {
      await store.settleAttempt(settlement);
      if (attempt.messageId)
        await this.showCard(attempt.messageId, settledView(this.openId, attempt.id, outcome));
    }
    if (this.revocations !== revocations || revokedSince) {
      // The settle may have landed after the revocation's write: make the revocation the last word.
      if (grantStatus) await store.revokeGrant({ appId: this.appId, openId: this.openId, source: 'api' });
      if (outcome.kind === 'authorized') {
        // The newest card is the one that must say "revoked".
        this.grantMessageId = attempt.messageId;
        this.grantAttemptId = attempt.id;
        this.revokedCardShown = false;
      }
      return;
    }
    if (outcome.kind === 'authorized') {
      if (this.grantMessageId && this.grantMessageId !== attempt.messageId) {
        await this.showCard(this.grantMessageId, {
          state: 'superseded',
          openId: this.openId,
          attemptId: attempt.id,
        });
      }
      this.grantMessageId = attempt.messageId;
      this.grantAttemptId = attempt.id;
      this.state.reason = undefined;
      this.renewalNoticesSent = 0;
      this.refreshFailures = 0;
      this.refreshRetryAt = undefined;
      this.owedNotice = undefined;
      this.revokedCardShown = false;
      this.publishStatus('authorized');
    } else if (grantStatus) {
      this.state.reason = reason;
      this.publishStatus(grantStatus);
    }
  }

  /** Best-effort: a card Feishu will not change (older than 14 days, deleted) keeps its last state. */
  private async showCard(messageId: string, view: SettledView): Promise<void> {
    try {
      await cardUpdates.updateCard({ appId: this.appId, messageId, view });
    } catch (err) {
      cardKeptItsState(view, failureType(err));
    }
  }

  private async showRevoked(messageId: string): Promise<void> {
    this.revokedCardShown = true;
    await this.showCard(messageId, {
      state: 'revoked',
      openId: this.openId,
      attemptId: this.grantAttemptId ?? this.state.attempt?.id ?? '',
    });
  }

  /**
   * Sends a re-authorize or renewal card. Until one gets through the grant owes it, and tries
   * again later: a user whose grant needs them is never left without a word.
   */
  private async sendNotice(kind: CardNotice, scopes: string[]): Promise<void> {
    const token = this.state.token;
    const expiresAt =
      kind === 'renewal' && token
        ? grantEndsAt(token, this.settings)
        : Date.now() + this.settings.reauthExpirySeconds * 1000;
    const revocations = this.revocations;
    const failure = await this.openAttempt(scopes, expiresAt, kind);
    if (this.revocations !== revocations) return;
    if (!failure) {
      this.owedNotice = undefined;
      return;
    }
    const failures = (this.owedNotice?.failures ?? 0) + 1;
    log.warn(`the ${kind} card could not be sent`, { reason: failure.reason, failures });
    this.owedNotice =
      failures < MAX_NOTICE_FAILURES
        ? { kind, scopes, failures, retryAt: Date.now() + refreshRetryDelayMs(failures) }
        : undefined;
  }

  private async sendRenewal(token: TokenMeta): Promise<void> {
    const now = Date.now();
    // Notices whose time passed unseen (a long outage, changed settings) collapse into this one.
    this.renewalNoticesSent = renewalNoticesAt(token, this.settings).filter((at) => at <= now).length;
    const attempt = this.state.attempt;
    if (attempt && attempt.id !== this.settledAttemptId) {
      if (attempt.outcome || attempt.notice !== 'renewal') return;
      attempt.outcome = { kind: 'superseded' };
      await this.settle();
    }
    await this.sendNotice('renewal', token.scopes);
  }

  // ── tokens ──────────────────────────────────────────────────────────────────────────────────

  private plannedRefreshAt(token: TokenMeta): number {
    if (this.plannedRefresh?.tokenVersion !== token.tokenVersion) {
      this.plannedRefresh = {
        tokenVersion: token.tokenVersion,
        // A token already past its refresh time (clock skew, odd lifetimes) must not spin the loop.
        at: Math.max(refreshDueAt(token, this.settings, Date.now(), Math.random()), Date.now() + 1000),
      };
    }
    return this.plannedRefresh.at;
  }

  private async scheduledRefresh(): Promise<void> {
    try {
      await this.refresh(this.refresher.scheduled);
    } catch (err) {
      // Feishu stayed unavailable through every retry, or refused: the grant is kept, and tried
      // again later without holding anything up meanwhile.
      this.refreshFailures++;
      const refused = failureType(err) === REFRESH_REFUSED;
      this.refreshRetryAt = Date.now() + refreshRetryDelayMs(this.refreshFailures, refused);
      log.warn('refresh failed; will try again', {
        failure: failureType(err),
        failures: this.refreshFailures,
      });
    }
  }

  private async refresh(refresher: ReturnType<typeof refreshers>['scheduled']): Promise<void> {
    const token = this.state.token!;
    const result = await refresher.refreshGrant({
      appId: this.appId,
      openId: this.openId,
      expectedVersion: token.tokenVersion,
    });
    // Revoked while Feishu answered: the store refused the tokens, and so does the workflow.
    if (this.state.status !== 'authorized' || this.state.token !== token) return;
    this.refreshFailures = 0;
    this.refreshRetryAt = undefined;
    if (result.kind === 'refreshed') {
      this.state.token = result.token;
      this.state.refreshCount++;
      this.refreshesThisRun++;
      this.publishStatus('authorized');
    } else if (result.kind === 'gone') {
      this.state.token = undefined;
      this.publishStatus('revoked');
    } else {
      this.needsReauth(token.scopes, result.reason);
    }
  }

  /** The year Feishu allows has passed without a renewal: the user must authorize again. */
  private async endGrant(token: TokenMeta): Promise<void> {
    const reason = 'grant_max_age';
    const revocations = this.revocations;
    await store.endGrant({ appId: this.appId, openId: this.openId, reason });
    if (this.revocations !== revocations) {
      await store.revokeGrant({ appId: this.appId, openId: this.openId, source: 'api' });
      return;
    }
    this.needsReauth(token.scopes, reason);
  }

  private needsReauth(scopes: string[], reason: string): void {
    this.state.token = undefined;
    this.state.reason = reason;
    this.publishStatus('needs_reauth');
    this.owedNotice = { kind: 'reauth', scopes, retryAt: Date.now(), failures: 0 };
  }

  private publishStatus(status: GrantStatus): void {
    this.state.status = status;
    setCurrentDetails(describeGrant(this.state));
    const expiresAt = this.state.token?.accessExpiresAt;
    if (this.published.status === status && this.published.expiresAt === expiresAt) return;
    this.published = { status, expiresAt };
    const updates: SearchAttributeUpdatePair[] = [{ key: FeishuAuthStatus, value: status }];
    if (expiresAt !== undefined) updates.push({ key: FeishuTokenExpiresAt, value: new Date(expiresAt) });
    upsertSearchAttributes(updates);
  }
}

function cardKeptItsState(view: SettledView, failure: string): void {
  log.warn('a card could not be updated; it keeps its earlier state', { state: view.state, failure });
}

/**
 * Which carried attempt was already settled. A run of the 0f8d4b2 code did not say: it may have
 * carried an attempt opened while it waited to continue, which has no outcome yet.
 */
function settledAttemptOf(carried: CarriedGrant): string | undefined {
  if (carried.format === 2) return carried.settledAttemptId;
  if (carried.settledAttemptId) return carried.settledAttemptId;
  const attempt = carried.state.attempt;
  return attempt?.outcome ? attempt.id : undefined;
}
