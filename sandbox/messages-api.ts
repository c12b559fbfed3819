import type Router from '@koa/router';
import type { Context } from 'koa';
import { requireTenantToken } from './app-tokens.ts';
import { isShared, parseCardContent, validateCard } from './cards.ts';
import { openIdFor, type App, type User } from './config.ts';
import { openApi } from './errors.ts';
import { isObject, jsonBody, parseJson, type Json } from './http/body.ts';
import { ok } from './http/respond.ts';
import { addVersion, createMessage, latest, toApiMessage } from './messages.ts';
import { PER_APP_API, PER_MESSAGE_UPDATE, PER_USER_SEND } from './rate-limit.ts';
import type { Runtime } from './runtime.ts';
import type { Message } from './store.ts';

const UUID_TTL_MS = 60 * 60 * 1000;
const EDITABLE_MS = 14 * 86400 * 1000;
const TEXT_LIMIT_BYTES = 150 * 1024;
const RECEIVE_ID_TYPES = ['open_id', 'user_id', 'union_id', 'email', 'chat_id'] as const;

function requireString(body: Record<string, Json>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw openApi.fieldValidation(field, `${field} is required`);
  return value;
}

async function requireBody(ctx: Context): Promise<Record<string, Json>> {
  const body = await jsonBody(ctx);
  if (!body) throw openApi.fieldValidation('body', 'the request body must be a JSON object');
  return body;
}

function findRecipient(rt: Runtime, app: App, type: string, id: string): User | undefined {
  return rt.config.users.find((u) => {
    if (u.status === 'deleted') return false;
    switch (type) {
      case 'open_id':
        return openIdFor(app.appId, u) === id;
      case 'user_id':
        return u.userId === id;
      case 'union_id':
        return u.unionId === id;
      case 'email':
        return u.email === id;
      default:
        return rt.store.chatId(app.appId, u.key) === id;
    }
  });
}

/** Checks `content` for its msg_type and returns it unchanged: Feishu stores the string it was given. */
function checkContent(msgType: string, content: string): string {
  if (msgType === 'interactive') {
    parseCardContent(content);
    return content;
  }
  if (Buffer.byteLength(content) > (msgType === 'text' ? TEXT_LIMIT_BYTES : 30 * 1024))
    throw openApi.contentTooLong();
  const parsed = parseJson(content);
  if (!isObject(parsed)) throw openApi.invalidParam('content is not a JSON object string');
  if (msgType === 'text' && typeof parsed.text !== 'string')
    throw openApi.invalidParam('text content needs a text field');
  return content;
}

function throttle(
  rt: Runtime,
  key: string,
  windows: typeof PER_APP_API,
  error: (retryAfter: number) => Error,
): void {
  const retryAfter = rt.limiter.hit(key, windows);
  if (retryAfter !== undefined) throw error(retryAfter);
}

function ownMessage(rt: Runtime, app: App, messageId: string): Message {
  const message = rt.store.messages.get(messageId);
  if (!message || message.appId !== app.appId) throw openApi.invalidParam('invalid message_id');
  return message;
}

function sendMessage(rt: Runtime, ctx: Context, app: App, body: Record<string, Json>) {
  const type = ctx.query.receive_id_type;
  if (typeof type !== 'string' || !(RECEIVE_ID_TYPES as readonly string[]).includes(type)) {
    throw openApi.fieldValidation(
      'receive_id_type',
      `receive_id_type must be one of ${RECEIVE_ID_TYPES.join(', ')}`,
    );
  }
  const receiveId = requireString(body, 'receive_id');
  const msgType = requireString(body, 'msg_type');
  const content = requireString(body, 'content');
  const uuid = body.uuid;
  if (uuid !== undefined && (typeof uuid !== 'string' || uuid.length > 50)) {
    throw openApi.fieldValidation('uuid', 'uuid must be a string of at most 50 characters');
  }
  const uuidKey = typeof uuid === 'string' && uuid ? `${app.appId}:${uuid}` : undefined;
  const previous = uuidKey ? rt.store.uuids.get(uuidKey) : undefined;
  if (previous && Date.now() - previous.at < UUID_TTL_MS) return rt.store.messages.get(previous.messageId)!;
  const user = findRecipient(rt, app, type, receiveId);
  if (!user) throw openApi.botCannotReachUser();
  throttle(rt, `send:${app.appId}`, PER_APP_API, openApi.rateLimited);
  throttle(rt, `send:${app.appId}:${user.key}`, PER_USER_SEND, openApi.messageRateLimited);
  const message = createMessage(
    rt.store,
    {
      appId: app.appId,
      userKey: user.key,
      sender: 'bot',
      msgType,
      uuid: typeof uuid === 'string' ? uuid : undefined,
    },
    checkContent(msgType, content),
  );
  if (uuidKey) rt.store.uuids.set(uuidKey, { messageId: message.messageId, at: message.createdAt });
  return message;
}

