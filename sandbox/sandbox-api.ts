import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { avatarSvg } from './avatars.ts';
import type { SandboxControl } from './control.ts';
import { AuthorizePageError } from './errors.ts';
import { jsonBody } from './http/body.ts';
import type { Runtime } from './runtime.ts';

export const SANDBOX_PREFIX = '/__sandbox';

const faultSettings = z
  .object({
    latencyMs: z.number().min(0),
    http5xxRate: z.number().min(0).max(1),
    serverErrorRate: z.number().min(0).max(1),
    unavailableRate: z.number().min(0).max(1),
    lostRefreshAnswerRate: z.number().min(0).max(1),
    rateLimitRate: z.number().min(0).max(1),
    rateLimitResetSeconds: z.number().int().min(0),
    pathPrefix: z.string().optional(),
    cardFrameType: z.enum(['event', 'card']),
    wsFragments: z.number().int().min(1).max(64),
  })
  .partial();
const failNext = z.object({
  kind: z.enum(['http5xx', 'serverError', 'unavailable', 'rateLimit']),
  count: z.number().int().min(1).optional(),
  pathPrefix: z.string().optional(),
});
const expire = z.object({
  app_id: z.string().optional(),
  open_id: z.string().optional(),
  kinds: z.array(z.enum(['tenant', 'access', 'refresh'])).optional(),
});
const appUser = z.object({ app_id: z.string().optional(), open_id: z.string() });
const click = z.object({
  button: z.union([z.number().int().min(0), z.string(), z.record(z.string(), z.unknown())]),
  operator_open_id: z.string().optional(),
});

