import { openApi } from './errors.ts';
import { isObject, parseJson, type Json } from './http/body.ts';

export const CARD_LIMIT_BYTES = 30 * 1024;

export type Card = Record<string, Json>;

const V2_KEYS = new Set(['schema', 'config', 'card_link', 'header', 'body']);
const V1_KEYS = new Set([
  'config',
  'card_link',
  'header',
  'elements',
  'i18n_header',
  'i18n_elements',
  'fallback',
]);
const BEHAVIOR_TYPES = new Set(['open_url', 'callback', 'form_action']);

function checkElements(elements: Json | undefined, path: string): void {
  if (elements === undefined) return;
  if (!Array.isArray(elements)) throw openApi.badCard(`${path} must be an array`);
  elements.forEach((element, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(element) || typeof element.tag !== 'string') throw openApi.badCard(`${at} needs a tag`);
    if (element.behaviors !== undefined) {
      const behaviors = element.behaviors;
      if (
        !Array.isArray(behaviors) ||
        !behaviors.every((b) => isObject(b) && typeof b.type === 'string' && BEHAVIOR_TYPES.has(b.type))
      ) {
        throw openApi.badCard(`${at}.behaviors has an unknown behavior`);
      }
    }
    for (const key of ['elements', 'columns', 'actions'] as const)
      checkElements(element[key], `${at}.${key}`);
  });
}

/**
 * Loose structural check: what Feishu would certainly refuse (not JSON, unknown top-level
 * properties in a 2.0 card, elements without a tag) is refused; element details are not checked.
 */
export function validateCard(card: Json): Card {
  if (!isObject(card)) throw openApi.badCard('the card must be a JSON object');
  if (card.type === 'template') {
    if (!isObject(card.data)) throw openApi.badCard('a template card needs data');
    return card;
  }
  if (card.schema === '2.0') {
    const unknown = Object.keys(card).find((k) => !V2_KEYS.has(k));
    if (unknown) throw openApi.badCard(`unknown property ${unknown}`);
    if (card.body !== undefined && !isObject(card.body)) throw openApi.badCard('body must be an object');
    checkElements(isObject(card.body) ? card.body.elements : undefined, 'body.elements');
    return card;
  }
  if (card.schema !== undefined) throw openApi.badCard(`unsupported schema ${JSON.stringify(card.schema)}`);
  const unknown = Object.keys(card).find((k) => !V1_KEYS.has(k));
  if (unknown) throw openApi.badCard(`unknown property ${unknown}`);
  checkElements(card.elements, 'elements');
  return card;
}

/** `content` of an interactive message: a JSON string of at most 30 KB holding a card. */
export function parseCardContent(content: string): Card {
  if (Buffer.byteLength(content) > CARD_LIMIT_BYTES) throw openApi.contentTooLong();
  const parsed = parseJson(content);
  if (parsed === undefined) throw openApi.badCard('content is not valid JSON');
  return validateCard(parsed);
}

/** Shared ("update_multi") cards are the only ones PATCH may touch; JSON 2.0 cards always are. */
export const isShared = (card: Card): boolean =>
  card.schema === '2.0' || (isObject(card.config) && card.config.update_multi === true);

export interface CardButton {
  index: number;
  text: string;
  kind: 'link' | 'callback';
  url: string | undefined;
  value: Json | undefined;
  name: string | undefined;
}

function describeButton(button: Record<string, Json>, index: number): CardButton {
  const text = isObject(button.text) && typeof button.text.content === 'string' ? button.text.content : '';
  const name = typeof button.name === 'string' ? button.name : undefined;
  const behaviors = Array.isArray(button.behaviors) ? button.behaviors.filter(isObject) : [];
  const link = behaviors.find((b) => b.type === 'open_url');
  const callback = behaviors.find((b) => b.type === 'callback');
  // JSON 1.0 buttons carry url / multi_url / value directly.
  const url = link
    ? link.default_url
    : (button.url ?? (isObject(button.multi_url) ? button.multi_url.url : undefined));
  if (callback || (!link && button.value !== undefined)) {
    return {
      index,
      text,
      kind: 'callback',
      url: undefined,
      value: callback ? callback.value : button.value,
      name,
    };
  }
  return {
    index,
    text,
    kind: 'link',
    url: typeof url === 'string' ? url : undefined,
    value: undefined,
    name,
  };
}

/** Every button of the card, in document order. */
export function buttonsOf(card: Card): CardButton[] {
  const found: Record<string, Json>[] = [];
  const walk = (node: Json): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isObject(node)) return;
    if (node.tag === 'button') found.push(node);
    for (const [key, value] of Object.entries(node)) if (key !== 'header' && key !== 'behaviors') walk(value);
  };
  walk(isObject(card.body) ? card.body : card);
  return found.map(describeButton);
}
