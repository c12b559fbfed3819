import { ApplicationFailure } from '@temporalio/activity';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchangeActivities } from '../../activities/exchange.ts';
import { REFRESH_REFUSED } from '../../activities/failure-types.ts';
import { refreshActivities } from '../../activities/refresh.ts';
import { sealTokens } from '../../activities/seal-tokens.ts';
import { FeishuApiError } from '../../lib/feishu/errors.ts';
import { FEISHU_HTTP_TIMEOUT_MS } from '../../lib/feishu/gateway.ts';
import { newOAuthSecrets } from '../../lib/feishu/oauth.ts';
import { tokenRefreshTotal } from '../../lib/metrics.ts';
import { getServableToken, saveRotatedTokens, setGrantStatus } from '../../lib/store/grants.ts';
import { insertSession, settleSession, storeCodeOnce } from '../../lib/store/sessions.ts';
import { consent, seedGrant, startRefreshEnv, storedGrant, type RefreshEnv } from './support/refresh-env.ts';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function refreshesCounted(result: string): Promise<number> {
  const metric = await tokenRefreshTotal.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('token writes that arrive late', () => {
  let env: RefreshEnv;
  beforeAll(async () => {
    env = await startRefreshEnv();
  });
  afterEach(() => env.sandbox.faults.reset());
  afterAll(() => env?.close());

  it.each(['revoked', 'needs_reauth'] as const)(
    'a rotated pair saved with the version read before the grant became %s is refused, and no token comes back',
    async (status) => {
      const openId = env.sandbox.openIdOf(env.appId, status === 'revoked' ? 0 : 1);
      const readVersion = await seedGrant(env, openId);
      await setGrantStatus(env.db, env.appId, openId, status, 'test', { dropTokens: true });

      const late = sealTokens(env.cipher, env.appId, openId, {
        accessToken: 'u-late-access-token',
        refreshToken: 'ur-late-refresh-token',
        expiresInSeconds: 7200,
        scopes: ['offline_access'],
      });
      expect(await saveRotatedTokens(env.db, env.appId, openId, readVersion, late)).toBeUndefined();

      const grant = await storedGrant(env, openId);
      expect(grant?.status).toBe(status);
      expect(grant?.access_token_ct).toBeNull();
      expect(grant?.refresh_token_ct).toBeNull();
      expect(grant?.token_version).toBeGreaterThan(readVersion);
    },
  );

  it('a refresh whose answer comes after the user revoked stores nothing, and the token API finds no token', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 2);
    const expectedVersion = await seedGrant(env, openId);
    const feishu = env.gateway();
    const activities = refreshActivities(env.deps(feishu));
    const refresh = feishu.refresh.bind(feishu);
    // Feishu has rotated; its answer is still on the way when the revocation lands.
    feishu.refresh = async (...args) => {
      const tokens = await refresh(...args);
      await activities.revokeGrant({ appId: env.appId, openId, source: 'api' });
      return tokens;
    };

    const result = await activities.refreshGrant({ appId: env.appId, openId, expectedVersion });

    expect(result.kind).toBe('gone');
    const servable = await getServableToken(env.db, env.appId, openId);
    expect(servable?.status).toBe('revoked');
    expect(servable?.access_token_ct).toBeNull();
  });

  it('an exchange that answers after the workflow settled its attempt as failed stores no tokens', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 3);
    const attemptId = `a-late-${openId}`;
    const { code, secrets } = consent(env, openId);
    const ctx = { appId: env.appId, openId };
    const state = env.cipher.seal(secrets.state, { ...ctx, kind: 'oauth_state' });
    await insertSession(env.db, {
      id: attemptId,
      appId: env.appId,
      openId,
      workflowId: `feishu-auth:${env.appId}:${openId}`,
      scopes: ['offline_access'],
      locale: 'zh_cn',
      stateHash: newOAuthSecrets().stateHash,
      keyId: state.keyId,
      stateCt: state.box,
      verifierCt: env.cipher.seal(secrets.codeVerifier, { ...ctx, kind: 'pkce_verifier' }).box,
      expiresAt: new Date(Date.now() + 600_000),
    });
    expect(
      await storeCodeOnce(env.db, attemptId, env.cipher.seal(code, { ...ctx, kind: 'oauth_code' })),
    ).toBe(true);
    const feishu = env.gateway();
    const userInfo = feishu.userInfo.bind(feishu);
    // This run outlived its attempt: the workflow gave up on it and recorded the attempt failed.
    feishu.userInfo = async (...args) => {
      const profile = await userInfo(...args);
      await settleSession(env.db, attemptId, { status: 'failed', reason: 'feishu_unavailable' });
      return profile;
    };

    const result = await exchangeActivities(env.deps(feishu)).exchangeCode({
      appId: env.appId,
      openId,
      attemptId,
    });

    expect(result.outcome.kind).toBe('failed');
    expect(result.token).toBeUndefined();
    expect((await storedGrant(env, openId))?.access_token_ct ?? null).toBeNull();
  });

  it('an attempt is inserted once and settled first once, also by concurrent settles (one round trip each)', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 4);
    const attemptId = `a-once-${openId}`;
    const ctx = { appId: env.appId, openId };
    const sealed = env.cipher.seal('state', { ...ctx, kind: 'oauth_state' });
    const session = {
      id: attemptId,
      appId: env.appId,
      openId,
      workflowId: `feishu-auth:${env.appId}:${openId}`,
      scopes: ['offline_access'],
      locale: 'zh_cn' as const,
      stateHash: newOAuthSecrets().stateHash,
      keyId: sealed.keyId,
      stateCt: sealed.box,
      verifierCt: sealed.box,
      expiresAt: new Date(Date.now() + 600_000),
    };
    const inserted = await insertSession(env.db, session);
    // A retried activity gets the row it inserted before, not a second one or none.
    const again = await insertSession(env.db, { ...session, scopes: ['other'] });
    expect(again).toEqual(inserted);

    const settles = await Promise.all(
      [0, 1, 2].map(() => settleSession(env.db, attemptId, { status: 'denied' })),
    );
    expect(settles.filter((s) => s?.first)).toHaveLength(1);
    expect(settles.every((s) => s?.createdAt.getTime() === inserted.created_at.getTime())).toBe(true);
    expect(await settleSession(env.db, 'a-unknown', { status: 'denied' })).toBeUndefined();
  });
});

