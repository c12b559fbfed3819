import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchWorkflowId } from '../../workflows/task-queues.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { STATUS_KEY, startStack, type Stack } from '../helpers/stack.ts';

const USERS = Array.from({ length: 20 }, (_, i) => ({ name: `用户${i}`, enName: `Batch User ${i}` }));

interface BatchAnswer {
  batch_id: string;
  kind: string;
  status: 'running' | 'finished';
  total: number;
  counts: Record<string, number>;
  items: { open_id: string; result: string; reason: string | null; authorization_id: string | null }[];
  next_cursor: string | null;
  error?: { code: string; message: string };
}

const newBatchId = () => `b-${randomBytes(6).toString('hex')}`;

describe('batch requests and revocations', () => {
  let stack: Stack;
  const openId = (i: number) => stack.sandbox.openIdOf(stack.appId, i);
  const cardsOf = (id: string) =>
    stack.sandbox.state.messages({ openId: id }).filter((m) => m.msgType === 'interactive');

  async function post(path: string, body: unknown, key?: string) {
    const res = await stack.api(path, { method: 'POST', body: JSON.stringify(body), key });
    return { status: res.status, body: (await res.json()) as BatchAnswer };
  }

  async function status(batchId: string, query = '') {
    const res = await stack.api(`/v1/authorizations:batch/${batchId}${query}`, { key: STATUS_KEY });
    return { status: res.status, body: (await res.json()) as BatchAnswer };
  }

  const finished = (batchId: string) =>
    eventually(
      `batch ${batchId} to finish`,
      async () => {
        const { body } = await status(batchId);
        return body.status === 'finished' ? body : undefined;
      },
      60_000,
    );

  beforeAll(async () => {
    stack = await startStack({
      sandbox: { users: USERS },
      app: { tenantScopes: ['admin:app.info:readonly'] },
      // Two users a run: every batch here continues as new; four cards a second: paced visibly.
      // A restarted worker gives up on the users in flight at once; the batch asks them again.
      env: { BATCH_USERS_PER_RUN: '2', BATCH_CARDS_PER_SECOND: '4', WORKER_SHUTDOWN_GRACE_SECONDS: '1' },
    });
  });
  afterAll(() => stack?.close());

  it("sends each listed user and chat member one card, and reports each user's result", async () => {
    await authorize(stack, openId(0), ['calendar:calendar:readonly']);
    stack.sandbox.setUserStatus(stack.appId, openId(1), 'deleted');
    const chatId = stack.sandbox.createChat({
      appId: stack.appId,
      members: [openId(3), openId(4), openId(5)],
    });
    const batchId = newBatchId();
    const listed = [openId(0), openId(1), openId(2), openId(3)];
    const submitted = await post('/v1/authorizations:batch', {
      batch_id: batchId,
      open_ids: listed,
      chat_id: chatId,
      scopes: ['calendar:calendar:readonly'],
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ batch_id: batchId, kind: 'request', total: 6 });

    const done = await finished(batchId);
    expect(done.counts).toMatchObject({ card_sent: 4, already_authorized: 1, card_refused: 1, queued: 0 });
    const byUser = Object.fromEntries(done.items.map((item) => [item.open_id, item]));
    expect(byUser[openId(0)]!.result).toBe('already_authorized');
    expect(byUser[openId(1)]!.result).toBe('card_refused');
    expect(byUser[openId(1)]!.reason).toBeTruthy();
    for (const i of [2, 3, 4, 5]) {
      expect(byUser[openId(i)]!.result).toBe('card_sent');
      expect(byUser[openId(i)]!.authorization_id).toBeTruthy();
      expect(cardsOf(openId(i))).toHaveLength(1);
    }
    // In the order they were processed: the listed users first, then the chat's new members.
    expect(done.items.map((item) => item.open_id)).toEqual([...listed, openId(4), openId(5)]);

    // Each user's grant is the one a single request would have started: the card is theirs to authorize.
    const grant = await stack.api(`/v1/authorizations/${openId(2)}`);
    expect(((await grant.json()) as { status: string }).status).toBe('pending');

    // Three runs of two users each: the history of a batch stays small however large it is.
    const workflowId = batchWorkflowId(stack.appId, batchId);
    await eventually('three runs of the batch workflow', async () => {
      let runs = 0;
      for await (const _ of stack.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs++;
      return runs === 3 ? true : undefined;
    });
  });

  it('is idempotent by batch id: the same batch again sends nothing new; other content is a conflict', async () => {
    const batchId = newBatchId();
    const body = { batch_id: batchId, open_ids: [openId(6), openId(7)] };
    expect((await post('/v1/authorizations:batch', body)).status).toBe(202);
    await finished(batchId);
    const again = await post('/v1/authorizations:batch', body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ batch_id: batchId, status: 'finished', counts: { card_sent: 2 } });
    const conflict = await post('/v1/authorizations:batch', { ...body, open_ids: [openId(6)] });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe('batch_conflict');
    expect(cardsOf(openId(6))).toHaveLength(1);
    expect(cardsOf(openId(7))).toHaveLength(1);
  });

  it('revokes in bulk: granted users are revoked, the others reported without a grant', async () => {
    await authorize(stack, openId(8));
    await authorize(stack, openId(9));
    const batchId = newBatchId();
    const submitted = await post('/v1/authorizations:batchRevoke', {
      batch_id: batchId,
      open_ids: [openId(8), openId(9), openId(10)],
    });
    expect(submitted.status).toBe(202);
    const done = await finished(batchId);
    expect(done.kind).toBe('revoke');
    expect(done.items.map((item) => item.result)).toEqual(['revoked', 'revoked', 'no_grant']);
    for (const i of [8, 9]) {
      expect((await stack.api(`/v1/users/${openId(i)}/token`)).status).toBe(410);
    }
    const history = await stack.api(`/v1/users/${openId(8)}/history`);
    const items = ((await history.json()) as { items: { outcome: string; by?: unknown }[] }).items;
    expect(items.find((item) => item.outcome === 'revoked')?.by).toEqual({ api_key: 'svc' });
  });

  it('keeps going across a worker restart', async () => {
    const batchId = newBatchId();
    const users = [11, 12, 13, 14, 15, 16].map(openId);
    expect((await post('/v1/authorizations:batch', { batch_id: batchId, open_ids: users })).status).toBe(202);
    await eventually('the first card of the batch', () => (cardsOf(users[0]!).length > 0 ? true : undefined));
    await stack.stopWorker();
    const { body: meanwhile } = await status(batchId);
    expect(meanwhile.status).toBe('running');
    await stack.startWorker();
    const done = await finished(batchId);
    expect(done.counts.card_sent).toBe(6);
    for (const user of users) expect(cardsOf(user)).toHaveLength(1);
  });

  it('pages through the users of a batch', async () => {
    const batchId = newBatchId();
    const users = [17, 18, 19].map(openId);
    await post('/v1/authorizations:batch', { batch_id: batchId, open_ids: users });
    await finished(batchId);
    const page1 = await status(batchId, '?limit=2');
    expect(page1.body.items.map((i) => i.open_id)).toEqual(users.slice(0, 2));
    const page2 = await status(batchId, `?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.items.map((i) => i.open_id)).toEqual(users.slice(2));
    expect(page2.body.next_cursor).toBeNull();
  });

  it('refuses what it cannot do before anything is stored or sent', async () => {
    const refusals: [unknown, number, string][] = [
      [{ open_ids: [] }, 400, 'invalid_request'],
      [{ open_ids: [openId(2)], scopes: ['mail:mail'] }, 422, 'scope_not_enabled'],
      [{ batch_id: 'has space', open_ids: [openId(2)] }, 400, 'invalid_request'],
      [{ open_ids: Array.from({ length: 1001 }, (_, i) => `ou_x${i}`) }, 400, 'invalid_request'],
      [
        {
          open_ids: Array.from({ length: 1000 }, (_, i) => `ou_x${i}`),
          chat_id: stack.sandbox.createChat({ appId: stack.appId, members: [openId(2)] }),
        },
        422,
        'too_many_users',
      ],
      [{ chat_id: 'oc_nosuchchat' }, 422, 'chat_members_unavailable'],
    ];
    const batchCount = async () =>
      (await stack.db.query<{ n: number }>('SELECT count(*)::int AS n FROM authorization_batches')).rows[0]!
        .n;
    const before = await batchCount();
    for (const [body, code, error] of refusals) {
      const res = await post('/v1/authorizations:batch', body);
      expect([res.status, res.body.error?.code]).toEqual([code, error]);
    }
    expect(await batchCount()).toBe(before);
    // A revocation needs the token role; the status key may only read.
    expect((await post('/v1/authorizations:batchRevoke', { open_ids: [openId(2)] }, STATUS_KEY)).status).toBe(
      403,
    );
    expect((await status('no-such-batch')).status).toBe(404);
  });
});
