import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SCOPES_PER_GRANT } from '../../api/scope-cap.ts';
import { authorizeUrlOf, cardOf, eventually, onlyCardFor } from '../helpers/cards.ts';
import { authorize, pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { API_KEY, startStack, type Stack } from '../helpers/stack.ts';

const secret = () => randomBytes(24).toString('hex');
const KEYS = {
  ui: secret(),
  reader: secret(),
  requester: secret(),
  legacy: secret(),
  // The helpers' key: they request and authorize with it.
  svc: API_KEY,
};
const API_KEYS = [
  `ui:decode:${KEYS.ui}`,
  `reader:read:${KEYS.reader}`,
  `requester:request:${KEYS.requester}`,
  `legacy:status:${KEYS.legacy}`,
  `svc:token:${KEYS.svc}`,
].join(',');

interface AuditLine {
  stream?: string;
  action?: string;
  by?: unknown;
  open_id?: string | null;
  outcome?: string;
  status?: number;
}

const scopes = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}:s${i}`);

/** Every line of the stack's log, and its audit stream's records without their timestamps. */
function captureLogs() {
  const lines: string[] = [];
  return {
    lines,
    sink: { write: (line: string) => void lines.push(line) },
    audits: () =>
      lines
        .map((l) => JSON.parse(l) as AuditLine)
        .filter((l) => l.stream === 'audit')
        .map(({ action, by, open_id, outcome, status }) => ({ action, by, open_id, outcome, status })),
  };
}

const postTo = (stack: Stack, key: string, body: unknown, query = '') =>
  stack.api(`/v1/authorizations${query}`, { method: 'POST', key, body: JSON.stringify(body) });

describe('roles, limits and the audit stream', () => {
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    stack = await startStack({
      env: { API_KEYS, LOG_LEVEL: 'info', MAX_WAITING_REQUESTS: '1' },
      logSink: logs.sink,
    });
  });
  afterAll(() => stack?.close());

  const post = (key: string, body: unknown, query = '') => postTo(stack, key, body, query);

  it('gives each role what its caller needs and no more; an old "status" key keeps what it could do', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const decode = (key: string) =>
      fetch(`${stack.apiUrl}/codec/${key}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"payloads":[]}',
      });
    const encode = (key: string) =>
      stack.api('/codec/encode', { method: 'POST', key, body: '{"payloads":[]}' });
    const status = async (res: Promise<Response>) => (await res).status;

    // decode: the codec's /decode, nothing else.
    expect(await status(decode(KEYS.ui))).toBe(200);
    expect(await status(encode(KEYS.ui))).toBe(403);
    expect(await status(stack.api(`/v1/authorizations/${openId}`, { key: KEYS.ui }))).toBe(403);
    expect(await status(post(KEYS.ui, { open_id: openId }))).toBe(403);
    // read: status and history, no card.
    expect(await status(stack.api(`/v1/authorizations/${openId}`, { key: KEYS.reader }))).toBe(404);
    expect(await status(stack.api(`/v1/users/${openId}/history`, { key: KEYS.reader }))).toBe(200);
    expect(await status(post(KEYS.reader, { open_id: openId }))).toBe(403);
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(0);
    // request (and the old status): a card, but no token, no revocation, no encoding.
    for (const key of [KEYS.requester, KEYS.legacy]) {
      expect(await status(post(key, { open_id: openId }))).toBe(202);
      expect(await status(stack.api(`/v1/users/${openId}/token`, { key }))).toBe(403);
      expect(await status(stack.api(`/v1/users/${openId}/authorization`, { key, method: 'DELETE' }))).toBe(
        403,
      );
      expect(await status(encode(key))).toBe(403);
    }
    // token: everything.
    expect(await status(encode(KEYS.svc))).toBe(200);
    expect(await status(stack.api(`/v1/users/${openId}/token`, { key: KEYS.svc }))).toBe(404);
  });

  it(`caps a grant's merged scopes at ${MAX_SCOPES_PER_GRANT} before the workflow is asked`, async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 5);
    // offline_access is always asked for: 1 + 50 + 49 = the cap exactly.
    const first = scopes('a', 50);
    const { messageId } = await pendingCard(stack, openId, first);
    const scopeCount = () =>
      new URL(authorizeUrlOf(cardOf(stack.sandbox, messageId))).searchParams.get('scope')!.split(' ').length;
    expect((await post(KEYS.svc, { open_id: openId, scopes: scopes('b', 49) })).status).toBe(202);
    await eventually('the merged scopes on the card', () =>
      scopeCount() === MAX_SCOPES_PER_GRANT ? true : undefined,
    );
    const over = await post(KEYS.svc, { open_id: openId, scopes: ['c:one-too-many'] });
    expect(over.status).toBe(422);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('too_many_scopes');
    // Scopes the grant already asks for add nothing, so they still pass.
    expect((await post(KEYS.svc, { open_id: openId, scopes: first.slice(0, 10) })).status).toBe(202);
    expect(scopeCount()).toBe(MAX_SCOPES_PER_GRANT);
  });

  it('wakes a long-poll when the attempt settles, without polling, and caps how many wait', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 6);
    let queries = 0;
    const query = stack.db.query.bind(stack.db);
    stack.db.query = ((...args: Parameters<typeof query>) => {
      queries++;
      return query(...args);
    }) as typeof stack.db.query;
    try {
      const waiting = post(KEYS.svc, { open_id: openId }, '?wait=60');
      const [card] = await onlyCardFor(stack.sandbox, openId);
      await waitForCardTitle(stack, card!.messageId, '授权请求');
      // The one slot is taken: a second long-poll is refused before it does anything.
      const other = stack.sandbox.openIdOf(stack.appId, 7);
      const refused = await post(KEYS.svc, { open_id: other }, '?wait=5');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_waiting');
      expect(stack.sandbox.state.messages({ openId: other })).toHaveLength(0);

      // A second of waiting: polling every 100 ms would have queried about ten times by now. The
      // worker shares this pool, so the card's own activity writes may still land in that second.
      const before = queries;
      const start = Date.now();
      await eventually('a second to pass', () => (Date.now() - start > 1000 ? true : undefined));
      expect(queries - before).toBeLessThan(6);

      await stack.sandbox.clickCardButton(card!.messageId, { action: 'cancel' }, openId);
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { attempt: { status: string } }).attempt.status).toBe('cancelled');
    } finally {
      stack.db.query = query;
    }
  });

  it('audits token reads, requests and revocations by key name, and the history says who revoked', async () => {
    const byApi = stack.sandbox.openIdOf(stack.appId, 8);
    const byCard = stack.sandbox.openIdOf(stack.appId, 9);
    await authorize(stack, byApi);
    const cardMessage = await authorize(stack, byCard);
    logs.lines.length = 0;

    expect((await stack.api(`/v1/users/${byApi}/token`, { key: KEYS.svc })).status).toBe(200);
    expect((await stack.api(`/v1/users/${byApi}/token`, { key: KEYS.requester })).status).toBe(403);
    const revoke = await stack.api(`/v1/users/${byApi}/authorization`, { method: 'DELETE', key: KEYS.svc });
    expect(revoke.status).toBe(200);
    expect((await stack.api(`/v1/users/${byApi}/token`, { key: KEYS.svc })).status).toBe(410);
    await stack.sandbox.clickCardButton(cardMessage, { action: 'revoke' }, byCard);
    await waitForCardTitle(stack, cardMessage, '授权已撤销');
    await eventually('the card revocation in the audit stream', () =>
      logs.audits().some((a) => a.open_id === byCard) ? true : undefined,
    );

    const svc = { api_key: 'svc' };
    expect(logs.audits()).toEqual([
      { action: 'token.read', by: svc, open_id: byApi, outcome: 'ok', status: 200 },
      {
        action: 'token.read',
        by: { api_key: 'requester' },
        open_id: byApi,
        outcome: 'forbidden',
        status: 403,
      },
      { action: 'authorization.revoke', by: svc, open_id: byApi, outcome: 'ok', status: 200 },
      { action: 'token.read', by: svc, open_id: byApi, outcome: 'revoked', status: 410 },
      {
        action: 'authorization.revoke',
        by: { card_operator: byCard },
        open_id: byCard,
        outcome: 'ok',
        status: 200,
      },
    ]);
    const written = logs.lines.join('');
    for (const key of Object.values(KEYS)) {
      expect(written.includes(key), 'an API key secret in the logs').toBe(false);
    }
    const revokedBy = async (openId: string) => {
      const res = await stack.api(`/v1/users/${openId}/history`, { key: KEYS.reader });
      const { items } = (await res.json()) as { items: { kind: string; by?: unknown }[] };
      return items.filter((i) => i.kind === 'revoke').map((i) => i.by);
    };
    expect(await revokedBy(byApi)).toEqual([svc]);
    expect(await revokedBy(byCard)).toEqual([{ card_operator: byCard }]);
  });
});

