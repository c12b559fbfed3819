import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as lark from '@larksuiteoapi/node-sdk';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Sandbox } from '../../sandbox/index.ts';
import { buildCard, type CardView } from '../../lib/cards/build.ts';
import { callbackButton, card, connectWsClient, linkButton, sdkClient, start, testApp } from './helpers.ts';

describe('chat view in headless Chromium', () => {
  let browser: Browser;
  let landing: Server;
  let redirectUri: string;
  let sandbox: Sandbox;
  let wsClient: lark.WSClient;
  const app = testApp();
  const dms: string[] = [];

  beforeAll(async () => {
    // Stands in for the service's /oauth/callback page.
    landing = createServer((_req, res) => res.end('<html><body><h1>Landed</h1></body></html>'));
    await new Promise<void>((resolve) => landing.listen(0, '127.0.0.1', resolve));
    redirectUri = `http://127.0.0.1:${(landing.address() as AddressInfo).port}/oauth/callback`;
    app.redirectUris = [redirectUri];
    sandbox = await start(app, {
      rateLimits: false,
      wsClientConfig: { ReconnectInterval: 0.2, ReconnectNonce: 0.1 },
    });
    wsClient = await connectWsClient(sandbox, app, {
      'im.message.receive_v1': (data: { message: { content: string } }) =>
        void dms.push(data.message.content),
      'card.action.trigger': () => ({ toast: { type: 'success', content: '已取消 Cancelled' } }),
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    wsClient?.close({ force: true });
    await sandbox?.close();
    await new Promise<void>((resolve) => landing.close(() => resolve()));
  });

  it('shows the card, authorizes through the consent page, then shows the patched card live', async () => {
    const openId = sandbox.openIdOf(app.appId, '李四');
    const client = sdkClient(sandbox, app);
    const authorize = new URL('/open-apis/authen/v1/authorize', sandbox.url);
    authorize.search = new URLSearchParams({
      client_id: app.appId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'offline_access',
      state: 'state-42',
    }).toString();
    const sent = await client.im.message.create({
      params: { receive_id_type: 'open_id' },
      data: {
        receive_id: openId,
        msg_type: 'interactive',
        content: JSON.stringify(
          card('请授权 Authorize', [
            linkButton('Authorize', authorize.toString()),
            callbackButton('Cancel', { action: 'cancel' }),
          ]),
        ),
      },
    });
    const messageId = sent.data!.message_id!;

    const context = await browser.newContext();
    const chat = await context.newPage();
    await chat.goto(`${sandbox.url}/chat/${openId}`);
    await chat.locator('.card-header', { hasText: '请授权 Authorize' }).waitFor();

    const [consent] = await Promise.all([
      context.waitForEvent('page'),
      chat.getByRole('link', { name: 'Authorize' }).click(),
    ]);
    await consent.waitForLoadState();
    // The chat view's user is preselected on the consent page.
    expect(await consent.locator('input[name="user"]:checked').getAttribute('value')).toBe('user-2');
    await Promise.all([
      consent.waitForURL((url) => url.pathname === '/oauth/callback'),
      consent.locator('#approve').click(),
    ]);
    const landed = new URL(consent.url());
    expect(landed.searchParams.get('state')).toBe('state-42');
    const code = landed.searchParams.get('code')!;
    await consent.getByText('Landed').waitFor();

    const tokens = await client.accessToken.retrieveByAuthorizationCode({ code, redirectUri });
    const me = await client.authen.v1.userInfo.get({}, lark.withUserAccessToken(tokens.accessToken));
    await client.im.message.patch({
      path: { message_id: messageId },
      data: { content: JSON.stringify(card(`已授权 Authorized as ${me.data!.name!}`)) },
    });
    await chat.locator('.card-header', { hasText: '已授权 Authorized as 李四' }).waitFor();
    expect(await chat.locator('.card-header', { hasText: '请授权 Authorize' }).count()).toBe(0);
    await context.close();
  });

  it('delivers a callback button click and shows the toast; the composer sends a DM', async () => {
    const openId = sandbox.openIdOf(app.appId, '张三');
    await sdkClient(sandbox, app).im.message.create({
      params: { receive_id_type: 'open_id' },
      data: {
        receive_id: openId,
        msg_type: 'interactive',
        content: JSON.stringify(card('Pending', [callbackButton('Cancel', { action: 'cancel' })])),
      },
    });
    const page = await browser.newPage();
    await page.goto(`${sandbox.url}/chat/${openId}`);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('已取消 Cancelled').waitFor();
    await page.locator('#composer-input').fill('授权');
    await page.locator('#composer-input').press('Enter');
    await page.locator('.row.mine').getByText('授权').waitFor();
    await vi.waitFor(() => expect(dms).toContain(JSON.stringify({ text: '授权' })));
    await page.close();
  });

  it("renders every card the service sends as Feishu does: no raw markup, dates in the reader's zone, people as name chips", async () => {
    const openId = sandbox.openIdOf(app.appId, '王五');
    const expiresAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    const base = { openId, attemptId: 'a-1' };
    const pending: Extract<CardView, { state: 'pending' }> = {
      ...base,
      state: 'pending',
      authorizeUrl: `${sandbox.url}/open-apis/authen/v1/authorize`,
      scopes: ['offline_access', 'im:message'],
      expiresAt,
    };
    const views: CardView[] = [
      pending,
      { ...pending, notice: 'reauth' },
      {
        ...pending,
        device: { userCode: 'BCDF-GHJK', verificationUri: `${sandbox.url}/oauth/v1/device/verify` },
      },
      { ...base, state: 'authorized', userName: '王五', scopes: ['offline_access', 'im:message'] },
      { ...base, state: 'failed', reason: 'feishu_unavailable' },
      ...(['denied', 'expired', 'cancelled', 'superseded', 'revoked', 'identity_mismatch'] as const).map(
        (state) => ({ ...base, state }),
      ),
    ];
    const client = sdkClient(sandbox, app);
    for (const view of views) {
      await client.im.message.create({
        params: { receive_id_type: 'open_id' },
        data: { receive_id: openId, msg_type: 'interactive', content: JSON.stringify(buildCard(view)) },
      });
    }

    const timezoneId = 'America/Los_Angeles';
    const context = await browser.newContext({ timezoneId, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${sandbox.url}/chat/${openId}`);
    await vi.waitFor(async () => expect(await page.locator('.card').count()).toBe(views.length));
    const text = await page.locator('#messages').innerText();
    const html = await page.locator('#messages').innerHTML();

    for (const raw of ['<local_datetime', '<person', '<at ', '[person]', '**', '](', '&lt;', '&amp;#']) {
      expect(text, `raw markup ${raw} in the chat view`).not.toContain(raw);
    }
    expect(await page.locator('.card .unknown').count(), 'an element the chat view cannot draw').toBe(0);
    // The expiry in the reader's time zone (Los Angeles: 2030-01-01 19:04), as date_num and time.
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: timezoneId,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      })
        .formatToParts(new Date(expiresAt))
        .map((p) => [p.type, p.value]),
    );
    expect(text).toContain(`${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`);
    const chip = page.locator('.person-chip', { hasText: '王五' });
    expect(await chip.count()).toBe(1);
    expect(await chip.locator('img').count()).toBe(1);
    expect(html).toContain('<li>');
    expect(text).toContain('BCDF-GHJK');
    await context.close();
  });
});
