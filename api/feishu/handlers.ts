import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import type { EnabledScopes } from '../../lib/feishu/enabled-scopes.ts';
import type { FeishuGateway } from '../../lib/feishu/gateway.ts';
import type { Text } from '../../lib/i18n.ts';
import type { Logger } from '../../lib/logger.ts';
import type { CallbackWork } from '../../workflows/callback.ts';
import { HttpError } from '../errors.ts';
import type { GrantService } from '../grants.ts';
import { scopeParam } from '../routes/params.ts';
import { assertWithinScopeCap } from '../scope-cap.ts';
import { assertScopesEnabled } from '../scope-check.ts';
import type { UserCardLimit } from './user-limit.ts';

/** What Feishu shows the clicking user at once; the card itself changes afterwards. */
export interface CallbackAnswer {
  toast: { type: 'success' | 'info' | 'warning' | 'error'; content: string; i18n: Text };
}

/** How long Feishu waits for a callback's answer before it gives up on it. */
export const FEISHU_ANSWER_WINDOW_MS = 3_000;

/**
 * How long a callback's work may take to reach Temporal: what is left of Feishu's window
 * carries the answer back.
 */
export const HANDOFF_BUDGET_MS = 2_000;

/** Settles as `work` does, or rejects 503 once `signal` aborts (PostgreSQL or Temporal too slow to answer in time). */
function beforeAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  const aborted = new Promise<never>((_, reject) => {
    const refuse = () =>
      reject(new HttpError(503, 'unavailable', 'the callback could not be handled in time'));
    if (signal.aborted) refuse();
    else signal.addEventListener('abort', refuse, { once: true });
  });
  return Promise.race([work, aborted]);
}

const cardAction = z.object({
  operator: z.object({ open_id: z.string().optional() }).optional(),
  action: z.object({
    value: z.object({
      action: z.enum(['cancel', 'revoke', 'retry']),
      open_id: z.string(),
      attempt_id: z.string(),
    }),
  }),
  context: z.object({ open_message_id: z.string().optional() }).optional(),
});

const dmEvent = z.object({
  sender: z.object({ sender_id: z.object({ open_id: z.string() }) }),
  message: z.object({
    message_id: z.string().optional(),
    chat_type: z.string(),
    message_type: z.string(),
    content: z.string(),
  }),
});

const AUTH_COMMAND = /^\s*(授权|\/auth)(\s+.*)?$/i;

function toast(type: CallbackAnswer['toast']['type'], text: Text): CallbackAnswer {
  return { toast: { type, content: text.zh_cn, i18n: text } };
}

/** What a user who asked for cards too often is told: on the Retry toast, or once a window by DM. */
function slowDown(seconds: number): Text {
  return {
    zh_cn: `操作过于频繁，请 ${seconds} 秒后再试`,
    en_us: `Too many requests: try again in ${seconds} s`,
  };
}

/**
 * Card buttons and bot DMs, whichever transport (long connection or HTTP) brought them. Nothing
 * is acted on here: the work is handed to a workflow (GrantService.handOff) before Feishu is
 * answered, and the workflow acts once Feishu's wait for the answer is over, so an API that dies
 * after answering loses nothing and a card never changes while its answer is on the way.
 */
