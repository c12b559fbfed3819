import { authorizeUrlOf, cardOf, cardTitle, eventually, onlyCardFor } from './cards.ts';
import type { Stack } from './stack.ts';

export interface RequestBody {
  open_id: string;
  scopes?: string[];
  expires_in_seconds?: number;
  flow?: 'code' | 'device';
}

export async function requestAuthorization(stack: Stack, body: RequestBody, query = '') {
  const res = await stack.api(`/v1/authorizations${query}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { status: string } };
}

/** Requests authorization and returns the card the user got, with its Authorize link. */
export async function pendingCard(stack: Stack, openId: string, scopes: string[] = []) {
  await requestAuthorization(stack, { open_id: openId, scopes });
  const messages = await onlyCardFor(stack.sandbox, openId);
  const messageId = messages[messages.length - 1]!.messageId;
  await eventually('the pending card', () =>
    cardTitle(cardOf(stack.sandbox, messageId)) === '授权请求' ? true : undefined,
  );
  return { messageId, authorizeUrl: authorizeUrlOf(cardOf(stack.sandbox, messageId)) };
}

export async function openRedirect(redirectUrl: string, language = 'en') {
  const res = await fetch(redirectUrl, { headers: { 'accept-language': language } });
  const html = await res.text();
  return { status: res.status, html, outcome: /data-outcome="([a-z_]+)"/.exec(html)?.[1] };
}

export async function waitForCardTitle(stack: Stack, messageId: string, title: string, timeoutMs?: number) {
  return eventually(
    `the card to read "${title}"`,
    () => (cardTitle(cardOf(stack.sandbox, messageId)) === title ? true : undefined),
    timeoutMs,
  );
}

/** The full happy path for one user; returns the card's message id. */
export async function authorize(stack: Stack, openId: string, scopes: string[] = []) {
  const { messageId, authorizeUrl } = await pendingCard(stack, openId, scopes);
  const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
  if (page.outcome !== 'authorized') throw new Error(`expected authorized, got ${page.outcome}`);
  await waitForCardTitle(stack, messageId, '已授权');
  return messageId;
}

/** The code a device-flow card shows, from its link to Feishu's verification page. */
export function userCodeOf(stack: Stack, messageId: string): string {
  const link = new URL(authorizeUrlOf(cardOf(stack.sandbox, messageId)));
  const userCode = link.searchParams.get('user_code');
  if (link.pathname !== '/oauth/v1/device/verify' || !userCode) throw new Error('not a device-flow card');
  return userCode;
}

/** Requests authorization (the device flow: by `flow` or FEISHU_AUTH_FLOW); returns the card and its code. */
export async function deviceCard(stack: Stack, body: RequestBody) {
  await requestAuthorization(stack, body);
  const messages = await onlyCardFor(stack.sandbox, body.open_id);
  const messageId = messages[messages.length - 1]!.messageId;
  return { messageId, userCode: userCodeOf(stack, messageId) };
}
