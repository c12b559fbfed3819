import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardOf, eventually, onlyCardFor } from '../helpers/cards.ts';
import { authorize, pendingCard, requestAuthorization, waitForCardTitle } from '../helpers/flows.ts';
import { STATUS_KEY, startStack, type Stack } from '../helpers/stack.ts';

const scopeParam = (url: string) => new URL(url).searchParams.get('scope')!.split(' ');

function authorizeUrlIn(card: ReturnType<typeof cardOf>): string {
  return JSON.stringify(card)
    .match(/"default_url":"([^"]+)"/)![1]!
    .replace(/\\u0026/g, '&');
}

describe.each(['ws', 'http'] as const)('triggers and card buttons (%s callbacks)', (mode) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ callbackMode: mode });
  });
  afterAll(() => stack?.close());

  it('a DM "授权" to the bot sends an authorization card', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await stack.sandbox.sendUserMessage(stack.appId, openId, '授权');
    const [card] = await onlyCardFor(stack.sandbox, openId);
    await waitForCardTitle(stack, card!.messageId, '授权请求');
  });

  it('a second request while one is pending re-uses the card and merges its scopes', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const { messageId } = await pendingCard(stack, openId, ['calendar:calendar:readonly']);
    const second = await requestAuthorization(stack, { open_id: openId, scopes: ['docx:document:readonly'] });
    expect(second.body.reused).toBe(true);
    await eventually('the merged scopes on the same card', () => {
      const scopes = scopeParam(authorizeUrlIn(cardOf(stack.sandbox, messageId)));
      return scopes.includes('docx:document:readonly') && scopes.includes('calendar:calendar:readonly')
        ? true
        : undefined;
    });
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(1);
  });

  it('a request while authorized with enough scopes answers at once, without a card', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    await authorize(stack, openId);
    const again = await requestAuthorization(stack, { open_id: openId });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('authorized');
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(1);
  });

  it('Cancel answers with a toast, then the card shows cancelled; Retry turns the same card into a new request', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const { messageId } = await pendingCard(stack, openId);
    const click = await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
    expect(click.toast?.type).toBe('info');
    await waitForCardTitle(stack, messageId, '授权请求已取消');
    await stack.sandbox.clickCardButton(messageId, { action: 'retry' }, openId);
    await waitForCardTitle(stack, messageId, '授权请求');
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(1);
    // The card never changed while a callback waited for its answer.
    const versions = stack.sandbox.state.message(messageId)!.versions as { reverted?: boolean }[];
    expect(versions.filter((v) => v.reverted)).toHaveLength(0);
  });

  it('Revoke on the authorized card deletes the tokens and the token API answers 410', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 4);
    const messageId = await authorize(stack, openId);
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
    await stack.sandbox.clickCardButton(messageId, { action: 'revoke' }, openId);
    await waitForCardTitle(stack, messageId, '授权已撤销');
    const res = await stack.api(`/v1/users/${openId}/token`);
    expect(res.status).toBe(410);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('revoked');
    const { rows } = await stack.db.query(
      'SELECT access_token_ct, refresh_token_ct FROM grants WHERE open_id = $1',
      [openId],
    );
    expect(rows[0]).toEqual({ access_token_ct: null, refresh_token_ct: null });
  });

  it('revoked while a later request waits on a card of its own, each card names only its own attempt', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 9);
    const granted = await authorize(stack, openId);
    const attemptOf = (messageId: string) =>
      [...JSON.stringify(cardOf(stack.sandbox, messageId)).matchAll(/"attempt_id":"([^"]+)"/g)].map(
        (m) => m[1],
      );
    const [authorizedAttempt] = attemptOf(granted);
    await requestAuthorization(stack, { open_id: openId, scopes: ['docx:document:readonly'] });
    const later = await eventually('the card of the request for more scopes', () =>
      stack.sandbox.state
        .messages({ openId })
        .find((m) => m.messageId !== granted && m.msgType === 'interactive'),
    );
    const [laterAttempt] = attemptOf(later.messageId);
    expect((await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' })).status).toBe(200);
    await waitForCardTitle(stack, granted, '授权已撤销');
    await waitForCardTitle(stack, later.messageId, '授权请求已取消');
    expect(attemptOf(granted)).toEqual([authorizedAttempt]);
    expect(attemptOf(later.messageId)).toEqual([laterAttempt]);
    expect(laterAttempt).not.toBe(authorizedAttempt);
  });

  it('a button pressed by someone other than the card owner changes nothing', async () => {
    const owner = stack.sandbox.openIdOf(stack.appId, 5);
    const stranger = stack.sandbox.openIdOf(stack.appId, 6);
    const { messageId } = await pendingCard(stack, owner);
    const click = await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, stranger);
    expect(click.toast?.type).toBe('warning');
    const status = await stack.api(`/v1/authorizations/${owner}`);
    expect(((await status.json()) as { status: string }).status).toBe('pending');
  });

  if (mode === 'ws') {
    it('card callbacks sent as type=card frames (which the SDK drops) are still answered', async () => {
      const openId = stack.sandbox.openIdOf(stack.appId, 8);
      const { messageId } = await pendingCard(stack, openId);
      stack.sandbox.faults.set({ cardFrameType: 'card' });
      try {
        const click = await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
        expect(click.error).toBeUndefined();
        expect(click.toast?.type).toBe('info');
        await waitForCardTitle(stack, messageId, '授权请求已取消');
      } finally {
        stack.sandbox.faults.set({ cardFrameType: 'event' });
      }
    });

    it('the management API rejects bad input with a reason and checks key roles', async () => {
      const bad = await requestAuthorization(stack, { open_id: 'not-an-open-id' });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toContain('open_id');
      const junk = await stack.api('/v1/authorizations', { method: 'POST', body: '{"open_id":' });
      expect(junk.status).toBe(400);
      expect((await stack.api('/v1/authorizations/ou_x', { key: '' })).status).toBe(401);
      expect((await stack.api('/v1/authorizations/ou_x', { key: 'wrong-key-0123456789' })).status).toBe(401);
      const openId = stack.sandbox.openIdOf(stack.appId, 7);
      expect((await stack.api(`/v1/users/${openId}/token`, { key: STATUS_KEY })).status).toBe(403);
      expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(404);
      const waited = await requestAuthorization(
        stack,
        { open_id: openId, expires_in_seconds: 5 },
        '?wait=abc',
      );
      expect(waited.status).toBe(400);
    });
  }
});
