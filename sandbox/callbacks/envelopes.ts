import type { CardButton } from '../cards.ts';
import type { App, User } from '../config.ts';
import { newEventId } from '../ids.ts';
import type { Message, Store } from '../store.ts';

export interface Envelope {
  schema: '2.0';
  header: {
    event_id: string;
    token: string;
    create_time: string;
    event_type: string;
    tenant_key: string;
    app_id: string;
  };
  event: Record<string, unknown>;
}

function envelope(store: Store, app: App, eventType: string, event: Record<string, unknown>): Envelope {
  return {
    schema: '2.0',
    header: {
      event_id: newEventId(),
      // The verification token travels in every event, for both HTTP and long-connection delivery.
      token: app.callback.verificationToken,
      create_time: String(Date.now()),
      event_type: eventType,
      tenant_key: store.config.tenantKey,
      app_id: app.appId,
    },
    event,
  };
}

const userIds = (store: Store, app: App, user: User) => ({
  union_id: user.unionId,
  user_id: user.userId,
  open_id: store.openId(app.appId, user.key),
});

/** `im.message.receive_v1` for a DM the user sent to the bot. */
export function messageReceived(
  store: Store,
  app: App,
  user: User,
  message: Message,
  content: string,
): Envelope {
  return envelope(store, app, 'im.message.receive_v1', {
    sender: { sender_id: userIds(store, app, user), sender_type: 'user', tenant_key: store.config.tenantKey },
    message: {
      message_id: message.messageId,
      create_time: String(message.createdAt),
      update_time: String(message.createdAt),
      chat_id: message.chatId,
      chat_type: 'p2p',
      message_type: message.msgType,
      content,
      user_agent: 'Mozilla/5.0 Feishu-sandbox',
    },
  });
}

/** `card.action.trigger` for a click on a callback button. */
export function cardAction(
  store: Store,
  app: App,
  operator: User,
  message: Message,
  button: CardButton,
  token: string,
): Envelope {
  return envelope(store, app, 'card.action.trigger', {
    operator: { tenant_key: store.config.tenantKey, ...userIds(store, app, operator) },
    token,
    action: { value: button.value ?? {}, tag: 'button', ...(button.name ? { name: button.name } : {}) },
    host: 'im_message',
    context: { open_message_id: message.messageId, open_chat_id: message.chatId },
  });
}

export function urlVerification(app: App, challenge: string) {
  return { challenge, token: app.callback.verificationToken, type: 'url_verification' };
}
