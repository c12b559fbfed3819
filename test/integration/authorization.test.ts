import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeUrlOf, cardOf, cardTitle, eventually, onlyCardFor } from '../helpers/cards.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

describe('authorization, end to end', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('sends a card, exchanges the code, stores the token and updates the same card', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const res = await stack.api('/v1/authorizations', {
      method: 'POST',
      body: JSON.stringify({ open_id: openId, scopes: ['calendar:calendar:readonly'] }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { status: string; authorization_id: string };
    expect(body.status).toBe('pending');

    const [message] = await onlyCardFor(stack.sandbox, openId);
    const url = authorizeUrlOf(cardOf(stack.sandbox, message!.messageId));
    expect(new URL(url).searchParams.get('code_challenge_method')).toBe('S256');
    expect(new URL(url).searchParams.get('scope')?.split(' ')).toEqual(
      expect.arrayContaining(['offline_access', 'calendar:calendar:readonly']),
    );

    const redirect = stack.sandbox.approveAuthorization(url, openId);
    const page = await fetch(redirect, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-outcome="authorized"');
    expect(html).toContain('Authorized as');

    await eventually('the card to show authorized', () =>
      cardTitle(cardOf(stack.sandbox, message!.messageId)) === '已授权' ? true : undefined,
    );
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(1);

    const token = await stack.api(`/v1/users/${openId}/token`);
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    const issued = stack.sandbox.state.grants().flatMap((g) => g.accessTokens.map((t) => t.token));
    expect(issued).toContain(access_token);

    const status = await stack.api(`/v1/authorizations/${openId}`);
    expect(((await status.json()) as { status: string }).status).toBe('authorized');
  });
});