describe('Feishu calls end before their activity does', () => {
  let env: RefreshEnv;
  beforeAll(async () => {
    env = await startRefreshEnv();
  });
  afterEach(() => env.sandbox.faults.reset());
  afterAll(() => env?.close());

  it('the default request deadline leaves the 20–30 s activities room to report', () => {
    expect(FEISHU_HTTP_TIMEOUT_MS).toBeLessThan(20_000);
  });

  it('a token request Feishu does not answer fails as transient at the deadline', async () => {
    env.sandbox.faults.set({ latencyMs: 5_000, pathPrefix: '/oauth/v3/token' });
    const started = Date.now();
    const err = await rejection(env.gateway({ httpTimeoutMs: 300 }).refresh('ur-not-a-real-token'));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(FeishuApiError);
    expect((err as FeishuApiError).kind).toBe('transient');
  });

  it('so does the tenant token request the SDK makes on its own before a message call', async () => {
    env.sandbox.faults.set({ latencyMs: 5_000, pathPrefix: '/open-apis/auth/v3/tenant_access_token' });
    const started = Date.now();
    const err = await rejection(
      env
        .gateway({ httpTimeoutMs: 300 })
        .sendCard(
          env.sandbox.openIdOf(env.appId, 0),
          { schema: '2.0', body: { elements: [] } },
          'u-deadline',
        ),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((err as FeishuApiError).kind).toBe('transient');
  });

  it('an aborted signal ends the request at once', async () => {
    env.sandbox.faults.set({ latencyMs: 5_000, pathPrefix: '/oauth/v3/token' });
    const started = Date.now();
    const err = await rejection(env.gateway().refresh('ur-not-a-real-token', AbortSignal.timeout(200)));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((err as FeishuApiError).httpStatus).toBe(0);
  });
});

describe('a refresh retried after it gave up', () => {
  let env: RefreshEnv;
  beforeAll(async () => {
    env = await startRefreshEnv();
  });
  afterAll(() => env?.close());

  it('reports needs_reauth again, not a revoked grant, so the workflow still sends the re-authorize card', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 0);
    const expectedVersion = await seedGrant(env, openId);
    env.sandbox.expireTokens({ appId: env.appId, openId, kinds: ['refresh'] });
    const activities = refreshActivities(env.deps());
    const first = await activities.refreshGrant({ appId: env.appId, openId, expectedVersion });
    expect(first.kind).toBe('needs_reauth');
    // The worker died before Temporal heard the answer: the activity runs again with the same input.
    const retried = await activities.refreshGrant({ appId: env.appId, openId, expectedVersion });
    expect(retried).toEqual({ kind: 'needs_reauth', reason: (first as { reason: string }).reason });
    expect((await storedGrant(env, openId))?.status).toBe('needs_reauth');
    const { rows } = await env.db.query<{ outcome: string }>(
      `SELECT outcome FROM grant_events WHERE app_id = $1 AND open_id = $2 AND kind = 'refresh'`,
      [env.appId, openId],
    );
    expect(rows).toEqual([{ outcome: 'needs_reauth' }]);
  });
});

describe('a refresh Feishu refuses for good', () => {
  let env: RefreshEnv;
  beforeAll(async () => {
    env = await startRefreshEnv();
  });
  afterAll(() => env?.close());

  it('fails non-retryably as RefreshRefused, counted as refused (not transient), with an event, and keeps the grant', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 0);
    const expectedVersion = await seedGrant(env, openId);
    // A wrong app secret: Feishu answers 20002, which no retry can fix.
    const misconfigured = refreshActivities(env.deps(env.gateway({ appSecret: 'not-the-app-secret' })));
    const refusedBefore = await refreshesCounted('refused');
    const transientBefore = await refreshesCounted('transient_error');

    const err = await rejection(misconfigured.refreshGrant({ appId: env.appId, openId, expectedVersion }));

    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(REFRESH_REFUSED);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).not.toContain('not-the-app-secret');
    expect(await refreshesCounted('refused')).toBe(refusedBefore + 1);
    expect(await refreshesCounted('transient_error')).toBe(transientBefore);
    const { rows } = await env.db.query<{ outcome: string; error_code: string }>(
      `SELECT outcome, error_code FROM grant_events WHERE app_id = $1 AND open_id = $2 AND kind = 'refresh'`,
      [env.appId, openId],
    );
    expect(rows).toEqual([{ outcome: 'refused', error_code: '20002' }]);
    const grant = await storedGrant(env, openId);
    expect(grant?.status).toBe('authorized');
    expect(grant?.token_version).toBe(expectedVersion);
    expect(grant?.access_token_ct).not.toBeNull();
  });
});
