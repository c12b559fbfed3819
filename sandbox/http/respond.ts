import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { AuthorizePageError, OAuthError, OpenApiError, oauth, openApi } from '../errors.ts';
import { randomHex } from '../ids.ts';
import { errorPage } from '../oauth/pages.ts';

export function ok(ctx: Context, data: unknown): void {
  ctx.body = { code: 0, msg: 'success', data };
}

const isOAuthPath = (path: string): boolean =>
  path.startsWith('/oauth/') || path === '/open-apis/authen/v2/oauth/token';

function sendOpenApiError(ctx: Context, error: OpenApiError): void {
  ctx.status = error.status;
  ctx.set(error.headers);
  ctx.body = error.body(String(ctx.state.logId));
}

export function sendOAuthError(ctx: Context, error: OAuthError): void {
  ctx.status = error.status;
  ctx.body = error.body();
}

/**
 * Every failure becomes the documented Feishu answer for the endpoint it happened on; anything
 * unexpected is logged and reported as Feishu's own server error, so no input can crash the sandbox.
 */
export const errorMiddleware =
  (logger: Logger) =>
  async (ctx: Context, next: Next): Promise<void> => {
    ctx.state.logId = `${Date.now()}${randomHex(10)}`;
    ctx.set('X-Tt-Logid', String(ctx.state.logId));
    try {
      await next();
    } catch (error) {
      if (error instanceof OpenApiError) return sendOpenApiError(ctx, error);
      if (error instanceof OAuthError) return sendOAuthError(ctx, error);
      if (error instanceof AuthorizePageError) {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = errorPage(error.code, error.message);
        return;
      }
      logger.error({ err: error, path: ctx.path }, 'sandbox: unexpected error');
      if (isOAuthPath(ctx.path)) return sendOAuthError(ctx, oauth.serverError());
      sendOpenApiError(ctx, openApi.internal());
    }
  };
