import type { CardView } from '../../../lib/cards/build.ts';
import { FeishuApiError } from '../../../lib/feishu/errors.ts';
import type { TokenSet, UserProfile } from '../../../lib/feishu/gateway.ts';
import { ENDPOINT_NAMES, type Faults } from './faults.ts';
import type { SimLog } from './log.ts';

const DAY_MS = 24 * 3600_000;
/** Feishu PATCHes only messages up to 14 days old (docs/feishu-facts.md §4). */
export const CARD_PATCH_WINDOW_MS = 14 * DAY_MS;
/** A send with the same uuid within an hour returns the first message. */
const SEND_UUID_WINDOW_MS = 3600_000;
const CODE_LIFETIME_MS = 5 * 60_000;
export const ACCESS_TOKEN_SECONDS = 7200;
export const REFRESH_TOKEN_SECONDS = 604_800;
/** 365 days after the user consented, Feishu refreshes no more (20037). */
export const GRANT_CAP_MS = 365 * DAY_MS;

export type CardState = CardView['state'];

/** A card as the user sees it in the chat. */
export interface SimCard {
  messageId: string;
  openId: string;
  sentAt: number;
  state: CardState;
  /** The attempt the card's content belongs to (a Retry turns an old card into a new attempt's). */
  attemptId: string;
  /** Set while the last PATCH of this card was refused or failed: the card keeps its earlier state. */
  lastPatchFailure?: string;
}

interface RefreshToken {
  openId: string;
  expiresAt: number;
  /** When the user consented: the 365-day cap counts from here, across rotations. */
  consentedAt: number;
  scopes: string[];
  /**
   * spent: rotated and the answer reached us, so presenting it again is a bug of ours;
   * spent_unseen: rotated but the answer was lost, so presenting it again is how we learn.
   */
  status: 'live' | 'spent' | 'spent_unseen' | 'revoked';
}

interface Code {
  consenter: string;
  scopes: string[];
  issuedAt: number;
  used: boolean;
}

/**
 * Feishu as this service meets it: bot messages and their PATCH rules, the OAuth code, token
 * rotation with single-use refresh tokens, the 365-day cap, user_info. Every call goes through
 * the fault schedule first and is written to the log.
 */
export class FeishuModel {
  readonly cards = new Map<string, SimCard>();
  private readonly sentByUuid = new Map<string, { messageId: string; at: number }>();
  private readonly codes = new Map<string, Code>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  private readonly accessTokens = new Map<string, { openId: string; expiresAt: number }>();
  private readonly grantedScopes = new Map<string, Set<string>>();
  private serial = 0;

  constructor(
    private readonly faults: Faults,
    private readonly log: SimLog,
    private readonly names: (openId: string) => string,
  ) {}

  private next(prefix: string): string {
    return `${prefix}_${(++this.serial).toString(36)}`;
  }

  sendCard(now: number, openId: string, view: CardView, uuid: string): string {
    this.faults.check(now, 'send');
    const earlier = this.sentByUuid.get(uuid);
    if (earlier && now - earlier.at < SEND_UUID_WINDOW_MS) return earlier.messageId;
    const messageId = this.next('om');
    this.sentByUuid.set(uuid, { messageId, at: now });
    this.cards.set(messageId, {
      messageId,
      openId,
      sentAt: now,
      state: view.state,
      attemptId: view.attemptId,
    });
    this.log.record(now, openId, `card ${messageId} sent: ${view.state} for ${view.attemptId}`);
    return messageId;
  }

  patchCard(now: number, messageId: string, view: CardView): void {
    const card = this.cards.get(messageId);
    if (!card) throw new FeishuApiError(ENDPOINT_NAMES.patch, 400, 230001);
    try {
      this.faults.check(now, 'patch');
      if (now - card.sentAt > CARD_PATCH_WINDOW_MS) {
        throw new FeishuApiError(ENDPOINT_NAMES.patch, 400, 230001);
      }
    } catch (err) {
      card.lastPatchFailure = err instanceof FeishuApiError ? err.kind : String(err);
      this.log.record(
        now,
        card.openId,
        `card ${messageId} PATCH to ${view.state} refused (${card.lastPatchFailure})`,
      );
      throw err;
    }
    card.state = view.state;
    card.attemptId = view.attemptId;
    card.lastPatchFailure = undefined;
    this.log.record(now, card.openId, `card ${messageId} now ${view.state} for ${view.attemptId}`);
  }

