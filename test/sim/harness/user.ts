import type { AttemptOutcome, CardNotice } from '../../../lib/grant-types.ts';
import type { SessionRow } from '../../../lib/store/sessions.ts';
import type { SimCard } from '../model/feishu.ts';
import type { Simulation } from './simulation.ts';

export type CardButton = 'authorize' | 'cancel' | 'retry' | 'revoke';

/** The buttons a card in each state shows (lib/cards/build.ts). */
const BUTTONS: Record<SimCard['state'], CardButton[]> = {
  pending: ['authorize', 'cancel'],
  authorized: ['revoke'],
  denied: ['retry'],
  expired: ['retry'],
  cancelled: ['retry'],
  revoked: ['retry'],
  identity_mismatch: ['retry'],
  failed: ['retry'],
  superseded: [],
};

/** GET /v1/users/:openId/token as a caller sees it. */
export type TokenRead = { status: 200; expiresAt: number } | { status: 404 | 410 | 503 };

/**
 * One Feishu user and the services acting for them, doing what the API routes and the callback
 * handlers do with the same GrantService calls: DMs, POSTs, clicks in the browser and on cards,
 * token reads, revocation. The browser and the chat are the model's.
 */
export class SimUser {
  constructor(
    private readonly sim: Simulation,
    readonly openId: string,
  ) {}

  get workflowId(): string {
    return this.sim.grants.workflowId(this.openId);
  }

  /** The user's cards, oldest first. */
  cards(): SimCard[] {
    return this.sim.world.feishu.cardsOf(this.openId).sort((a, b) => a.sentAt - b.sentAt);
  }

  latestCard(): SimCard | undefined {
    return this.cards().at(-1);
  }

  /** The newest card still showing an Authorize button. */
  pendingCard(): SimCard | undefined {
    return this.cards().findLast((card) => card.state === 'pending');
  }

  /** The cards the grant itself sent (re-authorize or renewal), with their attempts, oldest first. */
  noticeCards(kind: CardNotice): { card: SimCard; attempt: SessionRow }[] {
    const { store, feishu } = this.sim.world;
    return store
      .sessionsOf(this.openId)
      .filter((session) => store.notices.get(session.id) === kind && session.message_id)
      .map((attempt) => ({ attempt, card: feishu.cards.get(attempt.message_id!)! }))
      .sort((a, b) => a.attempt.created_at.getTime() - b.attempt.created_at.getTime());
  }

  static has(card: SimCard, button: CardButton): boolean {
    return BUTTONS[card.state].includes(button);
  }

  private request(what: string, req: Parameters<Simulation['grants']['request']>[1]) {
    return this.sim.step(this.openId, what, () => this.sim.grants.request(this.openId, req));
  }

  /** "授权" or "/auth scope…" in a DM to the bot. */
  dm(scopes: string[] = []) {
    return this.request(`DM /auth ${scopes.join(' ')}`, { scopes, locale: 'zh_cn', source: 'bot_message' });
  }

  /** POST /v1/authorizations from a service. */
  post(scopes: string[]) {
    return this.request(`POST /v1/authorizations ${scopes.join(' ')}`, { scopes, source: 'api' });
  }

  /** The card's Retry button: the earlier attempt's scopes, on the same card when it can still change. */
  retry(card: SimCard): Promise<void> {
    const previous = this.sim.world.store.getSession(card.attemptId);
    return this.cardAction(`Retry on ${card.messageId}`, () =>
      this.sim.grants.request(this.openId, {
        scopes: previous?.scopes ?? [],
        locale: previous?.locale,
        source: 'card_retry',
        reuseMessageId: card.messageId,
      }),
    );
  }