/** PATCH rules: bot-sent cards only, 14 days, shared before and after, 5 updates a second per message. */
function patchCard(rt: Runtime, message: Message, content: string): void {
  if (message.sender !== 'bot' || message.msgType !== 'interactive') {
    throw openApi.invalidParam('only interactive messages sent by the bot can be updated');
  }
  if (Date.now() - message.createdAt > EDITABLE_MS)
    throw openApi.invalidParam('the message is older than 14 days');
  const next = parseCardContent(content);
  if (!isShared(parseCardContent(latest(message).content)) || !isShared(next)) {
    throw openApi.invalidParam('both the old and the new card must set config.update_multi to true');
  }
  throttle(rt, `patch:${message.messageId}`, PER_MESSAGE_UPDATE, openApi.messageRateLimited);
  addVersion(rt.store, message, 'patch', content);
}

function delayedUpdate(rt: Runtime, app: App, body: Record<string, Json>): void {
  const value = requireString(body, 'token');
  if (body.card === undefined) throw openApi.fieldValidation('card', 'card is required');
  const token = rt.store.callbackTokens.get(value);
  if (!token || token.appId !== app.appId || Date.now() >= token.expiresAt || token.usesLeft <= 0) {
    throw openApi.invalidParam('the card token is invalid, expired or used up');
  }
  if (!token.answered) throw openApi.invalidParam('the callback has not been answered yet');
  const card = validateCard(body.card);
  const content = JSON.stringify(card);
  if (Buffer.byteLength(content) > 100 * 1024) throw openApi.contentTooLong();
  token.usesLeft -= 1;
  addVersion(rt.store, rt.store.messages.get(token.messageId)!, 'delayed_update', content);
}

export function registerMessageRoutes(router: Router, rt: Runtime): void {
  router.post('/open-apis/im/v1/messages', async (ctx) => {
    const app = requireTenantToken(rt, ctx);
    const message = sendMessage(rt, ctx, app, await requireBody(ctx));
    ok(ctx, toApiMessage(rt.store, message));
  });

  router.get('/open-apis/im/v1/messages/:message_id', (ctx) => {
    const app = requireTenantToken(rt, ctx);
    ok(ctx, { items: [toApiMessage(rt.store, ownMessage(rt, app, ctx.params.message_id!))] });
  });

  router.patch('/open-apis/im/v1/messages/:message_id', async (ctx) => {
    const app = requireTenantToken(rt, ctx);
    const body = await requireBody(ctx);
    patchCard(rt, ownMessage(rt, app, ctx.params.message_id!), requireString(body, 'content'));
    ok(ctx, {});
  });

  router.put('/open-apis/im/v1/messages/:message_id', async (ctx) => {
    const app = requireTenantToken(rt, ctx);
    const body = await requireBody(ctx);
    const message = ownMessage(rt, app, ctx.params.message_id!);
    if (message.msgType === 'interactive')
      throw openApi.invalidParam('cards are updated with PATCH, not PUT');
    if (message.sender !== 'bot') throw openApi.invalidParam('only messages sent by the bot can be edited');
    const msgType = requireString(body, 'msg_type');
    addVersion(rt.store, message, 'put', checkContent(msgType, requireString(body, 'content')));
    ok(ctx, toApiMessage(rt.store, message));
  });

  router.post('/open-apis/interactive/v1/card/update', async (ctx) => {
    const app = requireTenantToken(rt, ctx);
    delayedUpdate(rt, app, await requireBody(ctx));
    ctx.body = { code: 0, msg: 'success' };
  });
}
