import { randomBytes } from 'node:crypto';
import * as lark from '@larksuiteoapi/node-sdk';
import { expect, vi } from 'vitest';
import {
  startSandbox,
  type Sandbox,
  type SandboxAppOptions,
  type SandboxOptions,
} from '../../sandbox/index.ts';

export const REDIRECT_URI = 'http://127.0.0.1:9/oauth/callback';

/** A fresh app id per sandbox: the SDK caches tenant tokens per app id for the whole process. */
export const newAppId = (): string => `cli_${randomBytes(8).toString('hex')}`;

export function testApp(overrides: Partial<SandboxAppOptions> = {}): SandboxAppOptions {
  return {
    appId: newAppId(),
    appSecret: randomBytes(16).toString('hex'),
    redirectUris: [REDIRECT_URI],
    ...overrides,
  };
}

export async function start(app: SandboxAppOptions, options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return startSandbox({ apps: [app], ...options });
}

/** The SDK logs every failed token request with the whole Axios error; the tests expect failures. */
export const silentLogger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
};

export const sdkClient = (sandbox: Sandbox, app: SandboxAppOptions): lark.Client =>
  new lark.Client({
    appId: app.appId,
    appSecret: app.appSecret,
    domain: sandbox.url,
    oauthBaseUrl: sandbox.url,
    loggerLevel: lark.LoggerLevel.fatal,
    logger: silentLogger,
  });

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: response.status, headers: response.headers, body: json };
}

export const card = (title: string, buttons: unknown[] = []) => ({
  schema: '2.0',
  config: { update_multi: true },
  header: { title: { tag: 'plain_text', content: title }, template: 'blue' },
  body: { elements: [{ tag: 'markdown', content: `**${title}**` }, ...buttons] },
});

export const linkButton = (text: string, url: string) => ({
  tag: 'button',
  text: { tag: 'plain_text', content: text },
  type: 'primary_filled',
  behaviors: [{ type: 'open_url', default_url: url }],
});

export const callbackButton = (text: string, value: Record<string, unknown>) => ({
  tag: 'button',
  text: { tag: 'plain_text', content: text },
  type: 'default',
  behaviors: [{ type: 'callback', value }],
});

/** An authorize URL the way the service builds it. */
export function authorizeUrl(sandbox: Sandbox, appId: string, params: Record<string, string> = {}): string {
  const url = new URL('/open-apis/authen/v1/authorize', sandbox.url);
  url.search = new URLSearchParams({
    client_id: appId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'offline_access contact:user.base:readonly',
    state: 'st-1',
    ...params,
  }).toString();
  return url.toString();
}

export const codeOf = (redirect: string): string => new URL(redirect).searchParams.get('code')!;

/** The real SDK long-connection client, connected to the sandbox with these handlers. */
export async function connectWsClient<T extends object>(
  sandbox: Sandbox,
  app: SandboxAppOptions,
  handlers: T,
): Promise<lark.WSClient> {
  const wsClient = new lark.WSClient({
    appId: app.appId,
    appSecret: app.appSecret,
    domain: sandbox.url,
    logger: silentLogger,
    loggerLevel: lark.LoggerLevel.fatal,
  });
  await wsClient.start({
    eventDispatcher: new lark.EventDispatcher({
      logger: silentLogger,
      loggerLevel: lark.LoggerLevel.fatal,
    }).register(handlers),
  });
  await vi.waitFor(() => expect(sandbox.state.connections()).toHaveLength(1), { timeout: 5000 });
  return wsClient;
}
