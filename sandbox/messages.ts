import { newMessageId } from './ids.ts';
import type { Message, MessageVersion, Store, VersionSource } from './store.ts';

export const latest = (message: Message): MessageVersion => message.versions[message.versions.length - 1]!;

export function createMessage(
  store: Store,
  init: Pick<Message, 'appId' | 'userKey' | 'sender' | 'msgType' | 'uuid'>,
  content: string,
): Message {
  const now = Date.now();
  const message: Message = {
    ...init,
    messageId: newMessageId(),
    chatId: store.chatId(init.appId, init.userKey),
    createdAt: now,
    versions: [{ version: 1, at: now, source: 'create', content }],
  };
  store.messages.set(message.messageId, message);
  store.emit({
    type: 'message',
    appId: message.appId,
    userKey: message.userKey,
    messageId: message.messageId,
  });
  return message;
}

/** Every change is a new version: the full history is what tests and the chat view inspect. */
export function addVersion(
  store: Store,
  message: Message,
  source: VersionSource,
  content: string,
): MessageVersion {
  const version: MessageVersion = { version: latest(message).version + 1, at: Date.now(), source, content };
  message.versions.push(version);
  store.emit({
    type: 'message',
    appId: message.appId,
    userKey: message.userKey,
    messageId: message.messageId,
  });
  return version;
}

/** The message as `im/v1/messages` returns it. */
export function toApiMessage(store: Store, message: Message) {
  const current = latest(message);
  const sender =
    message.sender === 'bot'
      ? { id: message.appId, id_type: 'app_id', sender_type: 'app', tenant_key: store.config.tenantKey }
      : {
          id: store.openId(message.appId, message.userKey),
          id_type: 'open_id',
          sender_type: 'user',
          tenant_key: store.config.tenantKey,
        };
  return {
    message_id: message.messageId,
    msg_type: message.msgType,
    create_time: String(message.createdAt),
    update_time: String(current.at),
    deleted: false,
    updated: message.versions.length > 1,
    chat_id: message.chatId,
    sender,
    body: { content: current.content },
  };
}
