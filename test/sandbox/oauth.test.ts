import { createHash, randomBytes } from 'node:crypto';
import * as lark from '@larksuiteoapi/node-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox, SandboxAppOptions } from '../../sandbox/index.ts';
import { authorizeUrl, codeOf, postJson, REDIRECT_URI, sdkClient, start, testApp } from './helpers.ts';

const ENDPOINTS = { v3: '/oauth/v3/token', v2: '/open-apis/authen/v2/oauth/token' } as const;
type Version = keyof typeof ENDPOINTS;

const basic = (app: SandboxAppOptions) =>
  `Basic ${Buffer.from(`${app.appId}:${app.appSecret}`).toString('base64')}`;

describe('app tokens', () => {
  let sandbox: Sandbox;
  const app = testApp();
  beforeAll(async () => void (sandbox = await start(app)));
  afterAll(() => sandbox.close());

  it('issues a tenant token and reuses it while it has more than 30 minutes left', async () => {
    const first = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    expect(first.status).toBe(200);
    // Seconds left, counted when the answer is built: a millisecond later it reads 7199.
    expect(first.body.code).toBe(0);
    expect(Number(first.body.expire)).toBeGreaterThanOrEqual(7199);
    expect(Number(first.body.expire)).toBeLessThanOrEqual(7200);
    expect(String(first.body.tenant_access_token)).toMatch(/^t-/);
    const second = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    expect(second.body.tenant_access_token).toBe(first.body.tenant_access_token);
  });

  it('issues an app token', async () => {
    const res = await postJson(`${sandbox.url}/open-apis/auth/v3/app_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    // The app token shares the tenant token's lifetime, which the previous test started: seconds left, not 7200.
    expect(res.body.code).toBe(0);
    expect(Number(res.body.expire)).toBeGreaterThan(7000);
    expect(Number(res.body.expire)).toBeLessThanOrEqual(7200);
    expect(String(res.body.app_access_token)).toMatch(/^a-/);
  });

  it('rejects bad credentials and bad bodies with Feishu codes', async () => {
    const url = `${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`;
    expect((await postJson(url, { app_id: app.appId, app_secret: 'nope' })).body.code).toBe(10014);
    expect((await postJson(url, { app_id: 'cli_0000000000000000', app_secret: 'x' })).body.code).toBe(10003);
    const garbage = await postJson(url, '{not json');
    expect(garbage.status).toBe(400);
    expect(garbage.body.code).toBe(10003);
  });
});

describe('authorize page', () => {
  let sandbox: Sandbox;
  const app = testApp();
  beforeAll(async () => void (sandbox = await start(app)));
  afterAll(() => sandbox.close());

  it('shows the consent page with the users to pick from', async () => {
    const res = await fetch(authorizeUrl(sandbox, app.appId));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('张三');
    expect(html).toContain('offline_access');
  });

  it('renders 20029 for a redirect_uri outside the allow-list, 20027 for a scope the app lacks', async () => {
    const bad = await fetch(authorizeUrl(sandbox, app.appId, { redirect_uri: 'https://evil.example/cb' }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('data-error-code="20029"');
    const scope = await fetch(authorizeUrl(sandbox, app.appId, { scope: 'offline_access admin:everything' }));
    expect(await scope.text()).toContain('data-error-code="20027"');
    expect(() =>
      sandbox.approveAuthorization(
        authorizeUrl(sandbox, app.appId, { redirect_uri: 'https://x.example' }),
        sandbox.openIdOf(app.appId),
      ),
    ).toThrow(expect.objectContaining({ code: 20029 }) as Error);
  });

  it('redirects with code and state on approval, access_denied on denial (form post)', async () => {
    const url = new URL(authorizeUrl(sandbox, app.appId));
    const form = new URLSearchParams(url.searchParams);
    form.set('user', 'user-2');
    form.set('decision', 'approve');
    const approved = await fetch(`${sandbox.url}/open-apis/authen/v1/authorize`, {
      method: 'POST',
      body: form,
      redirect: 'manual',
    });
    expect(approved.status).toBe(302);
    const location = new URL(approved.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('st-1');
    expect(location.searchParams.get('code')).toBeTruthy();
    form.set('decision', 'deny');
    const denied = await fetch(`${sandbox.url}/open-apis/authen/v1/authorize`, {
      method: 'POST',
      body: form,
      redirect: 'manual',
    });
    const deniedAt = new URL(denied.headers.get('location')!);
    expect(deniedAt.searchParams.get('error')).toBe('access_denied');
    expect(deniedAt.searchParams.get('state')).toBe('st-1');
    expect(sandbox.denyAuthorization(authorizeUrl(sandbox, app.appId))).toContain('error=access_denied');
  });
});

describe('token endpoints with the official SDK (v3)', () => {
  let sandbox: Sandbox;
  const app = testApp();
  beforeAll(async () => void (sandbox = await start(app)));
  afterAll(() => sandbox.close());

  it('exchanges a PKCE S256 code, reads user_info, refreshes with rotation', async () => {
    const client = sdkClient(sandbox, app);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const openId = sandbox.openIdOf(app.appId, '张三');
    const redirect = sandbox.approveAuthorization(
      authorizeUrl(sandbox, app.appId, {
        code_challenge: challenge,
        code_challenge_method: 'S256',
        scope: 'offline_access contact:user.base:readonly contact:user.email:readonly',
      }),
      openId,
    );
    const tokens = await client.accessToken.retrieveByAuthorizationCode({
      code: codeOf(redirect),
      redirectUri: REDIRECT_URI,
      codeVerifier: verifier,
    });
    expect(tokens).toMatchObject({ tokenType: 'Bearer', expiresIn: 7200, refreshTokenExpiresIn: 604800 });
    expect(tokens.accessToken.length).toBeGreaterThan(1000);
    expect(tokens.scope).toContain('offline_access');

    const info = await client.authen.v1.userInfo.get({}, lark.withUserAccessToken(tokens.accessToken));
    expect(info.data).toMatchObject({
      name: '张三',
      en_name: 'Zhang San',
      open_id: openId,
      email: 'zhangsan@example.com',
    });
    expect(info.data?.union_id).toMatch(/^on_/);
    expect(info.data?.mobile).toBeUndefined();
    const avatar = await fetch(info.data!.avatar_url!);
    expect(avatar.headers.get('content-type')).toContain('image/svg+xml');

    const refreshed = await client.accessToken.refresh({ refreshToken: tokens.refreshToken! });
    expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
    // The old access token keeps working for the grace minute.
    const old = await client.authen.v1.userInfo.get({}, lark.withUserAccessToken(tokens.accessToken));
    expect(old.data?.open_id).toBe(openId);
    const reused = await client.accessToken
      .refresh({ refreshToken: tokens.refreshToken! })
      .catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(lark.AccessTokenError);
    expect(reused).toMatchObject({ statusCode: 400, code: 20073, error: 'invalid_grant' });
    expect(sandbox.state.tokenEvents().map((e) => [e.grantType, e.code])).toEqual([
      ['authorization_code', 0],
      ['refresh_token', 0],
      ['refresh_token', 20073],
    ]);
  });
});

describe.each(['v3', 'v2'] as const)('token endpoint %s error table', (version: Version) => {
  let sandbox: Sandbox;
  const app = testApp();
  const other = testApp();
  const noRefresh = testApp({ refreshEnabled: false });
  let openId: string;

  const token = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    postJson(`${sandbox.url}${ENDPOINTS[version]}`, body, headers);
  const creds = (a: SandboxAppOptions = app) => ({ client_id: a.appId, client_secret: a.appSecret });
  const newCode = (params: Record<string, string> = {}, a: SandboxAppOptions = app) =>
    codeOf(
      sandbox.approveAuthorization(authorizeUrl(sandbox, a.appId, params), sandbox.openIdOf(a.appId, 0)),
    );
  const exchange = (code: string, extra: Record<string, string> = {}, a: SandboxAppOptions = app) =>
    token({ grant_type: 'authorization_code', ...creds(a), code, redirect_uri: REDIRECT_URI, ...extra });
  const tokens = async (a: SandboxAppOptions = app) => {
    const res = await exchange(newCode({}, a), {}, a);
    expect(res.body.code).toBe(0);
    return res.body as { access_token: string; refresh_token?: string };
  };
  const refresh = (refreshToken: string, extra: Record<string, string> = {}, a: SandboxAppOptions = app) =>
    token({ grant_type: 'refresh_token', ...creds(a), refresh_token: refreshToken, ...extra });

  beforeAll(async () => {
    sandbox = await start(app, { apps: [app, other, noRefresh] });
    openId = sandbox.openIdOf(app.appId, 0);
  });
  afterAll(() => sandbox.close());

  const expectError = (
    res: Awaited<ReturnType<typeof token>>,
    status: number,
    code: number,
    error?: string,
  ) => {
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    if (error) expect(res.body.error).toBe(error);
    expect(typeof res.body.error_description).toBe('string');
  };

  it('20001 missing parameters', async () => {
    expectError(await token({ ...creds(), code: 'x' }), 400, 20001, 'invalid_request');
    expectError(await token({ grant_type: 'authorization_code', ...creds() }), 400, 20001);
    expectError(
      await token({ grant_type: 'authorization_code', client_id: app.appId, code: 'x' }),
      400,
      20001,
    );
  });

  it('20063 malformed body or unsupported grant', async () => {
    expectError(await token('{oops' as unknown as Record<string, string>), 400, 20063);
    expectError(await token({ grant_type: 'password', ...creds() }), 400, 20063, 'unsupported_grant_type');
  });

  it('20002 bad secret, 20048 unknown app, 20070 Basic and body together; Basic alone works', async () => {
    expectError(await exchange(newCode(), { client_secret: 'wrong' }), 400, 20002, 'invalid_client');
    expectError(
      await token({
        grant_type: 'authorization_code',
        client_id: 'cli_ffffffffffffffff',
        client_secret: 'x',
        code: 'x',
      }),
      400,
      20048,
    );
    expectError(
      await token(
        { grant_type: 'authorization_code', ...creds(), code: newCode() },
        { authorization: basic(app) },
      ),
      400,
      20070,
    );
    const ok = await token(
      { grant_type: 'authorization_code', code: newCode(), redirect_uri: REDIRECT_URI },
      { authorization: basic(app) },
    );
    expect(ok.body.code).toBe(0);
    const form = await fetch(`${sandbox.url}${ENDPOINTS[version]}`, {
      method: 'POST',
      headers: { authorization: basic(app) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: newCode() }),
    });
    expect(((await form.json()) as { code: number }).code).toBe(0);
  });

  it("20003 unknown code, 20065 used code, 20024 another app's code, 20071 redirect mismatch", async () => {
    expectError(await exchange('nope'), 400, 20003, 'invalid_grant');
    const code = newCode();
    expect((await exchange(code)).body.code).toBe(0);
    expectError(await exchange(code), 400, 20065);
    expectError(await exchange(newCode({}, other)), 400, 20024);
    expectError(await exchange(newCode(), { redirect_uri: 'http://127.0.0.1:9/other' }), 400, 20071);
  });

  it('20049 PKCE: wrong verifier fails, plain and S256 pass', async () => {
    const verifier = 'v'.repeat(43);
    const s256 = createHash('sha256').update(verifier).digest('base64url');
    expectError(
      await exchange(newCode({ code_challenge: s256, code_challenge_method: 'S256' }), {
        code_verifier: 'w'.repeat(43),
      }),
      400,
      20049,
    );
    expectError(await exchange(newCode({ code_challenge: s256, code_challenge_method: 'S256' })), 400, 20049);
    expect(
      (
        await exchange(newCode({ code_challenge: s256, code_challenge_method: 'S256' }), {
          code_verifier: verifier,
        })
      ).body.code,
    ).toBe(0);
    // Without a method the challenge is plain.
    expect(
      (await exchange(newCode({ code_challenge: verifier }), { code_verifier: verifier })).body.code,
    ).toBe(0);
    const unasked = await exchange(newCode(), { code_verifier: verifier });
    if (version === 'v3') expectError(unasked, 400, 20049);
    else expect(unasked.body.code).toBe(0);
  });

  it('20008 / 20066 / 20010 user states, 20009 / 20069 app states', async () => {
    const cases = [
      ['deleted', 20008],
      ['inactive', 20066],
      ['no_permission', 20010],
    ] as const;
    for (const [status, code] of cases) {
      const pending = newCode();
      sandbox.setUserStatus(app.appId, openId, status);
      expectError(await exchange(pending), 400, code);
      sandbox.setUserStatus(app.appId, openId, 'active');
    }
    for (const [status, code] of [
      ['not_installed', 20009],
      ['disabled', 20069],
    ] as const) {
      const pending = newCode();
      sandbox.updateApp(app.appId, { status });
      expectError(await exchange(pending), 400, code);
      sandbox.updateApp(app.appId, { status: 'active' });
    }
  });

  it('20067 duplicate scope, 20068 scope not granted', async () => {
    expectError(
      await exchange(newCode(), { scope: 'offline_access offline_access' }),
      400,
      20067,
      'invalid_scope',
    );
    expectError(await exchange(newCode(), { scope: 'drive:drive:readonly' }), 400, 20068);
    const narrowed = await exchange(newCode(), { scope: 'contact:user.base:readonly' });
    expect(narrowed.body).toMatchObject({ code: 0, scope: 'contact:user.base:readonly' });
    expect(narrowed.body.refresh_token).toBeUndefined();
  });

  it('20026 unknown refresh token, 20073 used, 20064 revoked, 20037 expired', async () => {
    expectError(await refresh('garbage'), 400, 20026, 'invalid_grant');
    const first = await tokens();
    const second = await refresh(first.refresh_token!);
    expect(second.body.code).toBe(0);
    expectError(await refresh(first.refresh_token!), 400, 20073);
    expectError(await refresh(String(second.body.refresh_token), {}, other), 400, 20024);
    sandbox.revokeGrant(app.appId, openId);
    expectError(await refresh(String(second.body.refresh_token)), 400, 20064);
    const third = await tokens();
    sandbox.expireTokens({ appId: app.appId, kinds: ['refresh'] });
    expectError(await refresh(third.refresh_token!), 400, 20037);
  });

  it('a lost refresh answer: rotated, the connection dropped, the token marked; presenting it again is recorded', async () => {
    const first = await tokens();
    sandbox.faults.loseNextRefreshAnswers(1);
    await expect(refresh(first.refresh_token!)).rejects.toThrow();
    const presented = () =>
      sandbox.state
        .grants()
        .flatMap((g) => g.refreshTokens)
        .find((t) => t.token === first.refresh_token)!;
    expect(presented().usedAt).toBeDefined();
    expect(presented().answerLostAt).toBeDefined();
    expect(presented().reusedAt).toEqual([]);
    expectError(await refresh(first.refresh_token!), 400, 20073);
    expect(presented().reusedAt).toHaveLength(1);
    expect(sandbox.faults.get().lostRefreshAnswers).toBe(0);
  });

  it('20074 when the app may not refresh; no refresh token is issued then', async () => {
    const issued = await tokens(noRefresh);
    expect(issued.refresh_token).toBeUndefined();
    const withRefresh = await tokens();
    sandbox.updateApp(app.appId, { refreshEnabled: false });
    expectError(await refresh(withRefresh.refresh_token!), 400, 20074, 'unauthorized_client');
    sandbox.updateApp(app.appId, { refreshEnabled: true });
  });

  it('20050 and 20072 by fault injection', async () => {
    sandbox.faults.failNext('serverError', { pathPrefix: ENDPOINTS[version] });
    expectError(await exchange(newCode()), 500, 20050, 'server_error');
    sandbox.faults.failNext('unavailable');
    expectError(await exchange(newCode()), 503, 20072, 'temporarily_unavailable');
    expect((await exchange(newCode())).body.code).toBe(0);
  });
});

describe('lifetimes', () => {
  it('20004 for an expired code, 20037 past the grant cap, old access token dies at once with zero grace', async () => {
    const app = testApp();
    const sandbox = await start(app, {
      lifetimes: { codeSeconds: 0, grantMaxSeconds: 0, accessTokenGraceSeconds: 0 },
    });
    try {
      const url = `${sandbox.url}/oauth/v3/token`;
      const code = codeOf(
        sandbox.approveAuthorization(authorizeUrl(sandbox, app.appId), sandbox.openIdOf(app.appId)),
      );
      const res = await postJson(url, {
        grant_type: 'authorization_code',
        client_id: app.appId,
        client_secret: app.appSecret,
        code,
      });
      expect(res.body.code).toBe(20004);
    } finally {
      await sandbox.close();
    }
    const capped = testApp();
    const sb = await start(capped, { lifetimes: { grantMaxSeconds: 1, accessTokenGraceSeconds: 0 } });
    try {
      const client = sdkClient(sb, capped);
      const code = codeOf(sb.approveAuthorization(authorizeUrl(sb, capped.appId), sb.openIdOf(capped.appId)));
      const tokens = await client.accessToken.retrieveByAuthorizationCode({
        code,
        redirectUri: REDIRECT_URI,
      });
      expect(tokens.refreshTokenExpiresIn).toBeLessThanOrEqual(1);
      const next = await client.accessToken.refresh({ refreshToken: tokens.refreshToken! });
      const old = await client.authen.v1.userInfo
        .get({}, lark.withUserAccessToken(tokens.accessToken))
        .catch((e: { response: { data: unknown } }) => e.response.data);
      expect(old).toMatchObject({ code: 99991677 });
      sb.expireTokens({ kinds: ['refresh'] });
      const capErr = await client.accessToken
        .refresh({ refreshToken: next.refreshToken! })
        .catch((e: unknown) => e);
      expect(capErr).toMatchObject({ code: 20037 });
    } finally {
      await sb.close();
    }
  });
});

describe('device authorization', () => {
  let sandbox: Sandbox;
  const app = testApp();
  beforeAll(async () => void (sandbox = await start(app, { lifetimes: { deviceIntervalSeconds: 0 } })));
  afterAll(() => sandbox.close());

  const poll = (deviceCode: string) =>
    postJson(`${sandbox.url}/open-apis/authen/v2/oauth/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: deviceCode,
      client_id: app.appId,
      client_secret: app.appSecret,
    });

  it('runs the RFC 8628 flow: pending, approve, tokens, then the code is spent', async () => {
    const res = await fetch(`${sandbox.url}/oauth/v1/device_authorization`, {
      method: 'POST',
      headers: { authorization: basic(app), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: app.appId, scope: 'offline_access contact:user.base:readonly' }),
    });
    const started = (await res.json()) as Record<string, string | number>;
    expect(started).toMatchObject({ expires_in: 240, interval: 0 });
    expect(String(started.verification_uri_complete)).toContain(String(started.user_code));
    const page = await fetch(String(started.verification_uri_complete));
    expect(await page.text()).toContain(String(started.user_code));
    expect((await poll(String(started.device_code))).body.error).toBe('authorization_pending');
    sandbox.approveDevice(String(started.user_code), sandbox.openIdOf(app.appId, '李四'));
    const done = await poll(String(started.device_code));
    expect(done.body).toMatchObject({ code: 0, token_type: 'Bearer' });
    expect(done.body.refresh_token).toBeTruthy();
    expect((await poll(String(started.device_code))).body.code).toBe(20065);
  });

  it('access_denied after a denial', async () => {
    const res = await postJson(`${sandbox.url}/oauth/v1/device_authorization`, {
      client_id: app.appId,
      client_secret: app.appSecret,
    });
    sandbox.denyDevice(String(res.body.user_code));
    expect((await poll(String(res.body.device_code))).body.error).toBe('access_denied');
  });

  it('slow_down when polling faster than the interval', async () => {
    const slowApp = testApp();
    const slow = await start(slowApp, { lifetimes: { deviceIntervalSeconds: 60 } });
    try {
      const started = await postJson(`${slow.url}/oauth/v1/device_authorization`, {
        client_id: slowApp.appId,
        client_secret: slowApp.appSecret,
      });
      const body = {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: String(started.body.device_code),
        client_id: slowApp.appId,
        client_secret: slowApp.appSecret,
      };
      expect((await postJson(`${slow.url}/open-apis/authen/v2/oauth/token`, body)).body.error).toBe(
        'authorization_pending',
      );
      expect((await postJson(`${slow.url}/open-apis/authen/v2/oauth/token`, body)).body.error).toBe(
        'slow_down',
      );
    } finally {
      await slow.close();
    }
  });
});
