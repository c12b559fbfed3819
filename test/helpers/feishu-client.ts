import * as lark from '@larksuiteoapi/node-sdk';
import type { Stack } from './stack.ts';

/** The official SDK as the stack's app, for tests that act outside the service (a leaked code, a stolen token). */
export function appClient(stack: Stack): lark.Client {
  return new lark.Client({
    appId: stack.appId,
    appSecret: stack.config.FEISHU_APP_SECRET!,
    domain: stack.sandbox.url,
    oauthBaseUrl: stack.sandbox.url,
    loggerLevel: lark.LoggerLevel.error,
  });
}
