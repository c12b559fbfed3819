import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack, type StackOptions } from '../helpers/stack.ts';

interface Session {
  stack: Stack;
  browser: Browser;
}

/** A stack and a browser for the tests of one describe block. */
function startSession(options?: StackOptions): Session {
  const session = {} as Session;
  beforeAll(async () => {
    session.stack = await startStack(options);
    session.browser = await launchChromium();
  });
  afterAll(async () => {
    await session.browser?.close();
    await session.stack?.close();
  });
  return session;
}

/** The user's chat with the bot, after they DMed it "授权" and its card arrived. */
async function chatWithCard(
  { stack, browser }: Session,
  openId: string,
): Promise<{ context: BrowserContext; chat: Page }> {
  const context = await browser.newContext({ locale: 'en-US' });
  const chat = await context.newPage();
  await chat.goto(`${stack.sandbox.url}/chat/${openId}`);
  await chat.locator('#composer-input').fill('授权');
  await chat.locator('#composer-input').press('Enter');
  await chat.locator('.card-header', { hasText: '授权请求' }).waitFor();
  return { context, chat };
}

describe('a person authorizes in the browser', () => {
  const session = startSession();

  it('DMs the bot, clicks Authorize on the card, approves, and sees the same card turn authorized', async () => {
    const { stack } = session;
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const { context, chat } = await chatWithCard(session, openId);

    const [consent] = await Promise.all([
      context.waitForEvent('page'),
      chat.getByRole('link', { name: '授权', exact: true }).click(),
    ]);
    await consent.waitForLoadState();
    await consent.locator(`input[name="user"][value="user-2"]`).check();
    await Promise.all([
      consent.waitForURL((url) => url.pathname === '/oauth/callback'),
      consent.locator('#approve').click(),
    ]);
    await consent.locator('main[data-outcome="authorized"]').waitFor();
    expect(await consent.locator('h1').textContent()).toBe('Authorized');

    await chat.locator('.card-header', { hasText: '已授权' }).waitFor();
    expect(await chat.locator('.card-header', { hasText: '授权请求' }).count()).toBe(0);
    expect(stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive')).toHaveLength(
      1,
    );
    await context.close();
  });
});

describe('a person authorizes by the device flow (no public URL)', () => {
  const session = startSession({
    env: { FEISHU_AUTH_FLOW: 'device' },
    sandbox: { lifetimes: { deviceIntervalSeconds: 1 } },
  });

  it('DMs the bot, opens the link on the card, confirms the code shown there, and sees the same card turn authorized', async () => {
    const { stack } = session;
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const { context, chat } = await chatWithCard(session, openId);
    const cardCode = (await chat
      .locator('.card b', { hasText: /^[A-Z]{4}-[A-Z]{4}$/ })
      .first()
      .textContent())!;

    const [verify] = await Promise.all([
      context.waitForEvent('page'),
      chat.getByRole('link', { name: '授权', exact: true }).click(),
    ]);
    await verify.waitForLoadState();
    // The page shows the same code as the card: that is what the person checks before approving.
    expect((await verify.locator('.code').textContent())?.trim()).toBe(cardCode);
    await verify.locator('input[name="user"][value="user-2"]').check();
    await verify.locator('#approve').click();
    await verify.getByText('Authorized').first().waitFor();

    await chat.locator('.card-header', { hasText: '已授权' }).waitFor();
    await chat.locator('.person-chip').first().waitFor();
    expect(await chat.locator('.card-header', { hasText: '授权请求' }).count()).toBe(0);
    expect(stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive')).toHaveLength(
      1,
    );
    expect(
      (await stack.api(`/v1/authorizations/${openId}`).then((r) => r.json())) as { status: string },
    ).toMatchObject({
      status: 'authorized',
    });
    await context.close();
  });
});
