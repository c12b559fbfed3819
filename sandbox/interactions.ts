import { buttonsOf, parseCardContent, validateCard, type CardButton } from './cards.ts';
import { cardAction, messageReceived } from './callbacks/envelopes.ts';
import type { Delivery } from './callbacks/hub.ts';
import { isObject, type Json } from './http/body.ts';
import { randomHex } from './ids.ts';
import { addVersion, createMessage, latest } from './messages.ts';
import type { Runtime } from './runtime.ts';
import type { Message } from './store.ts';

/** A button by position, by its text, or by (a subset of) its callback value. */
export type ButtonSelector = number | string | Record<string, unknown>;

export interface ClickResult {
  kind: 'link' | 'callback';
  url?: string;
  ok?: boolean;
  answer?: unknown;
  toast?: { type?: string; content?: string };
  error?: string;
  via?: Delivery['via'];
}

function requireMessage(rt: Runtime, messageId: string): Message {
  const message = rt.store.messages.get(messageId);
  if (!message) throw new Error(`sandbox: no message ${messageId}`);
  return message;
}

const matchesValue = (value: Json | undefined, wanted: Record<string, unknown>): boolean =>
  isObject(value) && Object.entries(wanted).every(([k, v]) => JSON.stringify(value[k]) === JSON.stringify(v));

function selectButton(buttons: CardButton[], selector: ButtonSelector): CardButton | undefined {
  if (typeof selector === 'number') return buttons[selector];
  if (typeof selector === 'string') return buttons.find((b) => b.text === selector);
  return buttons.find((b) => matchesValue(b.value, selector));
}

/** A DM from the user to the bot: stored as a user message and delivered as im.message.receive_v1. */
export async function sendUserMessage(rt: Runtime, appId: string, openId: string, text: string) {
  const app = rt.store.app(appId);
  const user = rt.store.userByOpenId(appId, openId);
  if (!app || !user) throw new Error(`sandbox: unknown app ${appId} or user ${openId}`);
  const content = JSON.stringify({ text });
  const message = createMessage(
    rt.store,
    { appId, userKey: user.key, sender: 'user', msgType: 'text', uuid: undefined },
    content,
  );
  const delivery = await rt.callbacks.deliver(
    app,
    messageReceived(rt.store, app, user, message, content),
    message.messageId,
  );
  return { messageId: message.messageId, delivery };
}

/**
 * Applies a callback answer the way the client does: a `card` in the answer replaces the card;
 * updates that raced the answer (sent while the callback was in flight) are undone.
 */
function applyAnswer(rt: Runtime, message: Message, baseVersion: number, answer: unknown): void {
  const raced = message.versions.filter((v) => v.version > baseVersion);
  const now = Date.now();
  for (const version of raced) version.revertedAt = now;
  const card = isObject(answer) ? answer.card : undefined;
  if (isObject(card) && card.data !== undefined) {
    const data = card.type === 'template' ? { type: 'template', data: card.data } : card.data;
    try {
      addVersion(rt.store, message, 'callback_answer', JSON.stringify(validateCard(data)));
      return;
    } catch (err) {
      rt.logger.warn({ err }, 'sandbox: callback answer carried an invalid card');
    }
  }
  if (raced.length > 0) {
    addVersion(
      rt.store,
      message,
      'reverted',
      message.versions.find((v) => v.version === baseVersion)!.content,
    );
  }
}

export async function clickCardButton(
  rt: Runtime,
  messageId: string,
  selector: ButtonSelector,
  operatorOpenId?: string,
): Promise<ClickResult> {
  const message = requireMessage(rt, messageId);
  const button = selectButton(buttonsOf(parseCardContent(latest(message).content)), selector);
  if (!button) throw new Error(`sandbox: no button ${JSON.stringify(selector)} on message ${messageId}`);
  if (button.kind === 'link') return { kind: 'link', url: button.url };
  const app = rt.store.app(message.appId)!;
  const operator = operatorOpenId
    ? rt.store.userByOpenId(app.appId, operatorOpenId)
    : rt.store.user(message.userKey);
  if (!operator) throw new Error(`sandbox: unknown operator ${operatorOpenId}`);
  const token = {
    token: `c-${randomHex(20)}`,
    appId: app.appId,
    messageId,
    expiresAt: Date.now() + rt.config.lifetimes.callbackTokenSeconds * 1000,
    usesLeft: 2,
    answered: false,
  };
  rt.store.callbackTokens.set(token.token, token);
  const baseVersion = latest(message).version;
  const delivery = await rt.callbacks.deliver(
    app,
    cardAction(rt.store, app, operator, message, button, token.token),
    messageId,
  );
  token.answered = true;
  if (delivery.ok) applyAnswer(rt, message, baseVersion, delivery.answer);
  const toast = isObject(delivery.answer) ? (delivery.answer.toast as ClickResult['toast']) : undefined;
  return {
    kind: 'callback',
    ok: delivery.ok,
    answer: delivery.answer,
    ...(toast ? { toast } : {}),
    // Without an answer in time the Feishu client shows error 200340.
    ...(delivery.ok ? {} : { error: `200340: ${delivery.error}` }),
    via: delivery.via,
  };
}

export function ageMessage(rt: Runtime, messageId: string, ms: number): void {
  requireMessage(rt, messageId).createdAt -= ms;
}
