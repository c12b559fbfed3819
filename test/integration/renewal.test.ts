import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cards.ts';
import { authorize, openRedirect } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { grantStatus } from '../helpers/tokens.ts';

describe('the 365-day limit', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A "year" of 8 s with a renewal notice 6 s ahead: the notice comes 2 s after authorizing.
    stack = await startStack({
      sandbox: { lifetimes: { grantMaxSeconds: 8 } },
      settings: {
        grantMaxAgeSeconds: 8,
        renewNoticeSeconds: 6,
        refreshLeadSeconds: 60,
        refreshJitterSeconds: 0,
      },
    });
  });
  afterAll(() => stack?.close());

  it('asks the user to renew ahead of the cap; renewing restarts the clock', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId);
    const renewal = await eventually('a renewal card', () => {
      const cards = stack.sandbox.state.messages({ openId });
      return cards.length === 2 ? cards[1] : undefined;
    });
    expect(JSON.stringify(renewal.card)).toContain('请续期');
    // The grant stays usable while the renewal is pending.
    expect(await grantStatus(stack, openId)).toBe('authorized');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);

    const url = JSON.stringify(renewal.card)
      .match(/"default_url":"([^"]+)"/)![1]!
      .replace(/\\u0026/g, '&');
    expect((await openRedirect(stack.sandbox.approveAuthorization(url, openId))).outcome).toBe('authorized');
    const { rows } = await stack.db.query<{ authorized_at: Date }>(
      'SELECT authorized_at FROM grants WHERE app_id = $1 AND open_id = $2',
      [stack.appId, openId],
    );
    expect(Date.now() - rows[0]!.authorized_at.getTime()).toBeLessThan(2000);
  });
});