describe('the rate limit on card requests', () => {
  let stack: Stack;
  const logs = captureLogs();
  beforeAll(async () => {
    stack = await startStack({
      env: {
        API_KEYS,
        LOG_LEVEL: 'info',
        AUTHORIZATION_REQUEST_BURST: '2',
        AUTHORIZATION_REQUESTS_PER_MINUTE: '1',
      },
      logSink: logs.sink,
    });
  });
  afterAll(() => stack?.close());

  const post = (key: string, body: unknown) => postTo(stack, key, body);

  it('rate-limits card requests per key with 429 and Retry-After, sending nothing', async () => {
    const openIds = [0, 1, 2, 3].map((i) => stack.sandbox.openIdOf(stack.appId, i));
    expect((await post(KEYS.requester, { open_id: openIds[0] })).status).toBe(202);
    expect((await post(KEYS.requester, { open_id: openIds[1] })).status).toBe(202);
    const refused = await post(KEYS.requester, { open_id: openIds[2] });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect(stack.sandbox.state.messages({ openId: openIds[2]! })).toHaveLength(0);
    expect(await stack.grants.state(openIds[2]!)).toBeUndefined();
    // Another key has a bucket of its own.
    expect((await post(KEYS.svc, { open_id: openIds[3] })).status).toBe(202);
    expect(logs.audits().filter((a) => a.open_id === openIds[2])).toEqual([
      {
        action: 'authorization.request',
        by: { api_key: 'requester' },
        open_id: openIds[2],
        outcome: 'rate_limited',
        status: 429,
      },
    ]);
  });
});