  /** The user consents in the browser (as `consenter`, who may be the wrong account). */
  consent(now: number, consenter: string, scopes: string[]): string {
    const granted = this.grantedScopes.get(consenter) ?? new Set<string>();
    for (const scope of scopes) granted.add(scope);
    this.grantedScopes.set(consenter, granted);
    const code = this.next('code');
    this.codes.set(code, { consenter, scopes: [...granted].sort(), issuedAt: now, used: false });
    return code;
  }

  exchangeCode(now: number, code: string): TokenSet {
    this.faults.check(now, 'token');
    const entry = this.codes.get(code);
    if (!entry) throw new FeishuApiError(ENDPOINT_NAMES.token, 400, 20003);
    if (entry.used) throw new FeishuApiError(ENDPOINT_NAMES.token, 400, 20065);
    if (now - entry.issuedAt > CODE_LIFETIME_MS) throw new FeishuApiError(ENDPOINT_NAMES.token, 400, 20004);
    entry.used = true;
    this.log.record(now, entry.consenter, `code exchanged, scopes ${entry.scopes.join(' ')}`);
    return this.issue(now, entry.consenter, now, entry.scopes);
  }

  userInfo(now: number, accessToken: string): UserProfile {
    this.faults.check(now, 'user_info');
    const token = this.accessTokens.get(accessToken);
    if (!token || token.expiresAt <= now) throw new FeishuApiError(ENDPOINT_NAMES.user_info, 401, 99991668);
    return { openId: token.openId, name: this.names(token.openId) };
  }

  refresh(now: number, refreshToken: string): TokenSet {
    this.faults.check(now, 'token');
    const token = this.refreshTokens.get(refreshToken);
    const refuse = (code: number) => new FeishuApiError(ENDPOINT_NAMES.token, 400, code);
    if (!token) throw refuse(20026);
    const { openId } = token;
    if (token.status === 'spent') {
      this.log.violation(
        now,
        openId,
        'refresh token used twice',
        `${refreshToken} was rotated and its answer delivered`,
      );
      throw refuse(20073);
    }
    if (token.status === 'spent_unseen') {
      this.log.record(now, openId, `refresh with ${refreshToken}, rotated by a lost answer: 20073`);
      throw refuse(20073);
    }
    if (token.status === 'revoked') throw refuse(20064);
    if (now >= token.expiresAt || now >= token.consentedAt + GRANT_CAP_MS) {
      this.log.record(now, openId, `refresh with ${refreshToken} after its expiry: 20037`);
      throw refuse(20037);
    }
    const lost = this.faults.takeLostRefreshAnswer(openId);
    token.status = lost ? 'spent_unseen' : 'spent';
    const tokens = this.issue(now, openId, token.consentedAt, token.scopes);
    this.log.record(
      now,
      openId,
      `refreshed ${refreshToken} -> ${tokens.refreshToken}${lost ? ', answer lost' : ''}`,
    );
    if (lost) throw new FeishuApiError(ENDPOINT_NAMES.token, 0, 0);
    return tokens;
  }

  /** The user withdrew the app's access in Feishu: their refresh tokens answer 20064 from now on. */
  revokeUserTokens(now: number, openId: string): void {
    for (const token of this.refreshTokens.values()) {
      if (token.openId === openId && token.status === 'live') token.status = 'revoked';
    }
    this.log.record(now, openId, 'user withdrew the app in Feishu');
  }

  /** How many refreshes Feishu served the user (rotations, lost answers included). */
  refreshesOf(openId: string): number {
    let count = 0;
    for (const token of this.refreshTokens.values()) {
      if (token.openId === openId && token.status.startsWith('spent')) count++;
    }
    return count;
  }

  cardsOf(openId: string): SimCard[] {
    return [...this.cards.values()].filter((c) => c.openId === openId);
  }

  private issue(now: number, openId: string, consentedAt: number, scopes: string[]): TokenSet {
    const accessToken = this.next('u');
    const refreshToken = this.next('ur');
    const cap = consentedAt + GRANT_CAP_MS;
    const refreshExpiresAt = Math.min(now + REFRESH_TOKEN_SECONDS * 1000, cap);
    this.accessTokens.set(accessToken, { openId, expiresAt: now + ACCESS_TOKEN_SECONDS * 1000 });
    this.refreshTokens.set(refreshToken, {
      openId,
      expiresAt: refreshExpiresAt,
      consentedAt,
      scopes,
      status: 'live',
    });
    return {
      accessToken,
      refreshToken,
      expiresInSeconds: ACCESS_TOKEN_SECONDS,
      refreshExpiresInSeconds: Math.round((refreshExpiresAt - now) / 1000),
      scopes,
    };
  }
}
