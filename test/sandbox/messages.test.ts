import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../sandbox/index.ts';
import { callbackButton, card, linkButton, postJson, sdkClient, start, testApp } from './helpers.ts';

interface ApiBody {
  code: number;
  msg?: string;
  data: { message_id: string };
  error: { log_id?: string };
}

describe('messages API', () => {
  let sandbox: Sandbox;
  const app = testApp();
  let openId: string;
  let tenantToken: string;

  const api = (method: string, path: string, body?: unknown, token = tenantToken) =>
    fetch(`${sandbox.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    }).then(async (r) => ({
      status: r.status,
      headers: r.headers,
      body: (await r.json()) as ApiBody,
    }));

  const send = (content: unknown, extra: Record<string, unknown> = {}) =>
    api('POST', '/open-apis/im/v1/messages?receive_id_type=open_id', {
      receive_id: openId,
      msg_type: 'interactive',
      content: typeof content === 'string' ? content : JSON.stringify(content),
      ...extra,
    });

  beforeAll(async () => {
    // Rate limits have their own suite below; here they would only get in the way of quick sends.
    sandbox = await start(app, { rateLimits: false });
    openId = sandbox.openIdOf(app.appId, '张三');
    const res = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    tenantToken = String(res.body.tenant_access_token);
  });
  afterAll(() => sandbox.close());

  it('checks the tenant token: 99991661 missing, 99991671 malformed, 99991663 unknown or expired', async () => {
    expect((await api('POST', '/open-apis/im/v1/messages', {}, '')).body.code).toBe(99991661);
    const malformed = await fetch(`${sandbox.url}/open-apis/im/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Token x' },
    });
    expect(((await malformed.json()) as { code: number }).code).toBe(99991671);
    const unknown = await api('POST', '/open-apis/im/v1/messages', {}, 't-unknown');
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe(99991663);
    expect(unknown.body.error.log_id).toBeTruthy();
  });

  it('sends a card through the SDK and keeps it, with a uuid making retries idempotent', async () => {
    const client = sdkClient(sandbox, app);
    const payload = {
      params: { receive_id_type: 'open_id' as const },
      data: {
        receive_id: openId,
        msg_type: 'interactive',
        content: JSON.stringify(card('Hello')),
        uuid: 'retry-1',
      },
    };
    const first = await client.im.message.create(payload);
    expect(first.code).toBe(0);
    expect(first.data?.message_id).toMatch(/^om_[0-9a-f]{32}$/);
    expect(first.data).toMatchObject({
      msg_type: 'interactive',
      sender: { sender_type: 'app', id: app.appId },
    });
    const retry = await client.im.message.create(payload);
    expect(retry.data?.message_id).toBe(first.data?.message_id);
    const stored = sandbox.state.message(first.data!.message_id!);
    expect(stored?.card).toMatchObject({ schema: '2.0' });
    expect(stored?.openId).toBe(openId);
  });

  it('rejects bad sends with the documented codes', async () => {
    expect((await send('not json')).body.code).toBe(230099);
    expect((await send({ schema: '2.0', body: { elements: [] }, surprise: true })).body.code).toBe(230099);
    expect((await send({ ...card('x'), body: { elements: [{ content: 'no tag' }] } })).body.code).toBe(
      230099,
    );
    const big = card('x'.repeat(31 * 1024));
    const tooBig = await send(big);
    expect(tooBig.body.code).toBe(230025);
    expect((await send(card('x'), { receive_id: 'ou_00000000000000000000000000000000' })).body.code).toBe(
      230013,
    );
    expect((await send(card('x'), { uuid: 'u'.repeat(51) })).body.code).toBe(99992402);
    const badType = await api('POST', '/open-apis/im/v1/messages?receive_id_type=phone', {
      receive_id: openId,
    });
    expect(badType.body).toMatchObject({ code: 99992402 });
    expect((await api('POST', '/open-apis/im/v1/messages?receive_id_type=open_id', '{oops')).body.code).toBe(
      99992402,
    );
    const text = await api('POST', '/open-apis/im/v1/messages?receive_id_type=email', {
      receive_id: 'lisi@example.com',
      msg_type: 'text',
      content: JSON.stringify({ text: 'hi' }),
    });
    expect(text.body.code).toBe(0);
  });

  it('patches bot cards in place, keeping every version', async () => {
    const sent = await send(card('v1', [linkButton('Open', 'https://example.com')]));
    const id = String(sent.body.data.message_id);
    const patched = await api('PATCH', `/open-apis/im/v1/messages/${id}`, {
      content: JSON.stringify(card('v2')),
    });
    expect(patched.body).toMatchObject({ code: 0 });
    const versions = sandbox.state.message(id)!.versions;
    expect(versions.map((v) => [v.version, v.source])).toEqual([
      [1, 'create'],
      [2, 'patch'],
    ]);
    expect(JSON.parse(versions[1]!.content)).toMatchObject({ header: { title: { content: 'v2' } } });
    const put = await api('PUT', `/open-apis/im/v1/messages/${id}`, {
      msg_type: 'interactive',
      content: JSON.stringify(card('v3')),
    });
    expect(put.body.code).toBe(230001);
  });

  it('enforces the PATCH rules: shared cards, bot messages, 14 days, 5 QPS per message', async () => {
    const legacy = await send({
      config: { wide_screen_mode: true },
      elements: [{ tag: 'div', text: { tag: 'plain_text', content: 'x' } }],
    });
    const legacyId = String(legacy.body.data.message_id);
    const notShared = await api('PATCH', `/open-apis/im/v1/messages/${legacyId}`, {
      content: JSON.stringify(card('x')),
    });
    expect(notShared.body.code).toBe(230001);

    const { messageId: userMessage } = await sandbox.sendUserMessage(app.appId, openId, 'hello bot');
    expect(
      (await api('PATCH', `/open-apis/im/v1/messages/${userMessage}`, { content: JSON.stringify(card('x')) }))
        .body.code,
    ).toBe(230001);
    expect(
      (await api('PATCH', '/open-apis/im/v1/messages/om_missing', { content: JSON.stringify(card('x')) }))
        .body.code,
    ).toBe(230001);

    const old = String((await send(card('old'))).body.data.message_id);
    sandbox.ageMessage(old, 15 * 86400 * 1000);
    expect(
      (await api('PATCH', `/open-apis/im/v1/messages/${old}`, { content: JSON.stringify(card('x')) })).body
        .code,
    ).toBe(230001);
  });

  it('answers 429 with x-ogw-ratelimit-reset, 502 and latency under fault injection', async () => {
    sandbox.faults.failNext('rateLimit', { pathPrefix: '/open-apis/im/' });
    sandbox.faults.set({ rateLimitResetSeconds: 7 });
    const limited = await send(card('x'));
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe(99991400);
    expect(limited.headers.get('x-ogw-ratelimit-reset')).toBe('7');
    sandbox.faults.failNext('http5xx');
    const gateway = await fetch(`${sandbox.url}/open-apis/im/v1/messages?receive_id_type=open_id`, {
      method: 'POST',
    });
    expect(gateway.status).toBe(502);
    sandbox.faults.set({ latencyMs: 150 });
    const started = Date.now();
    expect((await send(card('slow'))).body.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    sandbox.faults.reset();
    const counters = sandbox.state.counters()['POST /open-apis/im/v1/messages']!;
    expect(counters['99991400']).toBe(1);
    expect(counters['http_502']).toBe(1);
  });

  it('expires tenant tokens on demand', async () => {
    const local = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    sandbox.expireTokens({ appId: app.appId, kinds: ['tenant'] });
    expect((await send(card('x'))).body.code).toBe(99991663);
    const fresh = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
      app_id: app.appId,
      app_secret: app.appSecret,
    });
    expect(fresh.body.tenant_access_token).not.toBe(local.body.tenant_access_token);
    tenantToken = String(fresh.body.tenant_access_token);
    expect((await send(card('x', [callbackButton('Go', { a: 1 })]))).body.code).toBe(0);
  });

  it('exposes the same state over HTTP', async () => {
    const res = await fetch(`${sandbox.url}/__sandbox/messages?open_id=${openId}`);
    const messages = (await res.json()) as Array<{ messageId: string; versions: unknown[] }>;
    expect(messages.length).toBe(sandbox.state.messages({ openId }).length);
    const bad = await postJson(`${sandbox.url}/__sandbox/faults/fail-next`, { kind: 'explode' });
    expect(bad.status).toBe(400);
    const unknownApi = await fetch(`${sandbox.url}/open-apis/nothing/here`);
    expect(unknownApi.status).toBe(404);
    expect(await unknownApi.json()).toMatchObject({ code: 404 });
  });
});

