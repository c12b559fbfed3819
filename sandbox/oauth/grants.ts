import type { App, User } from '../config.ts';
import { oauth, openApi } from '../errors.ts';
import { jwtLikeToken, randomHex } from '../ids.ts';
import type { Authorization, RefreshToken, Store, UserToken } from '../store.ts';

export interface TokenResponse {
  code: 0;
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  scope: string;
  token_type: 'Bearer';
}

const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** The user's and the app's state as the token endpoint checks them, in Feishu's order. */
export function assertCanIssue(app: App, user: User | undefined): User {
  if (app.status === 'not_installed') throw oauth.appNotInstalled();
  if (app.status === 'disabled') throw oauth.appDisabled();
  if (!user || user.status === 'deleted') throw oauth.userMissing();
  if (user.status === 'inactive') throw oauth.userInvalidStatus();
  if (user.status === 'no_permission') throw oauth.noAppPermission();
  return user;
}

/** The optional `scope` parameter narrows a grant; it can never widen it. */
export function narrowScopes(granted: string[], requested: string | undefined): string[] {
  if (requested === undefined || requested.trim() === '') return granted;
  const scopes = requested.split(/\s+/).filter(Boolean);
  if (new Set(scopes).size !== scopes.length) throw oauth.duplicateScope();
  const missing = scopes.find((s) => !granted.includes(s));
  if (missing !== undefined) throw oauth.scopeNotGranted(missing);
  return scopes;
}

const canRefresh = (app: App, scopes: string[]): boolean =>
  app.refreshEnabled && app.scopes.has('offline_access') && scopes.includes('offline_access');

function issue(store: Store, app: App, authorization: Authorization, scopes: string[]): TokenResponse {
  const { lifetimes } = store.config;
  const now = Date.now();
  const openId = store.openId(app.appId, authorization.userKey);
  const claims = { app_id: app.appId, sub: openId, tenant_key: store.config.tenantKey, iat: seconds(now) };
  const access: UserToken = {
    token: jwtLikeToken({ ...claims, typ: 'access', exp: seconds(now) + lifetimes.accessTokenSeconds }),
    authorizationId: authorization.id,
    issuedAt: now,
    expiresAt: now + lifetimes.accessTokenSeconds * 1000,
    scopes,
  };
  store.accessTokens.set(access.token, access);
  const response: TokenResponse = {
    code: 0,
    access_token: access.token,
    expires_in: lifetimes.accessTokenSeconds,
    scope: scopes.join(' '),
    token_type: 'Bearer',
  };
  if (!canRefresh(app, scopes)) return response;
  // The refresh token's life slides with each refresh but never past the authorization's hard cap.
  const expiresAt = Math.min(
    now + lifetimes.refreshTokenSeconds * 1000,
    authorization.authorizedAt + lifetimes.grantMaxSeconds * 1000,
  );
  const refresh: RefreshToken = {
    token: jwtLikeToken({ ...claims, typ: 'refresh', exp: seconds(expiresAt) }),
    authorizationId: authorization.id,
    issuedAt: now,
    expiresAt,
    scopes,
    usedAt: undefined,
    reusedAt: [],
    answerLostAt: undefined,
  };
  store.refreshTokens.set(refresh.token, refresh);
  return { ...response, refresh_token: refresh.token, refresh_token_expires_in: seconds(expiresAt - now) };
}

export function issueForConsent(
  store: Store,
  app: App,
  user: User,
  scopes: string[],
): { authorization: Authorization; response: TokenResponse } {
  const authorization: Authorization = {
    id: `auth_${randomHex(8)}`,
    appId: app.appId,
    userKey: user.key,
    authorizedAt: Date.now(),
    scopes,
    revokedAt: undefined,
  };
  store.authorizations.set(authorization.id, authorization);
  return { authorization, response: issue(store, app, authorization, scopes) };
}

/** Single-use rotation: the presented token dies now, the authorization's access tokens get a short grace. */
export function rotate(
  store: Store,
  app: App,
  presented: string,
  scopeParam: string | undefined,
): { authorization: Authorization; response: TokenResponse } {
  const refresh = store.refreshTokens.get(presented);
  if (!refresh) throw oauth.refreshTokenInvalid();
  const authorization = store.authorizations.get(refresh.authorizationId)!;
  if (authorization.appId !== app.appId) throw oauth.wrongClient();
  if (!app.refreshEnabled) throw oauth.refreshNotAllowed();
  if (authorization.revokedAt !== undefined) throw oauth.refreshTokenRevoked();
  if (refresh.usedAt !== undefined) {
    refresh.reusedAt.push(Date.now());
    throw oauth.refreshTokenUsed();
  }
  const now = Date.now();
  if (now >= refresh.expiresAt) throw oauth.refreshTokenExpired();
  assertCanIssue(app, store.user(authorization.userKey));
  const scopes = narrowScopes(refresh.scopes, scopeParam);
  refresh.usedAt = now;
  const graceEnd = now + store.config.lifetimes.accessTokenGraceSeconds * 1000;
  for (const token of store.accessTokens.values()) {
    if (token.authorizationId === authorization.id && token.expiresAt > graceEnd) token.expiresAt = graceEnd;
  }
  return { authorization, response: issue(store, app, authorization, scopes) };
}

export interface UserTokenOwner {
  app: App;
  user: User;
  token: UserToken;
}

/** What open APIs check on a user_access_token: unknown or revoked → 99991668, expired → 99991677. */
export function checkUserAccessToken(store: Store, value: string): UserTokenOwner {
  const token = store.accessTokens.get(value);
  const authorization = token && store.authorizations.get(token.authorizationId);
  const user = authorization && store.user(authorization.userKey);
  const app = authorization && store.app(authorization.appId);
  if (
    !token ||
    !authorization ||
    !user ||
    !app ||
    authorization.revokedAt !== undefined ||
    user.status === 'deleted'
  ) {
    throw openApi.invalidUserToken();
  }
  if (Date.now() >= token.expiresAt) throw openApi.expiredUserToken();
  return { app, user, token };
}

/** Stands for the user removing the app's access in Feishu: refresh tokens answer 20064 from now on. */
export function revokeAuthorizations(store: Store, appId: string, userKey: string): number {
  let count = 0;
  for (const authorization of store.authorizations.values()) {
    if (
      authorization.appId === appId &&
      authorization.userKey === userKey &&
      authorization.revokedAt === undefined
    ) {
      authorization.revokedAt = Date.now();
      count += 1;
    }
  }
  return count;
}
