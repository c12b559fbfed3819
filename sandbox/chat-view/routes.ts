import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { openIdFor } from '../config.ts';
import { USER_COOKIE } from '../oauth/routes.ts';
import type { Runtime } from '../runtime.ts';
import { chatPage } from './page.ts';

export function registerChatView(router: Router, rt: Runtime): void {
  const render = (ctx: Context, openId: string | undefined) => {
    const requested = typeof ctx.query.app_id === 'string' ? rt.store.app(ctx.query.app_id) : undefined;
    const app = requested ?? rt.config.apps[0]!;
    const users = rt.config.users.map((user) => ({ user, openId: openIdFor(app.appId, user) }));
    const current = users.find((u) => u.openId === openId) ?? users[0];
    if (!current) return void (ctx.body = 'The sandbox has no users.');
    // Whoever this browser chats as is also who the consent page preselects, like a logged-in Feishu client.
    ctx.cookies.set(USER_COOKIE, current.user.key, { httpOnly: true, sameSite: 'lax', overwrite: true });
    ctx.type = 'html';
    ctx.body = chatPage({ app, users, current });
  };
  router.get('/', (ctx) => render(ctx, undefined));
  router.get('/chat/:openId', (ctx) => render(ctx, ctx.params.openId));

  router.get('/__sandbox/stream', (ctx) => {
    const appId = typeof ctx.query.app_id === 'string' ? ctx.query.app_id : undefined;
    const stream = new PassThrough();
    ctx.req.socket.setTimeout(0);
    ctx.set({ 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    ctx.type = 'text/event-stream';
    ctx.body = stream;
    stream.write(': connected\n\n');
    const unsubscribe = rt.store.subscribe((event) => {
      if (appId && event.appId !== appId) return;
      const data = {
        messageId: event.messageId,
        appId: event.appId,
        openId: rt.store.openId(event.appId, event.userKey),
      };
      stream.write(`data: ${JSON.stringify(data)}\n\n`);
    });
    ctx.req.on('close', () => {
      unsubscribe();
      stream.end();
    });
  });
}
