import { buildCard, pendingAttemptView, type CardView } from '../lib/cards/build.ts';
import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import { authorizeUrl, codeChallengeFor, newOAuthSecrets } from '../lib/feishu/oauth.ts';
import { authFailureTotal, authSessionDuration, authSessionTotal, authSuccessTotal } from '../lib/metrics.ts';
import {
  getSession,
  insertSession,
  setSessionMessage,
  setSessionScopes,
  setDeviceCode,
  settleSession,
  type SessionRow,
} from '../lib/store/sessions.ts';
import type { DeviceAuthorization } from '../lib/feishu/gateway.ts';
import { markGrantPending, recordGrantEvent, setGrantStatus } from '../lib/store/grants.ts';
import type { GrantStatus, Locale } from '../lib/grant-types.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { feishuCall } from './attempt-context.ts';
import { toActivityFailure } from './feishu-failure.ts';

export interface StartAttemptInput {
  appId: string;
  openId: string;
  workflowId: string;
  attemptId: string;
  scopes: string[];
  expiresAt: number;
  locale: Locale;
  notice?: 'reauth' | 'renewal';
  /** Turn this earlier card (a Retry click) into the new attempt instead of sending another. */
  reuseMessageId?: string;
  /** Device-flow attempts only: absent on the code flow's, as before the device flow existed. */
  flow?: 'device';
}

/** When a device attempt's code dies and how often it may be polled, as Feishu said. */
export interface DeviceTerms {
  expiresAt: number;
  intervalSeconds: number;
}

export interface StartedAttempt {
  messageId: string;
  /** Device-flow attempts only. */
  device?: DeviceTerms;
  /** The grant's stored status once the card is out (absent from activities before grant-v2). */
  grantStatus?: GrantStatus;
  grantReason?: string;
}

export interface SettleInput {
  appId: string;
  openId: string;
  attemptId: string;
  sessionStatus: SessionRow['status'];
  /** The grant's status after this attempt; omitted when a live grant is unaffected. */
  grantStatus?: GrantStatus;
  reason?: string;
  errorCode?: number;
  /** The attempt's card and the state to show on it. */
  card?: { messageId: string; view: SettledView };
}

type SettledView = Exclude<CardView, { state: 'pending' }>;

export interface SettleShowingCardInput extends Omit<SettleInput, 'card'> {
  card: { messageId: string; view: SettledView };
}

/**
 * Whether the settled state reached the card: refused for good (failure is the Feishu error's
 * type, recorded in the grant's history), or not reached for now (an outage: worth retrying).
 */
export type SettledCard = { card: 'shown' | 'unreached' } | { card: 'refused'; failure: string };

/** A device authorization as sealed in the attempt's row, with its expiry made absolute. */
type SealedDevice = Omit<DeviceAuthorization, 'expiresInSeconds'> & { expiresAt: number };