/** Sandbox-only inputs are checked too: a bad request gets a 400 with the reason, never a 500. */
async function input<T>(ctx: Context, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse((await jsonBody(ctx)) ?? {});
  if (!parsed.success) throw new Error(`sandbox: bad request: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

const query = (ctx: Context, name: string): string | undefined =>
  typeof ctx.query[name] === 'string' ? ctx.query[name] : undefined;

/** JSON inspection and control API; the chat view uses it too. */
export function registerSandboxApi(router: Router, rt: Runtime, control: SandboxControl): void {
  const defaultApp = rt.config.apps[0]!.appId;
  const { state } = control;
  const api = (path: string) => `${SANDBOX_PREFIX}${path}`;
  const sandboxErrors = async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof AuthorizePageError) {
        ctx.status = 400;
        ctx.body = { error: err.message, code: err.code };
        return;
      }
      if (!(err instanceof Error) || !err.message.startsWith('sandbox:')) throw err;
      ctx.status = 400;
      ctx.body = { error: err.message };
    }
  };
  router.use(SANDBOX_PREFIX, sandboxErrors);

  router.get(api('/state'), (ctx) => {
    ctx.body = {
      apps: state.apps(),
      users: state.users(query(ctx, 'app_id') ?? defaultApp),
      messages: state.messages(),
      grants: state.grants(),
      tokenEvents: state.tokenEvents(),
      deliveries: state.deliveries(),
      counters: state.counters(),
      faults: state.faults(),
      connections: state.connections(),
    };
  });
  router.get(api('/apps'), (ctx) => void (ctx.body = state.apps()));
  router.get(api('/users'), (ctx) => void (ctx.body = state.users(query(ctx, 'app_id') ?? defaultApp)));
  router.get(api('/messages'), (ctx) => {
    ctx.body = state.messages({ appId: query(ctx, 'app_id'), openId: query(ctx, 'open_id') });
  });
  router.get(api('/messages/:id'), (ctx) => {
    const message = state.message(ctx.params.id!);
    if (!message) throw new Error(`sandbox: no message ${ctx.params.id}`);
    ctx.body = message;
  });
  router.get(api('/grants'), (ctx) => void (ctx.body = state.grants()));
  router.get(api('/token-events'), (ctx) => void (ctx.body = state.tokenEvents()));
  router.get(api('/deliveries'), (ctx) => void (ctx.body = state.deliveries()));
  router.get(api('/counters'), (ctx) => void (ctx.body = state.counters()));
  router.get(api('/connections'), (ctx) => void (ctx.body = state.connections()));

  router.get(api('/faults'), (ctx) => void (ctx.body = state.faults()));
  router.put(api('/faults'), async (ctx) => {
    control.faults.set(await input(ctx, faultSettings));
    ctx.body = state.faults();
  });
  router.delete(api('/faults'), (ctx) => {
    control.faults.reset();
    ctx.body = state.faults();
  });
  router.post(api('/faults/fail-next'), async (ctx) => {
    const { kind, ...options } = await input(ctx, failNext);
    control.faults.failNext(kind, options);
    ctx.body = state.faults();
  });

  router.post(api('/tokens/expire'), async (ctx) => {
    const { app_id, open_id, kinds } = await input(ctx, expire);
    ctx.body = { expired: control.expireTokens({ appId: app_id, openId: open_id, kinds }) };
  });
  router.post(api('/grants/revoke'), async (ctx) => {
    const { app_id, open_id } = await input(ctx, appUser);
    ctx.body = { revoked: control.revokeGrant(app_id ?? defaultApp, open_id) };
  });
  router.post(api('/users/status'), async (ctx) => {
    const { app_id, open_id, status } = await input(
      ctx,
      appUser.extend({ status: z.enum(['active', 'deleted', 'inactive', 'no_permission']) }),
    );
    control.setUserStatus(app_id ?? defaultApp, open_id, status);
    ctx.body = state.users(app_id ?? defaultApp);
  });
  router.patch(api('/apps/:appId'), async (ctx) => {
    const patch = await input(
      ctx,
      z.object({
        status: z.enum(['active', 'disabled', 'not_installed']).optional(),
        refreshEnabled: z.boolean().optional(),
        scopes: z.array(z.string()).optional(),
        tenantScopes: z.array(z.string()).optional(),
      }),
    );
    control.updateApp(ctx.params.appId!, patch);
    ctx.body = state.apps();
  });
  router.post(api('/chats'), async (ctx) => {
    const options = await input(
      ctx,
      z.object({
        chat_id: z.string().optional(),
        name: z.string().optional(),
        app_id: z.string().optional(),
        members: z.array(z.union([z.string(), z.number().int().min(0)])),
      }),
    );
    ctx.body = {
      chat_id: control.createChat({
        chatId: options.chat_id,
        name: options.name,
        appId: options.app_id,
        members: options.members,
      }),
    };
  });
  router.post(api('/ws/drop'), async (ctx) => {
    const { app_id } = await input(ctx, z.object({ app_id: z.string().optional() }));
    ctx.body = { dropped: control.dropWsConnections(app_id) };
  });
  router.post(api('/apps/:appId/verify-url'), async (ctx) => {
    ctx.body = await control.verifyCallbackUrl(ctx.params.appId!);
  });

  router.post(api('/users/:openId/messages'), async (ctx) => {
    const { app_id, text } = await input(
      ctx,
      z.object({ app_id: z.string().optional(), text: z.string().min(1) }),
    );
    ctx.body = await control.sendUserMessage(app_id ?? defaultApp, ctx.params.openId!, text);
  });
  router.post(api('/messages/:id/click'), async (ctx) => {
    const { button, operator_open_id } = await input(ctx, click);
    ctx.body = await control.clickCardButton(ctx.params.id!, button, operator_open_id);
  });
  router.post(api('/authorize/approve'), async (ctx) => {
    const { url, open_id } = await input(ctx, z.object({ url: z.string(), open_id: z.string() }));
    ctx.body = { redirect: control.approveAuthorization(url, open_id) };
  });
  router.post(api('/authorize/deny'), async (ctx) => {
    const { url } = await input(ctx, z.object({ url: z.string() }));
    ctx.body = { redirect: control.denyAuthorization(url) };
  });
  router.post(api('/device/approve'), async (ctx) => {
    const { user_code, open_id } = await input(ctx, z.object({ user_code: z.string(), open_id: z.string() }));
    control.approveDevice(user_code, open_id);
    ctx.body = { ok: true };
  });
  router.post(api('/device/deny'), async (ctx) => {
    const { user_code } = await input(ctx, z.object({ user_code: z.string() }));
    control.denyDevice(user_code);
    ctx.body = { ok: true };
  });
  router.post(api('/device/expire'), async (ctx) => {
    const { user_code } = await input(ctx, z.object({ user_code: z.string() }));
    control.expireDevice(user_code);
    ctx.body = { ok: true };
  });
  router.post(api('/device/slow-down'), async (ctx) => {
    const body = z.object({ user_code: z.string(), seconds: z.number().int().min(1).max(600) });
    const { user_code, seconds } = await input(ctx, body);
    control.slowDownDevice(user_code, seconds);
    ctx.body = { ok: true };
  });

  router.get(api('/avatars/:file'), (ctx) => {
    const user = rt.store.user(decodeURIComponent(ctx.params.file!.replace(/\.svg$/, '')));
    if (!user) return void (ctx.status = 404);
    ctx.type = 'image/svg+xml';
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = avatarSvg(user);
  });
}
