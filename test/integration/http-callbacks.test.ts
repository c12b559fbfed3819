import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pendingCard, waitForCardTitle } from '../helpers/flows';
import { startStack, type Stack } from '../helpers/stack';

const ENCRYPT_KEY = 'test-encrypt-key';
const VERIFICATION_TOKEN = 'test-verification-token';

function encrypt(plain: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(ENCRYPT_KEY).digest(), iv);
  return Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
}

interface SendOptions {
  token?: string;
  timestamp?: number;
  nonce?: string;
  tamper?: boolean;
  unsigned?: boolean;
}

/** A card callback exactly as Feishu would POST it: encrypted, signed over the raw body. */
function cardCallback(openId: string, attemptId: string, messageId: string, options: SendOptions = {}) {
  const envelope = {
    schema: '2.0',
    header: {
      event_id: randomBytes(8).toString('hex'),
      token: options.token ?? VERIFICATION_TOKEN,
      create_time: String(Date.now()),
      event_type: 'card.action.trigger',
      tenant_key: 'tenant',
      app_id: 'app',
    },
    event: {
      operator: { open_id: openId },
      token: 'c-delayed',
      action: { tag: 'button', value: { action: 'cancel', open_id: openId, attempt_id: attemptId } },
      context: { open_message_id: messageId },
    },
  };
  const body = JSON.stringify({ encrypt: encrypt(JSON.stringify(envelope)) });
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? randomBytes(8).toString('hex');
  const signature = createHash('sha256')
    .update(timestamp + nonce + ENCRYPT_KEY + body)
    .digest('hex');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (!options.unsigned) {
    headers['x-lark-request-timestamp'] = timestamp;
    headers['x-lark-request-nonce'] = nonce;
    headers['x-lark-signature'] = options.tamper
      ? signature.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))
      : signature;
  }
  return { body, headers };
}

describe('HTTP callbacks are verified before anything changes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ callbackMode: 'http' });
  });
  afterAll(() => stack?.close());

  const post = (req: { body: string; headers: Record<string, string> }) =>
    fetch(`${stack.apiUrl}/feishu/events`, { method: 'POST', ...req });

  it('answers url_verification with the challenge', async () => {
    const res = await post({
      body: JSON.stringify({
        encrypt: encrypt(
          JSON.stringify({ type: 'url_verification', challenge: 'c123', token: VERIFICATION_TOKEN }),
        ),
      }),
      headers: { 'content-type': 'application/json' },
    });
    expect(await res.json()).toEqual({ challenge: 'c123' });
  });

  it('rejects bad signatures, stale timestamps, wrong tokens, replays and unsigned bodies; accepts the genuine one', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const { messageId } = await pendingCard(stack, openId);
    const { rows } = await stack.db.query<{ id: string }>(
      'SELECT id FROM user_auth_sessions WHERE message_id = $1',
      [messageId],
    );
    const attemptId = rows[0]!.id;
    const statusOf = async () =>
      ((await (await stack.api(`/v1/authorizations/${openId}`)).json()) as { status: string }).status;

    const rejected = [
      cardCallback(openId, attemptId, messageId, { tamper: true }),
      cardCallback(openId, attemptId, messageId, { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
      cardCallback(openId, attemptId, messageId, { token: 'not-the-token' }),
      cardCallback(openId, attemptId, messageId, { unsigned: true }),
    ];
    for (const req of rejected) {
      const res = await post(req);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(
        /bad_signature|stale|bad_token|unsigned/,
      );
    }
    expect((await post({ body: '{"encrypt":"!!!"}', headers: {} })).status).toBe(400);
    expect(await statusOf()).toBe('pending');

    const genuine = cardCallback(openId, attemptId, messageId);
    const first = await post(genuine);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { toast: { type: string } }).toast.type).toBe('info');
    const replay = await post(genuine);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('replayed');
    await waitForCardTitle(stack, messageId, '授权请求已取消');
  });
});
