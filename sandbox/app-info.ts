import type Router from '@koa/router';
import { requireTenantToken } from './app-tokens.ts';
import { OpenApiError, openApi } from './errors.ts';
import { ok } from './http/respond.ts';
import type { Runtime } from './runtime.ts';

/** Either lets an app read its own settings through the application API. */
export const APP_INFO_SCOPES = ['admin:app.info:readonly', 'application:application:self_manage'];

const appLacksScope = () =>
  new OpenApiError(
    400,
    99991672,
    `Access denied. One of the following scopes is required: [${APP_INFO_SCOPES.join(', ')}].`,
  );

/** GET /open-apis/application/v6/applications/:app_id: the app's own settings, its enabled scopes among them. */
export function registerAppInfoRoute(router: Router, rt: Runtime): void {
  router.get('/open-apis/application/v6/applications/:app_id', (ctx) => {
    const app = requireTenantToken(rt, ctx);
    if (typeof ctx.query.lang !== 'string')
      throw openApi.fieldValidation('lang', 'lang is required (zh_cn, en_us or ja_jp)');
    if (ctx.params.app_id !== app.appId) throw appLacksScope();
    if (!APP_INFO_SCOPES.some((scope) => app.tenantScopes.has(scope))) throw appLacksScope();
    ok(ctx, {
      app: {
        app_id: app.appId,
        app_name: app.name,
        status: app.status === 'active' ? 1 : 0,
        scopes: [
          ...[...app.scopes].map((scope) => ({ scope, level: 1, token_types: ['user'] })),
          ...[...app.tenantScopes].map((scope) => ({ scope, level: 1, token_types: ['tenant'] })),
        ],
      },
    });
  });
}
