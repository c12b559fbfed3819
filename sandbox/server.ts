import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { registerAppInfoRoute } from './app-info.ts';
import { registerAppTokenRoutes } from './app-tokens.ts';
import { registerChatRoutes } from './chats.ts';
import { registerChatView } from './chat-view/routes.ts';
import type { SandboxControl } from './control.ts';
import { openApi } from './errors.ts';
import { isApiPath } from './faults.ts';
import { errorMiddleware } from './http/respond.ts';
import { registerMessageRoutes } from './messages-api.ts';
import { registerOAuthRoutes } from './oauth/routes.ts';
import type { Runtime } from './runtime.ts';
import { registerSandboxApi } from './sandbox-api.ts';
import { registerUserInfoRoute } from './user-info.ts';
import { registerTaskRoutes } from './tasks-api.ts';

function buildApp(rt: Runtime, control: SandboxControl): Koa {
  const router = new Router();
  router.get('/healthz', (ctx) => void (ctx.body = { ok: true }));
  registerAppTokenRoutes(router, rt);
  registerOAuthRoutes(router, rt);
  registerUserInfoRoute(router, rt);
  registerTaskRoutes(router, rt);
  registerMessageRoutes(router, rt);
  registerChatRoutes(router, rt);
  registerAppInfoRoute(router, rt);
  rt.callbacks.ws.registerRoutes(router);
  registerSandboxApi(router, rt, control);
  registerChatView(router, rt);

  const app = new Koa();
  app.use(rt.counters.middleware());
  app.use(errorMiddleware(rt.logger));
  app.use(rt.faults.middleware());
  app.use(router.routes());
  app.use((ctx) => {
    // Unknown API paths answer like Feishu's gateway; anything else is a plain 404.
    if (ctx.body === undefined && isApiPath(ctx.path)) throw openApi.notFound();
  });
  app.on('error', (err: unknown) => rt.logger.debug({ err }, 'sandbox: koa error'));
  return app;
}

export async function listen(rt: Runtime, control: SandboxControl): Promise<{ server: Server; url: string }> {
  const server = createServer(buildApp(rt, control).callback());
  server.on('upgrade', (request, socket, head) => rt.callbacks.ws.handleUpgrade(request, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(rt.config.port, rt.config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = rt.config.host.includes(':') ? `[${rt.config.host}]` : rt.config.host;
  return { server, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}` };
}