describe('rate limits', () => {
  it('5 PATCHes a second per message (230020), 5 sends a second per user', async () => {
    const app = testApp();
    const sandbox = await start(app);
    try {
      const token = await postJson(`${sandbox.url}/open-apis/auth/v3/tenant_access_token/internal`, {
        app_id: app.appId,
        app_secret: app.appSecret,
      });
      const headers = { authorization: `Bearer ${String(token.body.tenant_access_token)}` };
      const send = (openId: string) =>
        postJson(
          `${sandbox.url}/open-apis/im/v1/messages?receive_id_type=open_id`,
          { receive_id: openId, msg_type: 'interactive', content: JSON.stringify(card('x')) },
          headers,
        );
      const zhang = sandbox.openIdOf(app.appId, 0);
      const hot = String((((await send(zhang)).body.data ?? {}) as { message_id?: string }).message_id);
      const patch = () =>
        fetch(`${sandbox.url}/open-apis/im/v1/messages/${hot}`, {
          method: 'PATCH',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ content: JSON.stringify(card('n')) }),
        });
      const codes: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 6; i += 1) {
        const res = await patch();
        codes.push(((await res.clone().json()) as { code: number }).code);
        limited = res;
      }
      expect(codes).toEqual([0, 0, 0, 0, 0, 230020]);
      expect(limited!.headers.get('x-ogw-ratelimit-reset')).toBe('1');
      // One send already went to this user: the fifth of these is the sixth within the second.
      const sends = [];
      for (let i = 0; i < 5; i += 1) sends.push((await send(zhang)).body.code);
      expect(sends.slice(0, 4)).toEqual([0, 0, 0, 0]);
      expect(sends[4]).toBe(230020);
    } finally {
      await sandbox.close();
    }
  });
});