export function attemptActivities({ db, cipher, feishu, redirectUri, logger }: ServiceDeps) {
  const deviceContext = (row: SessionRow) => ({
    appId: row.app_id,
    openId: row.open_id,
    kind: 'device_code' as const,
  });

  /**
   * Asks Feishu for a device code for the attempt's scopes and keeps it sealed in the attempt's
   * row; the attempt ends when the code does, if not sooner.
   */
  async function newDeviceCode(row: SessionRow, latestEnd: number): Promise<SealedDevice> {
    const { expiresInSeconds, ...device } = await feishuCall((signal) =>
      feishu.startDeviceAuthorization(row.scopes, signal),
    );
    const sealed: SealedDevice = {
      ...device,
      expiresAt: Math.min(latestEnd, Date.now() + expiresInSeconds * 1000),
    };
    const box = cipher.seal(JSON.stringify(sealed), deviceContext(row));
    await setDeviceCode(db, row.id, box, new Date(sealed.expiresAt));
    return sealed;
  }

  /** The device code a retried start already obtained, or a new one. */
  async function deviceCodeOf(row: SessionRow): Promise<SealedDevice> {
    if (row.code_ct && row.code_key_id) {
      return JSON.parse(
        cipher.open({ keyId: row.code_key_id, box: row.code_ct }, deviceContext(row)),
      ) as SealedDevice;
    }
    return newDeviceCode(row, row.expires_at.getTime());
  }

  function devicePendingView(row: SessionRow, device: SealedDevice, notice?: 'reauth' | 'renewal'): CardView {
    return {
      ...pendingAttemptView(row, device.verificationUriComplete, notice),
      expiresAt: device.expiresAt,
      device: { userCode: device.userCode, verificationUri: device.verificationUri },
    };
  }

  const termsOf = (device: SealedDevice): DeviceTerms => ({
    expiresAt: device.expiresAt,
    intervalSeconds: device.intervalSeconds,
  });

  function pendingView(row: SessionRow, notice?: 'reauth' | 'renewal'): CardView {
    if (!row.state_ct || !row.verifier_ct) throw new Error(`attempt ${row.id} has no OAuth secrets left`);
    const ctx = { appId: row.app_id, openId: row.open_id };
    const state = cipher.open({ keyId: row.key_id, box: row.state_ct }, { ...ctx, kind: 'oauth_state' });
    const verifier = cipher.open(
      { keyId: row.key_id, box: row.verifier_ct },
      { ...ctx, kind: 'pkce_verifier' },
    );
    const url = authorizeUrl({
      oauthDomain: feishu.settings.oauthDomain,
      appId: row.app_id,
      redirectUri,
      scopes: row.scopes,
      state,
      codeChallenge: codeChallengeFor(verifier),
    });
    return pendingAttemptView(row, url, notice);
  }

  async function patch(messageId: string, view: SettledView): Promise<void> {
    try {
      await feishuCall((signal) => feishu.patchCard(messageId, buildCard(view), signal));
    } catch (err) {
      throw toActivityFailure(err);
    }
  }

  async function recordSettle(input: Omit<SettleInput, 'card'>): Promise<void> {
    // The grant first: a long-poll wakes when the attempt leaves pending and reads the grant.
    if (input.grantStatus) {
      // An attempt that did not authorize leaves no tokens behind for anyone to serve.
      await setGrantStatus(db, input.appId, input.openId, input.grantStatus, input.reason ?? null, {
        dropTokens: input.grantStatus !== 'authorized',
      });
    }
    const settled = await settleSession(db, input.attemptId, {
      status: input.sessionStatus,
      errorCode: input.errorCode !== undefined ? String(input.errorCode) : undefined,
      reason: input.reason,
    });
    if (settled?.first) {
      authSessionDuration.observe((Date.now() - settled.createdAt.getTime()) / 1000);
      if (input.sessionStatus === 'authorized') authSuccessTotal.inc();
      else authFailureTotal.inc({ reason: input.reason ?? input.sessionStatus });
    }
  }

  /** A card Feishu will never change (too old, deleted) keeps its last state: the user's history says so. */
  async function recordCardRefused(appId: string, view: SettledView, err: FeishuApiError): Promise<void> {
    await recordGrantEvent(db, {
      appId,
      openId: view.openId,
      kind: 'card',
      outcome: 'not_updated',
      errorCode: String(err.code),
      detail: view.state,
    });
  }

  async function deliver(row: SessionRow, card: object, reuseMessageId: string | undefined): Promise<string> {
    if (reuseMessageId) {
      try {
        await feishuCall((signal) => feishu.patchCard(reuseMessageId, card, signal));
        return reuseMessageId;
      } catch (err) {
        if (!(err instanceof FeishuApiError && err.kind === 'card_not_updatable')) throw err;
        logger.info({ attemptId: row.id }, 'the earlier card cannot be updated any more; sending a new one');
      }
    }
    // uuid = attempt id: a retried send returns the first message instead of a second card.
    return feishuCall((signal) => feishu.sendCard(row.open_id, card, row.id, signal));
  }

  return {
    /**
     * Creates the attempt's OAuth secrets and row, and puts its card in front of the user. Answers
     * with the grant's stored status too: a new run learns that its grant awaits re-authorization.
     */
    async startAttempt(input: StartAttemptInput): Promise<StartedAttempt> {
      const secrets = newOAuthSecrets();
      const ctx = { appId: input.appId, openId: input.openId };
      const stateSealed = cipher.seal(secrets.state, { ...ctx, kind: 'oauth_state' });
      const verifierSealed = cipher.seal(secrets.codeVerifier, { ...ctx, kind: 'pkce_verifier' });
      const row = await insertSession(db, {
        id: input.attemptId,
        appId: input.appId,
        openId: input.openId,
        workflowId: input.workflowId,
        scopes: input.scopes,
        locale: input.locale,
        stateHash: secrets.stateHash,
        keyId: stateSealed.keyId,
        stateCt: stateSealed.box,
        verifierCt: verifierSealed.box,
        expiresAt: new Date(input.expiresAt),
        notice: input.notice,
      });
      let messageId = row.message_id;
      let device: SealedDevice | undefined;
      if (!messageId) {
        try {
          device = input.flow === 'device' ? await deviceCodeOf(row) : undefined;
          const view = device ? devicePendingView(row, device, input.notice) : pendingView(row, input.notice);
          messageId = await deliver(row, buildCard(view), input.reuseMessageId);
        } catch (err) {
          throw toActivityFailure(err);
        }
        await setSessionMessage(db, row.id, messageId);
        authSessionTotal.inc();
      } else if (input.flow === 'device') {
        device = await deviceCodeOf(row);
      }
      const grant = await markGrantPending(db, input.appId, input.openId);
      return {
        messageId,
        grantStatus: grant.status,
        grantReason: grant.reason ?? undefined,
        ...(device ? { device: termsOf(device) } : {}),
      };
    },

    /**
     * A second request merged more scopes into the pending attempt: same card, new link. A device
     * code is bound to its scopes, so a device attempt gets a new one (and answers its terms).
     */
    async rescopeAttempt(input: {
      attemptId: string;
      scopes: string[];
      expiresAt: number;
      flow?: 'device';
    }): Promise<DeviceTerms | undefined> {
      await setSessionScopes(db, input.attemptId, input.scopes, new Date(input.expiresAt));
      const row = await getSession(db, input.attemptId);
      const messageId = row?.message_id;
      if (!row || !messageId) return undefined;
      try {
        const device = input.flow === 'device' ? await newDeviceCode(row, input.expiresAt) : undefined;
        const view = device ? devicePendingView(row, device) : pendingView(row);
        await feishuCall((signal) => feishu.patchCard(messageId, buildCard(view), signal));
        return device && termsOf(device);
      } catch (err) {
        throw toActivityFailure(err);
      }
    },

    /**
     * Records how an attempt ended (session row, grant status, metrics), then shows it on the
     * card. Idempotent, so a retry after a failed PATCH records nothing twice.
     */
    async settleAttempt(input: SettleInput): Promise<void> {
      await recordSettle(input);
      if (input.card) await patch(input.card.messageId, input.card.view);
    },

    /**
     * Records how an attempt ended, retried until it lands like settleAttempt, then tries its
     * card once. A card failure never fails the activity (a retry would only record the settle
     * again): a refusal for good is recorded and answered, anything else is left to updateCard.
     */
    async settleAttemptShowingCard(input: SettleShowingCardInput): Promise<SettledCard> {
      await recordSettle(input);
      const { messageId, view } = input.card;
      try {
        await feishuCall((signal) => feishu.patchCard(messageId, buildCard(view), signal));
        return { card: 'shown' };
      } catch (err) {
        if (!(err instanceof FeishuApiError && !isRetryable(err.kind))) return { card: 'unreached' };
        await recordCardRefused(input.appId, view, err);
        return { card: 'refused', failure: `Feishu.${err.kind}` };
      }
    },

    /** Shows a settled state on the attempt's card, in place. */
    async updateCard(input: { appId?: string; messageId: string; view: SettledView }): Promise<void> {
      try {
        await feishuCall((signal) => feishu.patchCard(input.messageId, buildCard(input.view), signal));
      } catch (err) {
        // (0f8d4b2 runs send no appId; their workflow logs it instead.)
        if (input.appId && err instanceof FeishuApiError && !isRetryable(err.kind)) {
          await recordCardRefused(input.appId, input.view, err);
        }
        throw toActivityFailure(err);
      }
    },
  };
}