export function createCallbackHandlers({
  grants,
  db,
  enabledScopes,
  userLimit,
  feishu,
  logger,
  handOffBudgetMs = HANDOFF_BUDGET_MS,
}: {
  grants: GrantService;
  db: Db;
  enabledScopes: EnabledScopes;
  /** Bounds the cards a user's own DMs and Retry clicks ask for. */
  userLimit: UserCardLimit;
  /** Tells a user who DMs too often to slow down. */
  feishu: Pick<FeishuGateway, 'sendText'>;
  logger: Logger;
  handOffBudgetMs?: number;
}) {
  const handOff = (eventId: string | undefined, work: CallbackWork, receivedAt: number) => {
    const signal = AbortSignal.timeout(Math.max(0, receivedAt + handOffBudgetMs - Date.now()));
    // The client's own abort can lag behind a connection it is still dialling; the answer may not.
    return beforeAbort(
      signal,
      grants.handOff(eventId, { work, notBefore: receivedAt + FEISHU_ANSWER_WINDOW_MS, receivedAt }, signal),
    );
  };
  return {
    /**
     * The toast to answer with. When the work could not be handed over in time the toast says
     * the click did not go through (Feishu does not re-deliver a card callback; the user presses again).
     */
    async onCardAction(raw: unknown, eventId: string | undefined): Promise<CallbackAnswer> {
      const receivedAt = Date.now();
      const parsed = cardAction.safeParse(raw);
      if (!parsed.success) return toast('error', { zh_cn: '无法识别的操作', en_us: 'Unrecognised action' });
      const { operator, action, context } = parsed.data;
      const { open_id: openId, attempt_id: attemptId } = action.value;
      // A shared card can be clicked by anyone in the chat; only its owner may act on it.
      if (operator?.open_id !== openId) {
        return toast('warning', { zh_cn: '这张卡片不是发给你的', en_us: 'This card is for someone else' });
      }
      const work: CallbackWork =
        action.value.action === 'retry'
          ? { action: 'retry', openId, attemptId, messageId: context?.open_message_id }
          : action.value.action === 'cancel'
            ? { action: 'cancel', openId, attemptId }
            : { action: 'revoke', openId, requestedAt: receivedAt };
      try {
        if (work.action === 'retry') {
          const ask = await beforeAbort(AbortSignal.timeout(handOffBudgetMs), userLimit.take(openId));
          if (!ask.allowed) {
            logger.info({ source: 'card_retry', outcome: 'rate_limited' }, 'Retry refused: too many asks');
            return toast('warning', slowDown(ask.retryAfterSeconds));
          }
        }
        await handOff(eventId, work, receivedAt);
      } catch (err) {
        logger.warn(
          { err, action: work.action },
          'card action not handed over in time; the user is asked to press again',
        );
        return toast('error', {
          zh_cn: '操作未能完成，请再点一次',
          en_us: 'That did not go through; please press the button again',
        });
      }
      return ACKNOWLEDGED[action.value.action];
    },

    /**
     * A DM of "授权" or "/auth [scopes…]" asks for authorization; anything else is left alone.
     * Throws when the request could not be handed over in time, so the event is answered as
     * failed and Feishu delivers it again.
     */
    async onMessage(raw: unknown, eventId: string | undefined): Promise<void> {
      const receivedAt = Date.now();
      const parsed = dmEvent.safeParse(raw);
      if (
        !parsed.success ||
        parsed.data.message.chat_type !== 'p2p' ||
        parsed.data.message.message_type !== 'text'
      )
        return;
      let text: string;
      try {
        const { text: value } = JSON.parse(parsed.data.message.content) as { text?: unknown };
        text = typeof value === 'string' ? value : '';
      } catch {
        return;
      }
      const match = AUTH_COMMAND.exec(text);
      if (!match) return;
      const scopes = (match[2] ?? '').split(/\s+/).filter((s) => scopeParam.safeParse(s).success);
      const openId = parsed.data.sender.sender_id.open_id;
      const locale = match[1] === '授权' ? 'zh_cn' : 'en_us';
      const deadline = AbortSignal.timeout(handOffBudgetMs);
      const ask = await beforeAbort(deadline, userLimit.take(openId, eventId));
      if (!ask.allowed) {
        logger.info({ source: 'bot_message', outcome: 'rate_limited' }, 'DM request refused: too many asks');
        if (ask.firstRefusal) {
          // Keyed by the DM, so a redelivered event does not send a second reply.
          const uuid = `slow_down:${parsed.data.message.message_id ?? ask.retryAfterSeconds}`.slice(0, 50);
          await feishu
            .sendText(openId, slowDown(ask.retryAfterSeconds)[locale], uuid)
            .catch((err: unknown) => logger.warn({ err }, 'the slow-down reply was not sent'));
        }
        return;
      }
      try {
        await beforeAbort(
          deadline,
          Promise.all([
            assertWithinScopeCap(db, grants.appId, openId, scopes),
            assertScopesEnabled(enabledScopes, grants.appId, scopes),
          ]),
        );
      } catch (err) {
        if (!(err instanceof HttpError) || err.status === 503) throw err;
        // The user's own command named what cannot be asked for: no card, and the reason in the log.
        logger.warn({ source: 'bot_message', code: err.code, reason: err.message }, 'DM request refused');
        return;
      }
      await handOff(eventId, { action: 'request', openId, scopes, locale }, receivedAt);
    },
  };
}

const ACKNOWLEDGED: Record<'cancel' | 'revoke' | 'retry', CallbackAnswer> = {
  cancel: toast('info', { zh_cn: '已取消授权请求', en_us: 'Request cancelled' }),
  revoke: toast('success', { zh_cn: '正在撤销授权', en_us: 'Revoking your authorization' }),
  retry: toast('info', { zh_cn: '正在重新发起授权', en_us: 'Starting a new authorization' }),
};

export type CallbackHandlers = ReturnType<typeof createCallbackHandlers>;
