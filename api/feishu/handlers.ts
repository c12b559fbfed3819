import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import type { EnabledScopes } from '../../lib/feishu/enabled-scopes.ts';
import type { FeishuGateway } from '../../lib/feishu/gateway.ts';
import type { Text } from '../../lib/i18n.ts';
import type { Logger } from '../../lib/logger.ts';
import { getSession } from '../../lib/store/sessions.ts';
import { auditStream, failureOutcome } from '../audit.ts';
import { HttpError } from '../errors.ts';
import { isOutage } from '../outage.ts';
import type { GrantService } from '../grants.ts';
import { revokeGrant } from '../revoke.ts';
import { scopeParam } from '../routes/params.ts';
import { assertWithinScopeCap } from '../scope-cap.ts';
import { assertScopesEnabled } from '../scope-check.ts';
import type { UserCardLimit } from './user-limit.ts';

/** What Feishu shows the clicking user at once; the card itself changes afterwards. */
export interface CallbackAnswer {
  toast: { type: 'success' | 'info' | 'warning' | 'error'; content: string; i18n: Text };
}

export interface HandledCallback {
  answer: CallbackAnswer;
  /** Work that changes the card: run only after the answer has been sent (docs/feishu-facts.md §5). */
  after?: () => Promise<void>;
}

/** How long the work after a card click keeps trying while PostgreSQL or Temporal is unreachable. */
export const AFTER_ANSWER_PATIENCE_MS = 180_000;

/**
 * Runs a click's work once its answer is out. The user was already told it is happening, so a
 * PostgreSQL or Temporal outage (a restart, a failover) is waited out, retrying with backoff,
 * instead of dropping the Cancel, Revoke or Retry they pressed; every step is safe to repeat.
 */
export async function runAfterAnswer(
  after: () => Promise<void>,
  logger: Logger,
  patienceMs = AFTER_ANSWER_PATIENCE_MS,
): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (let delay = 1_000; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      await after();
      return;
    } catch (err) {
      const transient = isOutage(err) || (err instanceof HttpError && err.status === 503);
      if (!transient || Date.now() + delay > deadline) {
        logger.error({ err }, 'card action failed');
        return;
      }
      logger.warn({ err }, 'card action waits for PostgreSQL or Temporal; trying again');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
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

/** Card buttons and bot DMs, whichever transport (long connection or HTTP) brought them. */
export function createCallbackHandlers({
  grants,
  db,
  enabledScopes,
  userLimit,
  feishu,
  logger,
}: {
  grants: GrantService;
  db: Db;
  enabledScopes: EnabledScopes;
  /** Bounds the cards a user's own DMs and Retry clicks ask for. */
  userLimit: UserCardLimit;
  /** Tells a user who DMs too often to slow down. */
  feishu: Pick<FeishuGateway, 'sendText'>;
  logger: Logger;
}) {
  const audit = auditStream(logger);
  return {
    async onCardAction(raw: unknown): Promise<HandledCallback> {
      const parsed = cardAction.safeParse(raw);
      if (!parsed.success) {
        return { answer: toast('error', { zh_cn: '无法识别的操作', en_us: 'Unrecognised action' }) };
      }
      const { operator, action, context } = parsed.data;
      const { open_id: openId, attempt_id: attemptId } = action.value;
      // A shared card can be clicked by anyone in the chat; only its owner may act on it.
      if (operator?.open_id !== openId) {
        return {
          answer: toast('warning', { zh_cn: '这张卡片不是发给你的', en_us: 'This card is for someone else' }),
        };
      }
      switch (action.value.action) {
        case 'cancel':
          return {
            answer: toast('info', { zh_cn: '已取消授权请求', en_us: 'Request cancelled' }),
            after: () => grants.cancel(openId, attemptId),
          };
        case 'revoke': {
          const record = {
            action: 'authorization.revoke',
            by: { card_operator: openId },
            open_id: openId,
          } as const;
          return {
            answer: toast('success', { zh_cn: '正在撤销授权', en_us: 'Revoking your authorization' }),
            after: () =>
              revokeGrant(db, grants, openId, { source: 'card', by: record.by }).then(
                () => audit({ ...record, outcome: 'ok', status: 200 }),
                (err: unknown) => {
                  audit({ ...record, ...failureOutcome(err) });
                  throw err;
                },
              ),
          };
        }
        case 'retry': {
          const ask = await userLimit.take(openId);
          if (!ask.allowed) {
            logger.info({ source: 'card_retry', outcome: 'rate_limited' }, 'Retry refused: too many asks');
            return { answer: toast('warning', slowDown(ask.retryAfterSeconds)) };
          }
          const previous = await getSession(db, attemptId);
          return {
            answer: toast('info', { zh_cn: '正在重新发起授权', en_us: 'Starting a new authorization' }),
            after: async () => {
              await grants.request(openId, {
                scopes: previous?.scopes ?? [],
                locale: previous?.locale,
                source: 'card_retry',
                reuseMessageId: context?.open_message_id,
              });
            },
          };
        }
      }
    },

    /** A DM of "授权" or "/auth [scopes…]" asks for authorization; anything else is left alone. */
    async onMessage(raw: unknown): Promise<void> {
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
      const ask = await userLimit.take(openId);
      if (!ask.allowed) {
        logger.info({ source: 'bot_message', outcome: 'rate_limited' }, 'DM request refused: too many asks');
        if (ask.firstRefusal) {
          // Keyed by the DM, so a redelivered event does not send a second reply.
          const uuid = `slow_down:${parsed.data.message.message_id ?? ask.retryAfterSeconds}`.slice(0, 50);
          await feishu.sendText(openId, slowDown(ask.retryAfterSeconds)[locale], uuid);
        }
        return;
      }
      try {
        await assertWithinScopeCap(db, grants.appId, openId, scopes);
        await assertScopesEnabled(enabledScopes, grants.appId, scopes);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        // The user's own command named what cannot be asked for: no card, and the reason in the log.
        logger.warn({ source: 'bot_message', code: err.code, reason: err.message }, 'DM request refused');
        return;
      }
      await grants.request(openId, {
        scopes,
        locale,
        source: 'bot_message',
      });
      logger.info({ source: 'bot_message' }, 'authorization requested by DM');
    },
  };
}

export type CallbackHandlers = ReturnType<typeof createCallbackHandlers>;