  /** Authorize → consent in the browser (as `consenter`: someone else is the wrong account) → redirect. */
  async consent(card: SimCard, consenter = this.openId): Promise<AttemptOutcome | 'settled' | undefined> {
    const session = this.openSession(card);
    if (!session) return 'settled';
    const now = await this.sim.time.now();
    const code = this.sim.world.feishu.consent(now, consenter, session.scopes);
    this.sim.world.store.storeCodeOnce(session.id, code);
    return this.redirect(card, false, consenter === this.openId ? 'consents' : `consents as ${consenter}`);
  }

  /** Authorize → "deny" in the browser → redirect with error=access_denied. */
  async deny(card: SimCard): Promise<AttemptOutcome | 'settled' | undefined> {
    return this.openSession(card) ? this.redirect(card, true, 'denies') : 'settled';
  }

  cancel(card: SimCard): Promise<void> {
    return this.cardAction(`Cancel on ${card.messageId}`, () =>
      this.sim.grants.cancel(this.openId, card.attemptId),
    );
  }

  /** DELETE /v1/users/:openId/authorization; returns how long the call took in server time. */
  revoke(): Promise<number> {
    return this.sim.step(this.openId, 'DELETE authorization', async () => {
      const start = await this.sim.time.now();
      await this.forget('api');
      return (await this.sim.time.now()) - start;
    });
  }

  /** The Revoke button on the card that shows the grant. */
  revokeByCard(card: SimCard): Promise<void> {
    return this.cardAction(`Revoke on ${card.messageId}`, () => this.forget('card'));
  }

  /** GET /v1/users/:openId/token: refreshed through the workflow when within the margin. */
  readToken(): Promise<TokenRead> {
    return this.sim.step(this.openId, 'GET token', async () => {
      const { world, grants, time } = this.sim;
      const marginMs = world.settings.accessTokenMarginSeconds * 1000;
      const now = await time.now();
      const stored = this.servable();
      if (stored.status !== 200 || stored.expiresAt - now >= marginMs) return stored;
      await grants.ensureFresh(this.openId, now + marginMs);
      const after = this.servable();
      return after.status === 200 && after.expiresAt <= (await time.now()) ? { status: 503 } : after;
    });
  }

  /** api/revoke.ts: through the workflow, or, with none running, by forgetting the stored tokens. */
  private async forget(source: 'api' | 'card'): Promise<void> {
    const { world, time } = this.sim;
    if (await this.sim.grants.revoke(this.openId, { source, requestedAt: await time.now() })) return;
    world.store.setGrantStatus(
      await time.now(),
      world.appId,
      this.openId,
      'revoked',
      `revoked_by_${source}`,
      true,
    );
  }

  /**
   * What a card button does after the callback was answered (api/feishu/handlers.ts): the user
   * already saw the toast, so a failure is logged by the API, not answered.
   */
  private cardAction(what: string, act: () => Promise<unknown>): Promise<void> {
    return this.sim.step(this.openId, what, async () => {
      try {
        await act();
      } catch (err) {
        await this.sim.record(this.openId, `the API logs "card action failed": ${String(err)}`);
      }
    });
  }

  private servable(): TokenRead {
    const grant = this.sim.world.store.getGrant(this.openId);
    const gone = grant?.status === 'needs_reauth' || grant?.status === 'revoked';
    if (!grant || (!grant.access_token_ct && !gone)) return { status: 404 };
    if (gone || !grant.access_token_ct) return { status: 410 };
    return { status: 200, expiresAt: grant.access_expires_at?.getTime() ?? 0 };
  }

  /** The attempt a card's Authorize link belongs to, while the OAuth callback would still hand it on. */
  private openSession(card: SimCard) {
    const session = this.sim.world.store.getSession(card.attemptId);
    return session?.status === 'pending' ? session : undefined;
  }

  private redirect(card: SimCard, denied: boolean, what: string) {
    const { attemptId } = card;
    return this.sim.step(this.openId, `${what} on ${card.messageId} (${attemptId})`, () =>
      this.sim.grants.deliverRedirect(this.workflowId, { attemptId, denied }, `redirect-${attemptId}`),
    );
  }
}