describe('robustness', () => {
  it('answers garbage with Feishu errors and keeps serving', async () => {
    const app = testApp();
    const sandbox = await start(app);
    try {
      const token = `${sandbox.url}/oauth/v3/token`;
      const badBasic = await postJson(
        token,
        { grant_type: 'authorization_code', code: 'x' },
        { authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` },
      );
      expect(badBasic.body).toMatchObject({ code: 20063 });
      const huge = await fetch(token, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch(
        () => undefined,
      );
      expect(huge === undefined || huge.status === 413).toBe(true);
      const wrongMethod = await fetch(`${sandbox.url}/open-apis/im/v1/messages`, { method: 'DELETE' });
      expect(wrongMethod.status).toBe(404);
      const ws = await fetch(`${sandbox.url}/callback/ws/endpoint`, { method: 'POST', body: '[1,2' });
      expect(await ws.json()).toMatchObject({ code: 403 });
      const status = await postJson(`${sandbox.url}/__sandbox/users/status`, {
        open_id: sandbox.openIdOf(app.appId, 0),
        status: 'gone',
      });
      expect(status.status).toBe(400);
      const page = await fetch(`${sandbox.url}/oauth/v1/device/verify`);
      expect(await page.text()).toContain('name="user_code"');
      expect((await fetch(`${sandbox.url}/healthz`)).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});
