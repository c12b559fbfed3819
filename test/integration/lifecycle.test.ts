import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import {
  getToken,
  grantStatus,
  latestIssuedAccessToken,
  refreshEvents,
  successfulRefreshes,
} from '../helpers/tokens.ts';

/** Waits (on the clock, not a fixed sleep) until the stored access token is inside its 1 s margin. */
async function untilAccessTokenDue(stack: Stack, openId: string): Promise<void> {
  const { rows } = await stack.db.query<{ access_expires_at: Date }>(
    'SELECT access_expires_at FROM grants WHERE app_id = $1 AND open_id = $2',
    [stack.appId, openId],
  );
  await eventually('the access token to be inside its margin', () =>
    rows[0]!.access_expires_at.getTime() - Date.now() < 1000 ? true : undefined,
  );
}

describe('token lifecycle: on-demand refresh', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Access tokens die in 3 s; refresh tokens live long, so only callers trigger refreshes here.
    stack = await startStack({
      sandbox: { lifetimes: { accessTokenSeconds: 3, refreshTokenSeconds: 600 } },
      settings: { refreshLeadSeconds: 60, refreshJitterSeconds: 0, accessTokenMarginSeconds: 1 },
    });
  });
  afterAll(() => stack?.close());

  it('serves a fresh token from storage without calling Feishu', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId);
    const results = await Promise.all(Array.from({ length: 10 }, () => getToken(stack, openId)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(refreshEvents(stack, openId)).toHaveLength(0);
  });

  it('20 concurrent requests at expiry cause exactly one refresh and no spent-token errors', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    await authorize(stack, openId);
    await untilAccessTokenDue(stack, openId);
    const results = await Promise.all(Array.from({ length: 20 }, () => getToken(stack, openId)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(results.map((r) => r.body.access_token)).size).toBe(1);
    expect(results[0]!.body.access_token).toBe(latestIssuedAccessToken(stack, openId));
    expect(refreshEvents(stack, openId)).toHaveLength(1);
    expect(refreshEvents(stack, openId).filter((e) => e.code === 20064 || e.code === 20073)).toHaveLength(0);
  });

  it('transient refresh errors and 429 are retried', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    await authorize(stack, openId);
    await untilAccessTokenDue(stack, openId);
    stack.sandbox.faults.failNext('serverError', { count: 1, pathPrefix: '/oauth/v3/token' });
    stack.sandbox.faults.failNext('rateLimit', { count: 1, pathPrefix: '/oauth/v3/token' });
    const result = await getToken(stack, openId);
    expect(result.status).toBe(200);
    expect(result.body.access_token).toBe(latestIssuedAccessToken(stack, openId));
    expect(successfulRefreshes(stack, openId)).toHaveLength(1);
    const tokenEndpoint = stack.sandbox.state.counters()['POST /oauth/v3/token'] ?? {};
    expect(tokenEndpoint['20050']).toBeGreaterThanOrEqual(1);
    expect(tokenEndpoint['99991400']).toBeGreaterThanOrEqual(1);
    expect(await grantStatus(stack, openId)).toBe('authorized');
  });
});

describe('token lifecycle: eager policy', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      sandbox: { lifetimes: { accessTokenSeconds: 2, refreshTokenSeconds: 600 } },
      settings: {
        refreshPolicy: 'eager',
        refreshLeadSeconds: 60,
        refreshJitterSeconds: 0,
        accessTokenMarginSeconds: 1,
      },
    });
  });
  afterAll(() => stack?.close());

  it('keeps the access token fresh with no caller asking', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId);
    await eventually('two refreshes nobody asked for', () =>
      successfulRefreshes(stack, openId).length >= 2 ? true : undefined,
    );
    const { rows } = await stack.db.query<{ access_expires_at: Date }>(
      'SELECT access_expires_at FROM grants WHERE app_id = $1 AND open_id = $2',
      [stack.appId, openId],
    );
    expect(rows[0]!.access_expires_at.getTime()).toBeGreaterThan(Date.now());
  });
});
