import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeUrlOf, cardOf, eventually, onlyCardFor } from '../helpers/cards.ts';
import { deviceCard, requestAuthorization, userCodeOf, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken } from '../helpers/tokens.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

interface TokenEvent {
  at: number;
  grantType: string;
  error?: string;
  openId?: string;
  ok: boolean;
}

/** The device-code polls Feishu (the sandbox) saw, in order. */
const polls = (stack: Stack) =>
  (stack.sandbox.state.tokenEvents() as TokenEvent[]).filter((e) => e.grantType === DEVICE_GRANT);

const cardText = (stack: Stack, messageId: string) => JSON.stringify(cardOf(stack.sandbox, messageId));

async function grantStatus(stack: Stack, openId: string) {
  const res = await stack.api(`/v1/authorizations/${openId}`);
  return ((await res.json()) as { status: string }).status;
}

/** Waits until the grant's workflow has asked Feishu about the code at least `count` times. */
const polledAtLeast = (stack: Stack, count: number) =>
  eventually(`${count} device-code polls`, () => (polls(stack).length >= count ? true : undefined));

describe('device flow (FEISHU_AUTH_FLOW=device)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { FEISHU_AUTH_FLOW: 'device' },
      sandbox: { lifetimes: { deviceIntervalSeconds: 1 } },
    });
  });
  afterAll(() => stack?.close());

  it('shows the code, polls at the interval, and turns the same card authorized with a stored token', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const before = polls(stack).length;
    // No flow named: FEISHU_AUTH_FLOW decides.
    const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
    expect(cardText(stack, messageId)).toContain(`**${userCode}**`);
    await polledAtLeast(stack, before + 2);
    stack.sandbox.approveDevice(userCode, openId);
    await waitForCardTitle(stack, messageId, '已授权');

    const mine = polls(stack).slice(before);
    expect(mine.some((e) => e.error === 'authorization_pending')).toBe(true);
    // Never faster than Feishu's interval: no slow_down was ever needed.
    expect(mine.some((e) => e.error === 'slow_down')).toBe(false);
    expect(mine.filter((e) => e.ok)).toHaveLength(1);
    expect(await grantStatus(stack, openId)).toBe('authorized');
    expect((await getToken(stack, openId)).status).toBe(200);
    expect(stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive')).toHaveLength(
      1,
    );
    const history = (await (await stack.api(`/v1/users/${openId}/history`)).json()) as {
      items: { kind: string; outcome: string }[];
    };
    expect(history.items).toContainEqual(expect.objectContaining({ outcome: 'authorized' }));
  });

  it('access_denied: the card says declined and nothing is stored', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const { messageId, userCode } = await deviceCard(stack, { open_id: openId, flow: 'device' });
    stack.sandbox.denyDevice(userCode);
    await waitForCardTitle(stack, messageId, '已拒绝授权');
    expect(await grantStatus(stack, openId)).toBe('denied');
    expect((await getToken(stack, openId)).status).toBe(404);
  });

  it('expired_token: the card says expired, with a Retry that brings a new code', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
    stack.sandbox.expireDevice(userCode);
    await waitForCardTitle(stack, messageId, '授权请求已过期');
    expect(polls(stack).some((e) => e.error === 'expired_token')).toBe(true);
    expect(await grantStatus(stack, openId)).toBe('expired');

    await stack.sandbox.clickCardButton(messageId, { action: 'retry' }, openId);
    await waitForCardTitle(stack, messageId, '授权请求');
    expect(userCodeOf(stack, messageId)).not.toBe(userCode);
    // Polls are told apart only by time: leave nothing polling for the tests that count them.
    await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
    await waitForCardTitle(stack, messageId, '授权请求已取消');
  });

  it('slow_down: the interval grows by five seconds for good, then the approval still lands', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
    const before = polls(stack).length;
    stack.sandbox.slowDownDevice(userCode, 2);
    const slowed = await eventually('a slow_down answer', () =>
      polls(stack)
        .slice(before)
        .find((e) => e.error === 'slow_down'),
    );
    stack.sandbox.approveDevice(userCode, openId);
    await waitForCardTitle(stack, messageId, '已授权');
    const next = polls(stack).find((e) => e.at > slowed.at)!;
    // 1 s advertised + 5 s for the slow_down (a little less for the two clocks' rounding).
    expect(next.at - slowed.at).toBeGreaterThanOrEqual(5_900);
    expect(next.ok).toBe(true);
  }, 30_000);

  it('a consent by another account is a wrong-account outcome and its tokens are discarded', async () => {
    const asked = stack.sandbox.openIdOf(stack.appId, 4);
    const other = stack.sandbox.openIdOf(stack.appId, 5);
    const { messageId, userCode } = await deviceCard(stack, { open_id: asked });
    stack.sandbox.approveDevice(userCode, other);
    await waitForCardTitle(stack, messageId, '授权账号不匹配');
    expect(await grantStatus(stack, asked)).toBe('identity_mismatch');
    const { rows } = await stack.db.query<{ access_token_ct: Buffer | null }>(
      'SELECT access_token_ct FROM grants WHERE app_id = $1 AND open_id = $2',
      [stack.appId, asked],
    );
    expect(rows[0]?.access_token_ct ?? null).toBeNull();
  });

  it('Cancel ends the attempt on the card and stops the polling', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 6);
    const { messageId } = await deviceCard(stack, { open_id: openId });
    const before = polls(stack).length;
    await polledAtLeast(stack, before + 1);
    await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
    await waitForCardTitle(stack, messageId, '授权请求已取消');
    const settled = polls(stack).length;
    // Three intervals without a poll: nothing is left polling for the cancelled code.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(polls(stack).length - settled).toBeLessThanOrEqual(1);
  });

  it('more scopes while pending: the same card shows a new code for all of them', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 7);
    const first = await deviceCard(stack, { open_id: openId, scopes: ['im:message'] });
    await requestAuthorization(stack, { open_id: openId, scopes: ['docx:document:readonly'] });
    const userCode = await eventually('a new code on the card', () => {
      const code = userCodeOf(stack, first.messageId);
      return code !== first.userCode ? code : undefined;
    });
    stack.sandbox.approveDevice(userCode, openId);
    await waitForCardTitle(stack, first.messageId, '已授权');
    const res = await stack.api(`/v1/authorizations/${openId}`);
    expect(((await res.json()) as { scopes: string[] }).scopes).toEqual(
      expect.arrayContaining(['im:message', 'docx:document:readonly']),
    );
    expect(stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive')).toHaveLength(
      1,
    );
  });

  it('a request may ask for the code flow instead', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 8);
    await requestAuthorization(stack, { open_id: openId, flow: 'code' });
    const [message] = await onlyCardFor(stack.sandbox, openId);
    const link = new URL(authorizeUrlOf(cardOf(stack.sandbox, message!.messageId)));
    expect(link.pathname).toBe('/open-apis/authen/v1/authorize');
  });

  it('refuses an unknown flow with a 400 naming it', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 9);
    const res = await stack.api('/v1/authorizations', {
      method: 'POST',
      body: JSON.stringify({ open_id: openId, flow: 'magic' }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('flow');
  });
});
