import type Router from '@koa/router';
import type { Context } from 'koa';
import type { App } from './config.ts';
import { OpenApiError, openApi } from './errors.ts';
import { jsonBody } from './http/body.ts';
import { randomHex } from './ids.ts';
import type { Runtime } from './runtime.ts';
import type { TenantToken } from './store.ts';

const REISSUE_BELOW_MS = 30 * 60 * 1000;

function authenticateApp(rt: Runtime, body: Record<string, unknown> | undefined): App {
  const appId = body?.app_id;
  const secret = body?.app_secret;
  if (typeof appId !== 'string' || typeof secret !== 'string' || !appId || !secret) {
    throw new OpenApiError(400, 10003, 'invalid param');
  }
  const app = rt.store.app(appId);
  if (!app) throw new OpenApiError(400, 10003, 'invalid param: app_id not found');
  if (secret !== app.appSecret) throw new OpenApiError(400, 10014, 'app secret invalid');
  return app;
}

/** Feishu hands out the current token until it has under 30 minutes left; the old one keeps working after. */
function currentToken(rt: Runtime, tokens: Map<string, TenantToken>, app: App, prefix: string): TenantToken {
  const now = Date.now();
  let latest: TenantToken | undefined;
  for (const token of tokens.values()) {
    if (token.appId === app.appId && (!latest || token.issuedAt > latest.issuedAt)) latest = token;
  }
  if (latest && latest.expiresAt - now >= REISSUE_BELOW_MS) return latest;
  const token: TenantToken = {
    token: `${prefix}-${randomHex(20)}`,
    appId: app.appId,
    issuedAt: now,
    expiresAt: now + rt.config.lifetimes.tenantTokenSeconds * 1000,
  };
  tokens.set(token.token, token);
  return token;
}

const expireIn = (token: TenantToken): number =>
  Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000));

export function registerAppTokenRoutes(router: Router, rt: Runtime): void {
  router.post('/open-apis/auth/v3/tenant_access_token/internal', async (ctx) => {
    const app = authenticateApp(rt, await jsonBody(ctx));
    const token = currentToken(rt, rt.store.tenantTokens, app, 't');
    ctx.body = { code: 0, msg: 'ok', tenant_access_token: token.token, expire: expireIn(token) };
  });
  router.post('/open-apis/auth/v3/app_access_token/internal', async (ctx) => {
    const app = authenticateApp(rt, await jsonBody(ctx));
    const appToken = currentToken(rt, rt.store.appAccessTokens, app, 'a');
    const tenant = currentToken(rt, rt.store.tenantTokens, app, 't');
    ctx.body = {
      code: 0,
      msg: 'ok',
      app_access_token: appToken.token,
      tenant_access_token: tenant.token,
      expire: expireIn(appToken),
    };
  });
}

/** `Authorization: Bearer <token>`: missing → 99991661, anything else malformed → 99991671. */
export function bearerToken(ctx: Context): string {
  const header = ctx.get('authorization').trim();
  if (!header) throw openApi.missingToken();
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw openApi.badTokenFormat();
  return match[1]!;
}

/** The app behind a tenant_access_token; unknown or expired → 99991663. */
export function requireTenantToken(rt: Runtime, ctx: Context): App {
  const value = bearerToken(ctx);
  const token = rt.store.tenantTokens.get(value) ?? rt.store.appAccessTokens.get(value);
  if (!token || Date.now() >= token.expiresAt) throw openApi.invalidTenantToken();
  return rt.store.app(token.appId)!;
}
