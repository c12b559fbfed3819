import type Router from '@koa/router';
import { bearerToken } from './app-tokens.ts';
import { avatarUrls } from './avatars.ts';
import { openIdFor, type User } from './config.ts';
import { ok } from './http/respond.ts';
import { checkUserAccessToken } from './oauth/grants.ts';
import type { Runtime } from './runtime.ts';

/** Optional fields appear only with the scope Feishu ties them to. */
const SCOPED_FIELDS: Array<[scope: string, fields: (u: User) => Record<string, string | undefined>]> = [
  ['contact:user.email:readonly', (u) => ({ email: u.email, enterprise_email: u.email })],
  ['contact:user.phone:readonly', (u) => ({ mobile: u.mobile })],
  ['contact:user.employee_id:readonly', (u) => ({ user_id: u.userId, employee_no: u.employeeNo })],
];

export function registerUserInfoRoute(router: Router, rt: Runtime): void {
  router.get('/open-apis/authen/v1/user_info', (ctx) => {
    const { app, user, token } = checkUserAccessToken(rt.store, bearerToken(ctx));
    const data: Record<string, string | undefined> = {
      name: user.name,
      en_name: user.enName,
      ...avatarUrls(rt.baseUrl, user),
      open_id: openIdFor(app.appId, user),
      union_id: user.unionId,
      tenant_key: rt.config.tenantKey,
    };
    for (const [scope, fields] of SCOPED_FIELDS)
      if (token.scopes.includes(scope)) Object.assign(data, fields(user));
    ok(ctx, JSON.parse(JSON.stringify(data)));
  });
}
