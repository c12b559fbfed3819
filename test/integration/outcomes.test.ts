import { DEFAULT_GRANT_SETTINGS } from '../../lib/grant-types.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashState } from '../../lib/feishu/oauth.ts';
import { exchangeActivities } from '../../activities/exchange.ts';
import { FeishuGateway } from '../../lib/feishu/gateway.ts';
import { createLogger } from '../../lib/logger.ts';
import { TokenCipher } from '../../lib/token-crypto.ts';
import { eventually } from '../helpers/cards.ts';
import { openRedirect, pendingCard, requestAuthorization, waitForCardTitle } from '../helpers/flows.ts';
import { appClient } from '../helpers/feishu-client.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

async function status(stack: Stack, openId: string) {
  const res = await stack.api(`/v1/authorizations/${openId}`);
  return (await res.json()) as { status: string; attempt: { status: string; reason: string | null } };
}

const tokenExchanges = (stack: Stack) =>
  stack.sandbox.state
    .tokenEvents()
    .filter((e) => (e as { grantType?: string }).grantType === 'authorization_code').length;

describe('authorization outcomes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('a denial shows denied on the page and the card, and stores nothing', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    const page = await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl), 'zh-CN');
    expect(page.outcome).toBe('denied');
    expect(page.html).toContain('已拒绝授权');
    await waitForCardTitle(stack, messageId, '已拒绝授权');
    expect((await status(stack, openId)).status).toBe('denied');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(404);
  });

  it('a consent by another account is a wrong-account outcome and its tokens are discarded', async () => {
    const asked = stack.sandbox.openIdOf(stack.appId, 1);
    const other = stack.sandbox.openIdOf(stack.appId, 2);
    const { messageId, authorizeUrl } = await pendingCard(stack, asked);
    const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, other));
    expect(page.outcome).toBe('identity_mismatch');
    await waitForCardTitle(stack, messageId, '授权账号不匹配');
    const { rows } = await stack.db.query<{ access_token_ct: Buffer | null }>(
      'SELECT access_token_ct FROM grants WHERE app_id = $1 AND open_id = $2',
      [stack.appId, asked],
    );
    expect(rows[0]?.access_token_ct ?? null).toBeNull();
    expect((await status(stack, asked)).status).toBe('identity_mismatch');
  });

  it('a double click or replayed redirect is one exchange, and the second page says already completed', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const before = tokenExchanges(stack);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    const redirect = stack.sandbox.approveAuthorization(authorizeUrl, openId);
    const [first, second] = await Promise.all([openRedirect(redirect), openRedirect(redirect)]);
    expect([first.outcome, second.outcome]).toContain('authorized');
    expect(['authorized', 'already_completed']).toContain(second.outcome);
    await waitForCardTitle(stack, messageId, '已授权');
    expect((await openRedirect(redirect)).outcome).toBe('already_completed');
    expect(tokenExchanges(stack) - before).toBe(1);
  });

  it('forged, random and malformed states get the invalid-link page and change nothing', async () => {
    const base = `${stack.apiUrl}/oauth/callback`;
    expect((await openRedirect(`${base}?code=abc&state=${'A'.repeat(43)}`)).status).toBe(400);
    expect((await openRedirect(`${base}?code=abc&state=short`)).outcome).toBe('invalid_link');
    expect((await openRedirect(`${base}?code=abc`)).outcome).toBe('invalid_link');
    expect((await openRedirect(`${base}?state[]=x&code=y`)).status).toBe(400);
    const { rowCount } = await stack.db.query('SELECT 1 FROM user_auth_sessions WHERE state_hash = $1', [
      hashState('A'.repeat(43)),
    ]);
    expect(rowCount).toBe(0);
  });

  it('a code that was already spent ends as failed (invalid code) with a Retry button', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 4);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    const redirect = new URL(stack.sandbox.approveAuthorization(authorizeUrl, openId));
    // The code is spent before the browser arrives (as by a leaked code and PKCE verifier).
    const { rows } = await stack.db.query<{ key_id: string; verifier_ct: Buffer }>(
      'SELECT key_id, verifier_ct FROM user_auth_sessions WHERE message_id = $1',
      [messageId],
    );
    const codeVerifier = new TokenCipher(stack.config.TOKEN_ENCRYPTION_KEYS).open(
      { keyId: rows[0]!.key_id, box: rows[0]!.verifier_ct },
      { appId: stack.appId, openId, kind: 'pkce_verifier' },
    );
    const thief = appClient(stack);
    await thief.accessToken.retrieveByAuthorizationCode({
      code: redirect.searchParams.get('code')!,
      redirectUri: `${stack.apiUrl}/oauth/callback`,
      codeVerifier,
    });
    const page = await openRedirect(redirect.toString());
    expect(page.outcome).toBe('failed');
    await waitForCardTitle(stack, messageId, '授权失败');
    const latest = await status(stack, openId);
    expect(latest.attempt.reason).toBe('invalid_code');
  });

  it('an attempt expires after its expiry, the card says so, and a late redirect is told', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 5);
    const { body } = await requestAuthorization(stack, { open_id: openId, expires_in_seconds: 30 });
    expect(body.status).toBe('pending');
    const expiring = await startStack({ settings: { attemptExpirySeconds: 1 } });
    try {
      const user = expiring.sandbox.openIdOf(expiring.appId, 0);
      const { messageId, authorizeUrl } = await pendingCard(expiring, user);
      await waitForCardTitle(expiring, messageId, '授权请求已过期');
      const page = await openRedirect(expiring.sandbox.approveAuthorization(authorizeUrl, user));
      expect(page.outcome).toBe('expired');
      await eventually('status expired', async () =>
        (await status(expiring, user)).status === 'expired' ? true : undefined,
      );
    } finally {
      await expiring.close();
    }
  });

  it('a user the bot cannot message gets a 422 with the reason, and the attempt is recorded as failed', async () => {
    const stranger = 'ou_00000000000000000000000000000000';
    const res = await requestAuthorization(stack, { open_id: stranger });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toMatch(/card_not_sent.*user_not_allowed.*230013/);
    const latest = await status(stack, stranger);
    expect(latest.status).toBe('failed');
    expect(latest.attempt.reason).toBe('user_not_allowed');
    // A second request is a new attempt, not a re-use of a card that never existed.
    expect((await requestAuthorization(stack, { open_id: stranger })).status).toBe(422);
  });

  it('after a denial, a new request reads pending while its card is out', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 6);
    const { authorizeUrl } = await pendingCard(stack, openId);
    await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl));
    await eventually('denied', async () =>
      (await status(stack, openId)).status === 'denied' ? true : undefined,
    );
    const again = await requestAuthorization(stack, { open_id: openId });
    expect(again.status).toBe(202);
    expect(again.body.status).toBe('pending');
    expect((await status(stack, openId)).status).toBe('pending');
    const listed = (await (await stack.api('/v1/authorizations?status=pending&limit=500')).json()) as {
      items: { open_id: string }[];
    };
    expect(listed.items.map((i) => i.open_id)).toContain(openId);
  });

  it('a Cancel pressed while the code exchange is in flight does not lose the stored grant', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 7);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    stack.sandbox.faults.set({ latencyMs: 1500, pathPrefix: '/oauth/v3/token' });
    try {
      const page = openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
      await eventually('the code to be delivered', async () => {
        const { rows } = await stack.db.query<{ code_ct: Buffer | null }>(
          'SELECT code_ct FROM user_auth_sessions WHERE message_id = $1',
          [messageId],
        );
        return rows[0]?.code_ct ? true : undefined;
      });
      await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      expect((await page).outcome).toBe('authorized');
    } finally {
      stack.sandbox.faults.set({ latencyMs: 0, pathPrefix: undefined });
    }
    await waitForCardTitle(stack, messageId, '已授权');
    expect((await status(stack, openId)).status).toBe('authorized');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
  });

  it('an exchange re-run after the grant was stored (a worker that died) reports the grant, not a spent code', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 8);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    expect((await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId))).outcome).toBe(
      'authorized',
    );
    const { rows } = await stack.db.query<{ id: string }>(
      'SELECT id FROM user_auth_sessions WHERE message_id = $1',
      [messageId],
    );
    const logger = createLogger('test', 'silent');
    const activities = exchangeActivities({
      db: stack.db,
      cipher: new TokenCipher(stack.config.TOKEN_ENCRYPTION_KEYS),
      feishu: new FeishuGateway(
        {
          appId: stack.appId,
          appSecret: stack.config.FEISHU_APP_SECRET!,
          domain: stack.sandbox.url,
          oauthDomain: stack.sandbox.url,
          tokenEndpoint: 'v3',
        },
        logger,
      ),
      redirectUri: `${stack.apiUrl}/oauth/callback`,
      logger,
      grantSettings: DEFAULT_GRANT_SETTINGS,
    });
    const exchangesBefore = stack.sandbox.state.tokenEvents().length;
    const rerun = await activities.exchangeCode({ appId: stack.appId, openId, attemptId: rows[0]!.id });
    expect(rerun.outcome.kind).toBe('authorized');
    expect(stack.sandbox.state.tokenEvents().length).toBe(exchangesBefore);
  });
});
