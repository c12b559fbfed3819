import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardOf, cardTitle, eventually } from '../helpers/cards.ts';
import {
  authorize,
  openRedirect,
  pendingCard,
  requestAuthorization,
  waitForCardTitle,
} from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken, grantStatus } from '../helpers/tokens.ts';

const patchesOf = (stack: Stack, messageId: string) =>
  stack.sandbox.state.message(messageId)!.versions.length;

describe('resilience', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it.each([
    ['a 5xx (20050)', 'serverError'],
    ['a 503 (20072)', 'unavailable'],
    ['a 429 with x-ogw-ratelimit-reset', 'rateLimit'],
  ] as const)(
    '%s from the token endpoint during the exchange is retried and the flow completes',
    async (_name, kind) => {
      const openId = stack.sandbox.openIdOf(
        stack.appId,
        kind === 'serverError' ? 0 : kind === 'unavailable' ? 1 : 2,
      );
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      stack.sandbox.faults.failNext(kind, { count: 2, pathPrefix: '/oauth/v3/token' });
      const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
      expect(page.outcome).toBe('authorized');
      await waitForCardTitle(stack, messageId, '已授权');
    },
  );

  it('5xx and 429 on the card PATCH are retried and the card is updated exactly once', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    const before = patchesOf(stack, messageId);
    stack.sandbox.faults.failNext('http5xx', {
      count: 1,
      pathPrefix: `/open-apis/im/v1/messages/${messageId}`,
    });
    stack.sandbox.faults.failNext('rateLimit', {
      count: 1,
      pathPrefix: `/open-apis/im/v1/messages/${messageId}`,
    });
    const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
    expect(page.outcome).toBe('authorized');
    await waitForCardTitle(stack, messageId, '已授权');
    expect(patchesOf(stack, messageId) - before).toBe(1);
  });

  it('a card Feishu no longer lets anyone update (14 days old) at the settle: authorized all the same, the refusal recorded once, not retried', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 6);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    stack.sandbox.ageMessage(messageId, 15 * 86_400_000);
    const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
    expect(page.outcome).toBe('authorized');
    await eventually('the grant to be authorized', async () =>
      (await stack.grants.state(openId))?.status === 'authorized' ? true : undefined,
    );
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
    const { rows } = await stack.db.query<{ outcome: string; detail: string }>(
      `SELECT outcome, detail FROM grant_events WHERE app_id = $1 AND open_id = $2 AND kind = 'card'`,
      [stack.appId, openId],
    );
    expect(rows).toEqual([{ outcome: 'not_updated', detail: 'authorized' }]);
    expect(cardTitle(cardOf(stack.sandbox, messageId))).toBe('授权请求');
  });

  it('a worker killed between the card and the redirect loses nothing: the flow completes after restart', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 4);
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    await stack.stopWorker();
    const redirect = stack.sandbox.approveAuthorization(authorizeUrl, openId);
    const pagePromise = openRedirect(redirect);
    // The redirect waits for a worker; nothing has been exchanged yet.
    await eventually('the code to be stored', async () => {
      const { rows } = await stack.db.query<{ code_ct: Buffer | null }>(
        'SELECT code_ct FROM user_auth_sessions WHERE message_id = $1',
        [messageId],
      );
      return rows[0]?.code_ct ? true : undefined;
    });
    await stack.startWorker();
    expect((await pagePromise).outcome).toBe('authorized');
    await waitForCardTitle(stack, messageId, '已授权');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
  });

  it('?wait long-polls until the attempt settles', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 5);
    const waiting = requestAuthorization(stack, { open_id: openId }, '?wait=20');
    const [message] = await eventually('the card', () => {
      const found = stack.sandbox.state.messages({ openId });
      return found.length ? found : undefined;
    });
    const url = JSON.stringify(cardOf(stack.sandbox, message!.messageId)).match(
      /"default_url":"([^"]+)"/,
    )![1]!;
    await openRedirect(stack.sandbox.denyAuthorization(url.replace(/\\u0026/g, '&')));
    const settled = await waiting;
    expect(settled.status).toBe(200);
    expect(settled.body.status).toBe('denied');
  });

  it('DELETE answers 503 revocation_pending when the revocation cannot be written within 15 s; repeated once it landed, it answers 200', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 7);
    await authorize(stack, openId);
    // A long transaction holds the grant's row, so the revocation's write waits for it.
    const holder = await stack.db.connect();
    let held = true;
    const release = async () => {
      if (!held) return;
      held = false;
      await holder.query('ROLLBACK');
      holder.release();
    };
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM grants WHERE app_id = $1 AND open_id = $2 FOR UPDATE', [
        stack.appId,
        openId,
      ]);
      // An API that waited for the write would answer only once the row is free.
      const freed = setTimeout(() => void release(), 40_000);
      const started = Date.now();
      const res = await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });
      const tookMs = Date.now() - started;
      clearTimeout(freed);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('revocation_pending');
      expect(tookMs, 'answered after the 15 s wait').toBeGreaterThanOrEqual(14_000);
    } finally {
      await release();
    }
    await eventually('the revocation to land', async () =>
      (await grantStatus(stack, openId)) === 'revoked' ? true : undefined,
    );
    expect((await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' })).status).toBe(200);
    expect((await getToken(stack, openId)).status).toBe(410);
  }, 90_000);
});
