import { T } from '../../../lib/cards/text.ts';
import type { MessageSnapshot, Sandbox } from '../../../sandbox/index.ts';

export type CardState =
  | 'pending'
  | 'authorized'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'superseded'
  | 'identity_mismatch'
  | 'failed'
  | 'revoked';

const BY_TITLE = new Map<string, CardState>([
  [T.title.zh_cn, 'pending'],
  [T.authorizedTitle.zh_cn, 'authorized'],
  [T.deniedTitle.zh_cn, 'denied'],
  [T.expiredTitle.zh_cn, 'expired'],
  [T.cancelledTitle.zh_cn, 'cancelled'],
  [T.supersededTitle.zh_cn, 'superseded'],
  [T.mismatchTitle.zh_cn, 'identity_mismatch'],
  [T.failedTitle.zh_cn, 'failed'],
  [T.revokedTitle.zh_cn, 'revoked'],
]);

interface Card {
  header?: { title?: { content?: string } };
  body?: { elements?: { behaviors?: { type: string; default_url?: string }[] }[] };
}

/** A card as the user sees it now: its state, the attempt its buttons act on, its Authorize link. */
export interface CardView {
  messageId: string;
  state: CardState | undefined;
  attemptId: string | undefined;
  authorizeUrl: string | undefined;
  /** A re-authorize card (the grant stopped working), as opposed to one somebody asked for. */
  reauth: boolean;
  createdAt: number;
}

const ATTEMPT = /"attempt_id":"([^"]+)"/;

export const attemptIdsIn = (content: string): string[] =>
  [...content.matchAll(new RegExp(ATTEMPT, 'g'))].map((m) => m[1]!);

export function viewOf(message: MessageSnapshot): CardView {
  const card = JSON.parse(message.content) as Card;
  return {
    messageId: message.messageId,
    state: BY_TITLE.get(card.header?.title?.content ?? ''),
    attemptId: ATTEMPT.exec(message.content)?.[1] ?? message.uuid,
    authorizeUrl: card.body?.elements?.flatMap((e) => e.behaviors ?? []).find((b) => b.type === 'open_url')
      ?.default_url,
    reauth: message.versions[0]!.content.includes(T.reauthBody.zh_cn),
    createdAt: message.createdAt,
  };
}

/** Every card the bot sent this user, oldest first. */
export function cardsOf(sandbox: Sandbox, openId: string): CardView[] {
  return sandbox.state
    .messages({ openId })
    .filter((m) => m.msgType === 'interactive' && m.sender !== 'user')
    .sort((a, b) => a.createdAt - b.createdAt)
    .map(viewOf);
}

export function cardView(sandbox: Sandbox, messageId: string): CardView | undefined {
  const message = sandbox.state.message(messageId);
  return message && viewOf(message);
}
