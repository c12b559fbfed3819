import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userCardLimit } from '../../api/feishu/user-limit.ts';
import { eventually } from '../helpers/cards.ts';
import { pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const PER_MINUTE = 2;

describe('per-user limits on the cards users ask for themselves (DMs, Retry)', () => {
  let stack: Stack;
  const lines: string[] = [];
  const logged = (msg: string) => lines.filter((l) => (JSON.parse(l) as { msg?: string }).msg === msg).length;

  beforeAll(async () => {
    stack = await startStack({
      env: { USER_CARD_REQUESTS_PER_MINUTE: String(PER_MINUTE), LOG_LEVEL: 'info' },
      logSink: { write: (line: string) => void lines.push(line) },
    });
  });
  afterAll(() => stack?.close());

  it('a user sending "授权" over and over gets the limit through and one slow-down reply, nothing more', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    for (let i = 0; i < 6; i++) await stack.sandbox.sendUserMessage(stack.appId, openId, '授权');
    // A DM let through after the first one's card opened is covered by it and asks nothing.
    const letThrough = () =>
      logged('authorization requested by DM') +
      logged('a DM or Retry covered by an attempt opened since it arrived; nothing to do');
    await eventually('every DM handled', () =>
      letThrough() === PER_MINUTE && logged('DM request refused: too many asks') === 6 - PER_MINUTE
        ? true
        : undefined,
    );
    const fromBot = () => stack.sandbox.state.messages({ openId }).filter((m) => m.sender === 'bot');
    // Only the window's first refusal replies; it is sent right after it is logged.
    const [reply] = await eventually('the slow-down reply', () => {
      const texts = fromBot().filter((m) => m.msgType === 'text');
      return texts.length > 0 ? texts : undefined;
    });
    expect((JSON.parse(reply!.content) as { text: string }).text).toMatch(/^操作过于频繁，请 \d+ 秒后再试$/);
    expect(
      fromBot()
        .map((m) => m.msgType)
        .sort(),
    ).toEqual(['interactive', 'text']);
  });

  it('Retry past the limit answers a warning toast and asks for no card; the count is shared in PostgreSQL', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const { messageId } = await pendingCard(stack, openId);
    const cancelThenRetry = async () => {
      await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      await waitForCardTitle(stack, messageId, '授权请求已取消');
      return stack.sandbox.clickCardButton(messageId, { action: 'retry' }, openId);
    };
    for (let i = 0; i < PER_MINUTE; i++) {
      expect((await cancelThenRetry()).toast?.type).toBe('info');
      await waitForCardTitle(stack, messageId, '授权请求');
    }
    const attempts = async () =>
      (await stack.db.query('SELECT id FROM user_auth_sessions WHERE open_id = $1', [openId])).rowCount;
    const before = await attempts();
    const refused = await cancelThenRetry();
    expect(refused.toast?.type).toBe('warning');
    expect(refused.toast?.content).toMatch(/^操作过于频繁/);
    expect(logged('Retry refused: too many asks')).toBe(1);
    // The refusal answered without asking the workflow: the card stays cancelled, no new attempt.
    expect(await attempts()).toBe(before);
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(1);
    // Another API replica, drawing on the same table, sees the same count for this user only.
    const replica = userCardLimit(stack.db, PER_MINUTE);
    expect(await replica.take(openId)).toMatchObject({ allowed: false, firstRefusal: false });
    expect(await replica.take(stack.sandbox.openIdOf(stack.appId, 2))).toEqual({ allowed: true });
  });

  it('counts an event Feishu delivers again once', async () => {
    const limit = userCardLimit(stack.db, PER_MINUTE);
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    for (let delivery = 0; delivery < PER_MINUTE + 2; delivery++) {
      expect(await limit.take(openId, 'ev_redelivered')).toEqual({ allowed: true });
    }
    // One of the user's asks went on that event; the rest of the window is still theirs.
    for (let ask = 1; ask < PER_MINUTE; ask++) expect(await limit.take(openId)).toEqual({ allowed: true });
    expect(await limit.take(openId)).toMatchObject({ allowed: false, firstRefusal: true });
  });
});
