import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

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

/** The headers Feishu sends with a body: a timestamp, a nonce and the signature over the raw bytes. */
function signed(body: string, options: SendOptions = {}) {
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
  return signed(JSON.stringify({ encrypt: encrypt(JSON.stringify(envelope)) }), options);
}

/**
 * The body with the last byte of its second-to-last cipher block set to v: in CBC that byte is
 * XORed into the padding, so most values break the padding and one leaves it valid (the classic
 * padding-oracle probe).
 */
function withTamperedPadding(body: string, v: number): string | undefined {
  const bytes = Buffer.from((JSON.parse(body) as { encrypt: string }).encrypt, 'base64');
  if (bytes[bytes.length - 17] === v) return undefined;
  bytes[bytes.length - 17] = v;
  return JSON.stringify({ encrypt: bytes.toString('base64') });
}

const REJECTED = { error: { code: 'rejected', message: 'the callback could not be verified' } };

describe('HTTP callbacks are verified before anything changes', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ callbackMode: 'http' });
  });
  afterAll(() => stack?.close());

  const post = (req: { body: string; headers: Record<string, string> }) =>
    fetch(`${stack.apiUrl}/feishu/events`, { method: 'POST', ...req });

  const challenge = JSON.stringify({
    encrypt: encrypt(
      JSON.stringify({ type: 'url_verification', challenge: 'c123', token: VERIFICATION_TOKEN }),
    ),
  });

  it('answers url_verification with the challenge, signed or not (Feishu does not sign it)', async () => {
    expect(await (await post(signed(challenge))).json()).toEqual({ challenge: 'c123' });
    expect(await (await post(signed(challenge, { unsigned: true }))).json()).toEqual({ challenge: 'c123' });
    // Unsigned, nothing but a url_verification is taken, and nothing larger than one.
    const padded = JSON.stringify({ ...(JSON.parse(challenge) as object), pad: 'x'.repeat(2048) });
    const large = await post(signed(padded, { unsigned: true }));
    expect([large.status, await large.json()]).toEqual([401, REJECTED]);
  });

  it('gives a tampered body one answer, signed or not: no padding oracle', async () => {
    // Before the fix, bad padding answered bad_encryption and valid padding over garbled JSON
    // invalid_json: a padding oracle on the encrypted body.
    const answers = new Set<string>();
    const requests = [signed('{"encrypt":"!!!"}', { unsigned: true })];
    for (let v = 0; v < 256; v++) {
      const body = withTamperedPadding(challenge, v);
      if (body) requests.push(signed(body, { unsigned: true }), signed(body, { tamper: true }));
    }
    for (const req of requests) {
      const res = await post(req);
      answers.add(`${res.status} ${await res.text()}`);
    }
    expect([...answers]).toEqual([`401 ${JSON.stringify(REJECTED)}`]);
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
      expect(await res.json()).toEqual(REJECTED);
    }
    const garbage = await post(signed('{"encrypt":"!!!"}'));
    expect([garbage.status, await garbage.json()]).toEqual([401, REJECTED]);
    expect(await statusOf()).toBe('pending');

    const genuine = cardCallback(openId, attemptId, messageId);
    const first = await post(genuine);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { toast: { type: string } }).toast.type).toBe('info');
    const replay = await post(genuine);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual(REJECTED);
    await waitForCardTitle(stack, messageId, '授权请求已取消');
  });
});
