import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as lark from '@larksuiteoapi/node-sdk';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Sandbox } from '../../sandbox/index.ts';
import {
  callbackButton,
  card,
  connectWsClient,
  linkButton,
  postJson,
  sdkClient,
  silentLogger,
  start,
  testApp,
} from './helpers.ts';

type Event = Record<string, unknown>;
type Handler = (data: Event) => unknown;

/** A minimal service endpoint: raw bytes captured, then the SDK's own EventDispatcher judges them. */
async function eventReceiver(dispatcher: lark.EventDispatcher) {
  const received: Array<{ raw: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ raw, headers: req.headers });
      const data = Object.assign(
        Object.create({ headers: req.headers }) as object,
        JSON.parse(raw) as object,
      );
      const { isChallenge, challenge } = lark.generateChallenge(data, { encryptKey: dispatcher.encryptKey });
      const answer = isChallenge ? Promise.resolve(challenge) : dispatcher.invoke(data);
      void answer.then((body) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body ?? {}));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feishu/events`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('HTTP callbacks', () => {
  const encryptKey = 'sandbox-encrypt-key';
  const verificationToken = 'sandbox-verification-token';
  const handlers: Record<string, Handler> = {};
  const dispatcher = new lark.EventDispatcher({
    encryptKey,
    verificationToken,
    logger: silentLogger,
    loggerLevel: lark.LoggerLevel.fatal,
  }).register({
    'im.message.receive_v1': (data: Event) => handlers['im.message.receive_v1']?.(data),
    'card.action.trigger': (data: Event) => handlers['card.action.trigger']?.(data),
  });
  let receiver: Awaited<ReturnType<typeof eventReceiver>>;
  let sandbox: Sandbox;
  const app = testApp();
  let openId: string;
  let client: lark.Client;

  beforeAll(async () => {
    receiver = await eventReceiver(dispatcher);
    app.callback = { mode: 'http', url: receiver.url, encryptKey, verificationToken };
    sandbox = await start(app, { rateLimits: false });
    openId = sandbox.openIdOf(app.appId, '张三');
    client = sdkClient(sandbox, app);
  });
  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });

  const sendCard = async (buttons: unknown[]) => {
    const res = await client.im.message.create({
      params: { receive_id_type: 'open_id' },
      data: {
        receive_id: openId,
        msg_type: 'interactive',
        content: JSON.stringify(card('Authorize', buttons)),
      },
    });
    return res.data!.message_id!;
  };

  it('passes url_verification, encrypted', async () => {
    expect(await sandbox.verifyCallbackUrl(app.appId)).toEqual({ ok: true, error: undefined });
    const { raw } = receiver.received.at(-1)!;
    const decrypted = JSON.parse(
      new lark.AESCipher(encryptKey).decrypt((JSON.parse(raw) as { encrypt: string }).encrypt),
    ) as Record<string, unknown>;
    expect(decrypted).toMatchObject({ type: 'url_verification', token: verificationToken });
  });

  it('delivers a DM signed over the raw body and encrypted, as the SDK expects', async () => {
    const events: Event[] = [];
    handlers['im.message.receive_v1'] = (data) => void events.push(data);
    const { delivery } = await sandbox.sendUserMessage(app.appId, openId, '授权');
    expect(delivery.ok).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'im.message.receive_v1',
      token: verificationToken,
      app_id: app.appId,
      sender: { sender_id: { open_id: openId }, sender_type: 'user' },
      message: { chat_type: 'p2p', message_type: 'text', content: JSON.stringify({ text: '授权' }) },
    });
    const { raw, headers } = receiver.received.at(-1)!;
    const expected = createHash('sha256')
      .update(
        `${String(headers['x-lark-request-timestamp'])}${String(headers['x-lark-request-nonce'])}${encryptKey}${raw}`,
      )
      .digest('hex');
    expect(headers['x-lark-signature']).toBe(expected);
    expect(Math.abs(Number(headers['x-lark-request-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('rejects a tampered body: the SDK dispatcher refuses the signature', async () => {
    const { raw, headers } = receiver.received.at(-1)!;
    const tampered = raw.replace(/"encrypt":"./, '"encrypt":"A');
    const data = Object.assign(Object.create({ headers }) as object, JSON.parse(tampered) as object);
    expect(await dispatcher.invoke(data)).toBeUndefined();
  });

  it('delivers card.action.trigger and returns the answer; delayed update only works after it', async () => {
    const messageId = await sendCard([
      linkButton('Open', 'https://example.com/x'),
      callbackButton('Cancel', { action: 'cancel', id: 7 }),
    ]);
    let early: unknown;
    let token = '';
    handlers['card.action.trigger'] = async (data) => {
      token = String(data.token);
      early = await client
        .request({
          method: 'POST',
          url: '/open-apis/interactive/v1/card/update',
          data: { token, card: card('too early') },
        })
        .catch((e: { response: { data: unknown } }) => e.response.data);
      expect(data).toMatchObject({
        operator: { open_id: openId },
        action: { value: { action: 'cancel', id: 7 } },
        context: { open_message_id: messageId },
      });
      return { toast: { type: 'success', content: 'Cancelled' } };
    };
    expect(await sandbox.clickCardButton(messageId, 0)).toEqual({
      kind: 'link',
      url: 'https://example.com/x',
    });
    const result = await sandbox.clickCardButton(messageId, { action: 'cancel' });
    expect(result).toMatchObject({
      kind: 'callback',
      ok: true,
      via: 'http',
      toast: { type: 'success', content: 'Cancelled' },
    });
    expect(early).toMatchObject({ code: 230001 });
    expect(token).toMatch(/^c-/);
    const later: unknown = await client.request({
      method: 'POST',
      url: '/open-apis/interactive/v1/card/update',
      data: { token, card: card('updated later') },
    });
    expect(later).toMatchObject({ code: 0 });
    expect(sandbox.state.message(messageId)!.versions.map((v) => v.source)).toEqual([
      'create',
      'delayed_update',
    ]);
  });

  it('applies a card in the answer and reverts a PATCH that raced the answer', async () => {
    const messageId = await sendCard([callbackButton('Retry', { action: 'retry' })]);
    handlers['card.action.trigger'] = async () => {
      await client.im.message.patch({
        path: { message_id: messageId },
        data: { content: JSON.stringify(card('racing patch')) },
      });
      return {};
    };
    await sandbox.clickCardButton(messageId, 'Retry');
    const versions = sandbox.state.message(messageId)!.versions;
    expect(versions.map((v) => v.source)).toEqual(['create', 'patch', 'reverted']);
    expect(versions[1]!.revertedAt).toBeDefined();
    expect(versions[2]!.content).toBe(versions[0]!.content);

    handlers['card.action.trigger'] = () => ({
      toast: { type: 'info', content: 'ok' },
      card: { type: 'raw', data: card('from answer') },
    });
    await sandbox.clickCardButton(messageId, 'Retry');
    expect(JSON.parse(sandbox.state.message(messageId)!.versions.at(-1)!.content)).toMatchObject({
      header: { title: { content: 'from answer' } },
    });
  });
});

describe('long-connection callbacks with the real WSClient', () => {
  const app = testApp();
  let sandbox: Sandbox;
  let wsClient: lark.WSClient;
  let openId: string;
  const events: Event[] = [];
  let cardHandler: Handler = () => ({ toast: { type: 'success', content: 'Revoked' } });

  beforeAll(async () => {
    sandbox = await start(app, {
      rateLimits: false,
      // The ACK is awaited Feishu's own 3 s: a 500 ms wait failed a delivery while CI's other suites
      // loaded the machine.
      wsClientConfig: { PingInterval: 1, ReconnectInterval: 0.2, ReconnectNonce: 0.1 },
    });
    openId = sandbox.openIdOf(app.appId, '李四');
    wsClient = await connectWsClient(sandbox, app, {
      'im.message.receive_v1': (data: Event) => void events.push(data),
      'card.action.trigger': (data: Event) => cardHandler(data),
    });
  });
  afterAll(async () => {
    wsClient.close({ force: true });
    await sandbox.close();
  });

  const sendCard = async () => {
    const res = await sdkClient(sandbox, app).im.message.create({
      params: { receive_id_type: 'open_id' },
      data: {
        receive_id: openId,
        msg_type: 'interactive',
        content: JSON.stringify(card('Authorized', [callbackButton('Revoke', { action: 'revoke' })])),
      },
    });
    return res.data!.message_id!;
  };

  it('answers pings with a full ClientConfig so the client keeps a sane interval', async () => {
    await vi.waitFor(() => expect(sandbox.state.connections()[0]!.pings).toBeGreaterThanOrEqual(2), {
      timeout: 5000,
    });
  });

  it('delivers a DM event and a card callback, the ACK carrying the handler answer', async () => {
    const { delivery } = await sandbox.sendUserMessage(app.appId, openId, '/auth');
    expect(delivery).toMatchObject({ ok: true, via: 'ws' });
    expect(events.at(-1)).toMatchObject({
      event_type: 'im.message.receive_v1',
      message: { content: JSON.stringify({ text: '/auth' }) },
    });
    const messageId = await sendCard();
    const click = await sandbox.clickCardButton(messageId, 'Revoke');
    expect(click).toMatchObject({ ok: true, via: 'ws', toast: { type: 'success', content: 'Revoked' } });
    const log = sandbox.state.deliveries().at(-1)!;
    expect(log).toMatchObject({ eventType: 'card.action.trigger', ok: true, messageId });
  });

  it('reassembles fragmented payloads', async () => {
    sandbox.faults.set({ wsFragments: 3 });
    const { delivery } = await sandbox.sendUserMessage(app.appId, openId, 'fragmented');
    sandbox.faults.reset();
    expect(delivery).toMatchObject({ ok: true, via: 'ws' });
    expect(events.at(-1)?.message).toMatchObject({ content: JSON.stringify({ text: 'fragmented' }) });
  });

  it('reports 200340 when the callback goes unanswered: the unmodified SDK drops type=card frames', async () => {
    sandbox.faults.set({ cardFrameType: 'card' });
    const click = await sandbox.clickCardButton(await sendCard(), 'Revoke');
    sandbox.faults.reset();
    expect(click).toMatchObject({ ok: false });
    expect(click.error).toMatch(/^200340/);
  });

  it('reports a handler that throws', async () => {
    cardHandler = () => {
      throw new Error('boom');
    };
    const click = await sandbox.clickCardButton(await sendCard(), 'Revoke');
    cardHandler = () => ({});
    expect(click.ok).toBe(false);
    expect(click.error).toContain('ACK code 500');
  });

  it('the client reconnects after the sandbox drops the socket', async () => {
    const before = sandbox.state.connections()[0]!.id;
    expect(sandbox.dropWsConnections(app.appId)).toBe(1);
    await vi.waitFor(
      () => {
        const now = sandbox.state.connections();
        expect(now).toHaveLength(1);
        expect(now[0]!.id).not.toBe(before);
      },
      { timeout: 10_000, interval: 50 },
    );
    const { delivery } = await sandbox.sendUserMessage(app.appId, openId, 'after reconnect');
    expect(delivery).toMatchObject({ ok: true, via: 'ws' });
  });

  it('refuses bad endpoint credentials with a code, as the gateway does', async () => {
    const res = await postJson(`${sandbox.url}/callback/ws/endpoint`, {
      AppID: app.appId,
      AppSecret: 'wrong',
    });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(514);
    const ok = await postJson(`${sandbox.url}/callback/ws/endpoint`, {
      AppID: app.appId,
      AppSecret: app.appSecret,
    });
    const url = String((ok.body.data as { URL: string }).URL);
    expect(url.indexOf('service_id')).toBeGreaterThan(url.indexOf('?') + 1);
    expect(ok.body.data).toMatchObject({
      ClientConfig: { PingInterval: 1, ReconnectCount: -1, ReconnectInterval: 0.2, ReconnectNonce: 0.1 },
    });
  });
});
