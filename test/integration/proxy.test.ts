import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { API_KEY, STATUS_KEY, startStack, type Stack } from '../helpers/stack.ts';
import { successfulRefreshes } from '../helpers/tokens.ts';

const TASK_SCOPES = ['task:task:read', 'task:task:write'];
const KEYS = {
  tasks: 'test-proxy-tasks-key-0123456789abcdef',
  narrow: 'test-proxy-narrow-key-0123456789abcdef',
  flood: 'test-proxy-flood-key-0123456789abcdef',
};

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown> & { error?: { code: string }; code?: number; data?: Record<string, unknown> };
}

/** A raw request: fetch would resolve `..` and `%2e` before sending, and the proxy must see them as sent. */
function send(base: string, path: string, init: { method?: string; key?: string; body?: string } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(base);
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${init.key ?? KEYS.tasks}`,
          ...(init.body !== undefined && { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let json: Answer['json'] = {};
          try {
            json = JSON.parse(text) as Answer['json'];
          } catch {
            // Not JSON: the test looks at the text.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('proxy: calling Feishu as the user', () => {
  let stack: Stack;
  const logLines: string[] = [];
  const answers: Answer[] = [];
  const proxy = async (openId: string, feishuPath: string, init: Parameters<typeof send>[2] = {}) => {
    const answer = await send(stack.apiUrl, `/v1/users/${openId}/proxy${feishuPath}`, init);
    answers.push(answer);
    return answer;
  };
  const audits = () =>
    logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.stream === 'audit' && r.action === 'proxy.call');

  beforeAll(async () => {
    stack = await startStack({
      env: {
        LOG_LEVEL: 'trace',
        API_KEYS: [
          `svc:token:${API_KEY}`,
          `ops:status:${STATUS_KEY}`,
          `tasks:proxy:${KEYS.tasks}`,
          `narrow:proxy:${KEYS.narrow}`,
          `flood:proxy:${KEYS.flood}`,
        ].join(','),
        PROXY_ALLOW: JSON.stringify({ narrow: ['GET /open-apis/task/v2/tasks'] }),
        PROXY_REQUEST_BURST: '70',
        PROXY_REQUESTS_PER_MINUTE: '60',
        PROXY_USER_REQUEST_BURST: '12',
        PROXY_USER_REQUESTS_PER_MINUTE: '60',
        PROXY_MAX_REQUEST_BYTES: String(16 * 1024),
        PROXY_TIMEOUT_SECONDS: '2',
      },
      logSink: { write: (line: string) => void logLines.push(line) },
    });
  });
  afterAll(() => stack?.close());

  it('forwards GET and POST with the query, and pages through a list', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId, TASK_SCOPES);

    const profile = await proxy(openId, '/open-apis/authen/v1/user_info');
    expect(profile.status).toBe(200);
    expect(profile.json.data).toMatchObject({ open_id: openId, name: '张三' });
    expect(profile.headers['x-tt-logid']).toBeTruthy();
    expect(profile.headers['cache-control']).toBe('no-store');

    for (const n of [1, 2, 3, 4, 5]) {
      const created = await proxy(openId, '/open-apis/task/v2/tasks', {
        method: 'POST',
        body: JSON.stringify({ summary: `task ${n}` }),
      });
      expect(created.status).toBe(200);
      expect(created.json.data).toMatchObject({ task: { summary: `task ${n}` } });
    }
    const summaries: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const query = `page_size=2${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ''}`;
      const page = await proxy(openId, `/open-apis/task/v2/tasks?${query}`);
      expect(page.status).toBe(200);
      const data = page.json.data as { items: { summary: string }[]; has_more: boolean; page_token?: string };
      summaries.push(...data.items.map((t) => t.summary));
      pageToken = data.has_more ? data.page_token : undefined;
      pages += 1;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(summaries).toEqual(['task 1', 'task 2', 'task 3', 'task 4', 'task 5']);

    // Feishu's refusals come back as Feishu sent them.
    const invalid = await proxy(openId, '/open-apis/task/v2/tasks', { method: 'POST', body: '{}' });
    expect(invalid).toMatchObject({ status: 400, json: { code: 99992402 } });

    const audit = audits().filter((r) => r.open_id === openId);
    expect(audit).toContainEqual(
      expect.objectContaining({
        by: { api_key: 'tasks' },
        method: 'POST',
        path: '/open-apis/task/v2/tasks',
        status: 200,
        outcome: 'ok',
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({ method: 'GET', path: '/open-apis/authen/v1/user_info', status: 200 }),
    );
  });

  it('refuses keys below the proxy role, and paths or methods outside a key allow-list', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    await authorize(stack, openId, TASK_SCOPES);
    const tasks = '/open-apis/task/v2/tasks';
    const created = () => JSON.stringify(stack.sandbox.state.counters()[`POST ${tasks}`]);
    const createdBefore = created();

    const readOnly = await proxy(openId, tasks, { key: STATUS_KEY });
    expect(readOnly).toMatchObject({ status: 403, json: { error: { code: 'forbidden' } } });
    expect(await proxy(openId, tasks, { key: 'not-a-key' })).toMatchObject({ status: 401 });
    // A token key may do what a proxy key may.
    expect((await proxy(openId, tasks, { key: API_KEY })).status).toBe(200);

    expect((await proxy(openId, tasks, { key: KEYS.narrow })).status).toBe(200);
    for (const [method, path] of [
      ['POST', tasks],
      ['GET', '/open-apis/authen/v1/user_info'],
      ['GET', '/open-apis/task/v2/tasks_archive'],
    ] as const) {
      const body = method === 'POST' ? '{"summary":"x"}' : undefined;
      const refused = await proxy(openId, path, { key: KEYS.narrow, method, body });
      expect(refused).toMatchObject({ status: 403, json: { error: { code: 'path_not_allowed' } } });
    }
    expect(audits()).toContainEqual(
      expect.objectContaining({ by: { api_key: 'narrow' }, method: 'POST', outcome: 'path_not_allowed' }),
    );
    // Nothing refused reached Feishu: the sandbox saw no task created.
    expect(created()).toBe(createdBefore);
  });

  it("passes Feishu's 429 and its x-ogw-ratelimit headers through, apart from its own limits", async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    await authorize(stack, openId, TASK_SCOPES);
    stack.sandbox.faults.failNext('rateLimit', { pathPrefix: '/open-apis/task/v2/tasks' });
    const throttled = await proxy(openId, '/open-apis/task/v2/tasks');
    expect(throttled.status).toBe(429);
    expect(throttled.json.code).toBe(99991400);
    expect(throttled.headers['x-ogw-ratelimit-reset']).toBe('1');
    expect(throttled.headers['x-ogw-ratelimit-limit']).toBe('50');
    expect((await proxy(openId, '/open-apis/task/v2/tasks')).status).toBe(200);

    // Per user: its burst, then the proxy's own 429 (with Retry-After, no Feishu header).
    const burst = await Promise.all(
      Array.from({ length: 14 }, () => proxy(openId, '/open-apis/authen/v1/user_info')),
    );
    const own = burst.filter((a) => a.status === 429);
    expect(own.length).toBeGreaterThan(0);
    expect(own[0]!.json.error?.code).toBe('rate_limited');
    expect(own[0]!.headers['retry-after']).toMatch(/^\d+$/);
    expect(own[0]!.headers['x-ogw-ratelimit-reset']).toBeUndefined();

    // Per key: one key across many users runs out, whoever it names.
    const flood = await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        proxy(`ou_nobody${i}`, '/open-apis/authen/v1/user_info', { key: KEYS.flood }),
      ),
    );
    expect(flood.filter((a) => a.status === 404)[0]?.json.error?.code).toBe('no_grant');
    expect(flood.filter((a) => a.json.error?.code === 'rate_limited').length).toBeGreaterThan(0);
  });

  it('refreshes an expired token once through the grant workflow and retries', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    await authorize(stack, openId, TASK_SCOPES);
    const versionOf = async () =>
      (
        await stack.db.query<{ token_version: number }>(
          'SELECT token_version FROM grants WHERE app_id = $1 AND open_id = $2',
          [stack.appId, openId],
        )
      ).rows[0]!.token_version;
    const before = await versionOf();
    // Feishu has given up on the token although our copy says it has hours left.
    expect(stack.sandbox.expireTokens({ appId: stack.appId, openId, kinds: ['access'] })).toBeGreaterThan(0);

    const calls = await Promise.all(
      Array.from({ length: 4 }, () => proxy(openId, '/open-apis/authen/v1/user_info')),
    );
    expect(calls.map((c) => c.status)).toEqual([200, 200, 200, 200]);
    // Four callers refused with the same token: one refresh, by the workflow, the grant's only writer.
    expect(successfulRefreshes(stack, openId)).toHaveLength(1);
    expect(await versionOf()).toBe(before + 1);
    const history = await stack.api(`/v1/users/${openId}/history`);
    const items = ((await history.json()) as { items: { kind: string; outcome: string }[] }).items;
    expect(items.filter((i) => i.kind === 'refresh')).toHaveLength(1);

    // The first token Feishu refused answered 99991677 to the proxy, never to the caller.
    const codes = stack.sandbox.state.counters()['GET /open-apis/authen/v1/user_info'] ?? {};
    expect(codes['99991677']).toBeGreaterThanOrEqual(1);
    expect((await proxy(openId, '/open-apis/authen/v1/user_info')).status).toBe(200);
    expect(successfulRefreshes(stack, openId)).toHaveLength(1);
  });

  it('answers 410 with the grant status for a grant that cannot be used', async () => {
    const revokedHere = stack.sandbox.openIdOf(stack.appId, 4);
    await authorize(stack, revokedHere, TASK_SCOPES);
    expect((await stack.api(`/v1/users/${revokedHere}/authorization`, { method: 'DELETE' })).status).toBe(
      200,
    );
    const revoked = await proxy(revokedHere, '/open-apis/authen/v1/user_info');
    expect(revoked).toMatchObject({ status: 410, json: { error: { code: 'revoked' } } });

    // The user removed the app in Feishu: the token is refused, the one refresh is too.
    const revokedThere = stack.sandbox.openIdOf(stack.appId, 5);
    await authorize(stack, revokedThere, TASK_SCOPES);
    stack.sandbox.revokeGrant(stack.appId, revokedThere);
    // A 503 refresh_unavailable (retry shortly) may come first while the workflow records the
    // refusal; a client retries it, as documented.
    const gone = await eventually('an answer other than 503', async () => {
      const answer = await proxy(revokedThere, '/open-apis/authen/v1/user_info');
      return answer.status === 503 ? undefined : answer;
    });
    expect(gone).toMatchObject({ status: 410, json: { error: { code: 'needs_reauth' } } });

    const never = await proxy(stack.sandbox.openIdOf(stack.appId, 6), '/open-apis/authen/v1/user_info');
    expect(never).toMatchObject({ status: 404, json: { error: { code: 'no_grant' } } });
  });

  it('refuses paths that would leave /open-apis/ on the Feishu domain, before any token is read', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 7);
    await authorize(stack, openId, TASK_SCOPES);
    const seen = () => JSON.stringify(stack.sandbox.state.counters());
    const before = seen();
    for (const path of [
      `/open-apis/../../../v1/users/${openId}/token`,
      '/open-apis/authen/v1/user_info/..',
      '/open-apis/%2e%2e/%2E%2E/__sandbox/state',
      '/open-apis/authen%2fv1%2fuser_info',
      '/open-apis/authen%5Cv1',
      '/open-apis//evil.example/open-apis/authen/v1/user_info',
      '/open-apis/authen/v1/user_info/',
      '/open-apis/%61uthen/v1/user_info',
      '/open-apis/authen/v1/user_info%00',
      '/open-apis/http:%2F%2Fevil.example',
      '/open-apis/a\\b',
    ]) {
      const refused = await proxy(openId, path);
      expect(refused, path).toMatchObject({ status: 400, json: { error: { code: 'invalid_proxy_path' } } });
    }
    // Not under /open-apis/ at all: no such route.
    expect((await proxy(openId, '/__sandbox/state')).status).toBe(404);
    expect(seen()).toBe(before);

    // Whatever stays on the domain goes there, and only there: Feishu's own 404.
    const unknown = await proxy(openId, '/open-apis/@evil.example/x');
    expect(unknown).toMatchObject({ status: 404, json: { code: 404 } });
  });

  it('limits the body it forwards and the time Feishu may take', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 8);
    await authorize(stack, openId, TASK_SCOPES);
    const large = await proxy(openId, '/open-apis/task/v2/tasks', {
      method: 'POST',
      body: JSON.stringify({ summary: 'x'.repeat(20 * 1024) }),
    });
    expect(large).toMatchObject({ status: 413, json: { error: { code: 'payload_too_large' } } });

    stack.sandbox.faults.set({ latencyMs: 3000, pathPrefix: '/open-apis/task/' });
    try {
      const slow = await proxy(openId, '/open-apis/task/v2/tasks');
      expect(slow).toMatchObject({ status: 504, json: { error: { code: 'feishu_timeout' } } });
    } finally {
      stack.sandbox.faults.reset();
    }
  });

  it('never lets a user token reach the caller or the logs', () => {
    const tokens = stack.sandbox.state
      .grants()
      .flatMap((g) => [...g.accessTokens, ...g.refreshTokens])
      .map((t) => t.token);
    expect(tokens.length).toBeGreaterThan(10);
    expect(answers.length).toBeGreaterThan(50);
    const seenByCallers = answers.map((a) => `${JSON.stringify(a.headers)}${a.text}`).join('\n');
    const logs = logLines.join('');
    for (const token of tokens) {
      // Any long piece of a token would do; its signature part is unique to it.
      const signature = token.split('.')[2]!;
      expect(seenByCallers.includes(signature)).toBe(false);
      expect(logs.includes(signature)).toBe(false);
    }
    expect(audits().length).toBeGreaterThanOrEqual(answers.length - 2);
  });
});
