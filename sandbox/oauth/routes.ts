import type Router from '@koa/router';
import type { Context } from 'koa';
import { AuthorizePageError, oauth } from '../errors.ts';
import { paramsBody } from '../http/body.ts';
import type { Runtime } from '../runtime.ts';
import { approve, deny, parseAuthorizeRequest } from './authorize.ts';
import { authenticateClient } from './client-auth.ts';
import { DEVICE_VERIFY_PATH, decideDevice, findByUserCode, startDeviceAuthorization } from './device.ts';
import { consentPage, donePage, errorPage, userCodePage } from './pages.ts';
import { tokenEndpoint } from './token-endpoint.ts';

export const AUTHORIZE_PATH = '/open-apis/authen/v1/authorize';
/** The chat view sets it, standing for "the person logged in to Feishu in this browser". */
export const USER_COOKIE = 'lark_sandbox_user';

const html = (ctx: Context, body: string, status = 200): void => {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = body;
};

async function formFields(ctx: Context): Promise<Record<string, string>> {
  const fields = await paramsBody(ctx);
  if (!fields) throw new AuthorizePageError(20063, 'The form could not be read.');
  return fields;
}

/** Resolves the open_id an in-process caller names to a user, as the consent page's picker would. */
function pickUser(rt: Runtime, appId: string, openId: string) {
  const user = rt.store.userByOpenId(appId, openId);
  if (!user) throw new Error(`sandbox: no user with open_id ${openId} in app ${appId}`);
  return user;
}

const queryOf = (url: string): URLSearchParams => new URL(url, 'http://sandbox.invalid').searchParams;

/** In-process consent: the redirect URL a browser would be sent to after "Authorize". */
export function approveAuthorization(rt: Runtime, authorizeUrl: string, openId: string): string {
  const request = parseAuthorizeRequest(rt.store, queryOf(authorizeUrl));
  return approve(rt.store, request, pickUser(rt, request.app.appId, openId));
}

export function denyAuthorization(rt: Runtime, authorizeUrl: string): string {
  return deny(parseAuthorizeRequest(rt.store, queryOf(authorizeUrl)));
}

function pendingDevice(rt: Runtime, userCode: string) {
  const request = findByUserCode(rt.store, userCode);
  if (!request) throw new Error(`sandbox: no pending device request with user_code ${userCode}`);
  return request;
}

export function approveDevice(rt: Runtime, userCode: string, openId: string | undefined): void {
  const request = pendingDevice(rt, userCode);
  decideDevice(rt.store, request, openId === undefined ? undefined : pickUser(rt, request.appId, openId));
}

/** The device code dies now: its next poll answers expired_token. */
export function expireDevice(rt: Runtime, userCode: string): void {
  pendingDevice(rt, userCode).expiresAt = Date.now();
}

/**
 * Feishu asks for slower polling (under load, say): the interval it enforces grows by `seconds`,
 * so the next poll at the advertised interval answers slow_down.
 */
export function slowDownDevice(rt: Runtime, userCode: string, seconds: number): void {
  pendingDevice(rt, userCode).intervalSeconds += seconds;
}

export function registerOAuthRoutes(router: Router, rt: Runtime): void {
  router.get(AUTHORIZE_PATH, (ctx) => {
    const params = new URLSearchParams(ctx.querystring);
    const request = parseAuthorizeRequest(rt.store, params);
    html(
      ctx,
      consentPage({
        app: request.app,
        scopes: request.scopes,
        users: rt.config.users,
        selectedUserKey: ctx.cookies.get(USER_COOKIE),
        action: AUTHORIZE_PATH,
        hidden: Object.fromEntries(params),
      }),
    );
  });

  router.post(AUTHORIZE_PATH, async (ctx) => {
    const { user: userKey, decision, ...rest } = await formFields(ctx);
    const request = parseAuthorizeRequest(rt.store, new URLSearchParams(rest));
    const user = userKey === undefined ? undefined : rt.store.user(userKey);
    if (decision === 'approve' && !user) throw new AuthorizePageError(20008, 'Pick a user to continue.');
    ctx.redirect(decision === 'approve' && user ? approve(rt.store, request, user) : deny(request));
  });

  router.post('/oauth/v3/token', tokenEndpoint(rt, 'v3'));
  router.post('/open-apis/authen/v2/oauth/token', tokenEndpoint(rt, 'v2'));

  router.post('/oauth/v1/device_authorization', async (ctx) => {
    const params = await paramsBody(ctx);
    if (!params) throw oauth.malformed('the body is neither a JSON object nor a form');
    const app = authenticateClient(rt.store, ctx, params);
    ctx.body = startDeviceAuthorization(rt.store, app, params.scope, rt.baseUrl);
  });

  router.get(DEVICE_VERIFY_PATH, (ctx) => {
    const code = typeof ctx.query.user_code === 'string' ? ctx.query.user_code : '';
    if (!code) return html(ctx, userCodePage(DEVICE_VERIFY_PATH));
    const request = findByUserCode(rt.store, code);
    if (!request) return html(ctx, errorPage(20003, 'The code is unknown or has expired.'), 400);
    html(
      ctx,
      consentPage({
        app: rt.store.app(request.appId)!,
        scopes: request.scopes,
        users: rt.config.users,
        selectedUserKey: ctx.cookies.get(USER_COOKIE),
        action: DEVICE_VERIFY_PATH,
        hidden: { user_code: request.userCode },
        userCode: request.userCode,
      }),
    );
  });

  router.post(DEVICE_VERIFY_PATH, async (ctx) => {
    const fields = await formFields(ctx);
    const request = findByUserCode(rt.store, fields.user_code ?? '');
    if (!request) return html(ctx, errorPage(20003, 'The code is unknown or has expired.'), 400);
    const user = fields.decision === 'approve' && fields.user ? rt.store.user(fields.user) : undefined;
    decideDevice(rt.store, request, user);
    html(
      ctx,
      user
        ? donePage('授权成功 · Authorized', 'Return to your device.')
        : donePage('已拒绝 · Denied', 'The device was not authorized.'),
    );
  });
}
