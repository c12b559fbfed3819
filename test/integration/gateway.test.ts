import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeishuApiError } from '../../lib/feishu/errors.ts';
import { FeishuGateway } from '../../lib/feishu/gateway.ts';
import { createLogger } from '../../lib/logger.ts';
import { startSandbox, type Sandbox } from '../../sandbox/index.ts';

async function failureOf(call: Promise<unknown>): Promise<FeishuApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof FeishuApiError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('Feishu gateway', () => {
  let sandbox: Sandbox;
  let gateway: FeishuGateway;
  const appId = `cli_${randomBytes(8).toString('hex')}`;
  beforeAll(async () => {
    const appSecret = randomBytes(16).toString('hex');
    sandbox = await startSandbox({ apps: [{ appId, appSecret, redirectUris: ['http://127.0.0.1:9/cb'] }] });
    gateway = new FeishuGateway(
      { appId, appSecret, domain: sandbox.url, oauthDomain: sandbox.url, tokenEndpoint: 'v3' },
      createLogger('test', 'silent'),
    );
  });
  afterAll(() => sandbox?.close());

  it('carries x-ogw-ratelimit-reset from a 429 of the token endpoint, which the SDK error drops', async () => {
    sandbox.faults.set({ rateLimitResetSeconds: 7 });
    sandbox.faults.failNext('rateLimit', { pathPrefix: '/oauth/v3/token' });
    const failure = await failureOf(gateway.refresh('r-not-a-real-token'));
    expect(failure.kind).toBe('rate_limited');
    expect(failure.retryAfterSeconds).toBe(7);
    // The next answer is Feishu's own verdict on the token, with no stale reset attached.
    const next = await failureOf(gateway.refresh('r-not-a-real-token'));
    expect(next.code).toBe(20026);
    expect(next.retryAfterSeconds).toBeUndefined();
  });

  it('carries it from a 429 of the messages API too, and never puts request data in the message', async () => {
    sandbox.faults.failNext('rateLimit', { pathPrefix: '/open-apis/im/v1/messages' });
    const openId = sandbox.openIdOf(appId, 0);
    const failure = await failureOf(
      gateway.sendCard(openId, { schema: '2.0', body: { elements: [] } }, 'u-1'),
    );
    expect(failure.retryAfterSeconds).toBe(7);
    expect(failure.message).toBe('Feishu im.message.create failed: HTTP 429, code 99991400 (rate_limited)');
  });
});
