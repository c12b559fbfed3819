import type { Context } from 'koa';
import type { App } from '../config.ts';
import { OAuthError, OpenApiError, oauth, openApi } from '../errors.ts';
import { paramsBody } from '../http/body.ts';
import { PER_APP_API } from '../rate-limit.ts';
import type { Runtime } from '../runtime.ts';
import type { Authorization, Store } from '../store.ts';
import { authenticateClient } from './client-auth.ts';
import { DEVICE_GRANT, pollDevice } from './device.ts';
import { assertCanIssue, issueForConsent, narrowScopes, rotate, type TokenResponse } from './grants.ts';
import { verifierMatches } from './pkce.ts';

export type TokenEndpointVersion = 'v3' | 'v2';

interface Outcome {
  authorization: Authorization;
  response: TokenResponse;
}

function exchangeCode(
  store: Store,
  app: App,
  params: Record<string, string>,
  version: TokenEndpointVersion,
): Outcome {
  if (!params.code) throw oauth.missingParam('code');
  const code = store.codes.get(params.code);
  if (!code) throw oauth.codeNotFound();
  if (code.appId !== app.appId) throw oauth.wrongClient();
  if (code.usedAt !== undefined) throw oauth.codeUsed();
  if (Date.now() >= code.expiresAt) throw oauth.codeExpired();
  if (params.redirect_uri !== undefined && params.redirect_uri !== code.redirectUri)
    throw oauth.redirectUriMismatch();
  const verifier = params.code_verifier;
  if (code.challenge) {
    if (!verifier || !verifierMatches(code.challenge, verifier)) throw oauth.pkceFailed();
  } else if (verifier && version === 'v3') {
    // v3 refuses a verifier nobody asked for; v2 ignores it.
    throw oauth.pkceFailed();
  }
  const user = assertCanIssue(app, store.user(code.userKey));
  const scopes = narrowScopes(code.scopes, params.scope);
  code.usedAt = Date.now();
  return issueForConsent(store, app, user, scopes);
}

function pollDeviceGrant(store: Store, app: App, params: Record<string, string>): Outcome {
  const { request, user } = pollDevice(store, app, params.device_code);
  return issueForConsent(store, app, assertCanIssue(app, user), narrowScopes(request.scopes, params.scope));
}

function grant(
  rt: Runtime,
  app: App,
  params: Record<string, string>,
  version: TokenEndpointVersion,
): Outcome {
  switch (params.grant_type) {
    case 'authorization_code':
      return exchangeCode(rt.store, app, params, version);
    case 'refresh_token':
      if (!params.refresh_token) throw oauth.missingParam('refresh_token');
      return rotate(rt.store, app, params.refresh_token, params.scope);
    case DEVICE_GRANT:
      return pollDeviceGrant(rt.store, app, params);
    default:
      throw oauth.unsupportedGrant(String(params.grant_type));
  }
}

/** `POST /oauth/v3/token` and `POST /open-apis/authen/v2/oauth/token`: same grants, same error table. */
export const tokenEndpoint = (rt: Runtime, version: TokenEndpointVersion) => async (ctx: Context) => {
  const params = await paramsBody(ctx);
  let appId = params?.client_id ?? '';
  try {
    if (!params) throw oauth.malformed('the body is neither a JSON object nor a form');
    if (!params.grant_type) throw oauth.missingParam('grant_type');
    const app = authenticateClient(rt.store, ctx, params);
    appId = app.appId;
    const retryAfter = rt.limiter.hit(`token:${app.appId}`, PER_APP_API);
    if (retryAfter !== undefined) throw openApi.rateLimited(retryAfter);
    const outcome = grant(rt, app, params, version);
    record(rt.store, version, params.grant_type, appId, outcome, undefined);
    if (params.grant_type === 'refresh_token' && rt.faults.loseRefreshAnswer()) {
      // Feishu rotated, then the answer never reached the caller: the new pair exists only here.
      rt.store.refreshTokens.get(params.refresh_token!)!.answerLostAt = Date.now();
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    }
    ctx.body = outcome.response;
  } catch (error) {
    if (error instanceof OAuthError || error instanceof OpenApiError) {
      record(rt.store, version, params?.grant_type, appId, undefined, error);
    }
    throw error;
  }
};

function record(
  store: Store,
  endpoint: TokenEndpointVersion,
  grantType: string | undefined,
  appId: string,
  outcome: Outcome | undefined,
  error: OAuthError | OpenApiError | undefined,
): void {
  store.tokenEvents.push({
    at: Date.now(),
    endpoint,
    grantType: grantType ?? '',
    appId,
    openId: outcome ? store.openId(outcome.authorization.appId, outcome.authorization.userKey) : undefined,
    authorizationId: outcome?.authorization.id,
    ok: error === undefined,
    status: error?.status ?? 200,
    code: error?.code ?? 0,
    error: error instanceof OAuthError ? error.error : error?.message,
  });
}
