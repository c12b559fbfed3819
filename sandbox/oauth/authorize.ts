import type { App, User } from '../config.ts';
import { AuthorizePageError } from '../errors.ts';
import { randomHex } from '../ids.ts';
import type { AuthCode, Store } from '../store.ts';

export interface AuthorizeRequest {
  app: App;
  redirectUri: string;
  scopes: string[];
  state: string | undefined;
  challenge: AuthCode['challenge'];
}

export const splitScopes = (scope: string | null | undefined): string[] =>
  (scope ?? '').split(/\s+/).filter(Boolean);

/** The checks Feishu's authorize page makes before it shows anything; failures render an error page, never a redirect. */
export function parseAuthorizeRequest(store: Store, params: URLSearchParams): AuthorizeRequest {
  const clientId = params.get('client_id') ?? params.get('app_id');
  if (!clientId) throw new AuthorizePageError(20001, 'client_id is required.');
  const app = store.app(clientId);
  if (!app) throw new AuthorizePageError(20048, `The app ${clientId} does not exist.`);
  if (app.status === 'disabled') throw new AuthorizePageError(20069, 'The app is disabled.');
  const redirectUri = params.get('redirect_uri');
  if (!redirectUri) throw new AuthorizePageError(20001, 'redirect_uri is required.');
  if (!app.redirectUris.includes(redirectUri)) {
    throw new AuthorizePageError(
      20029,
      `redirect_uri ${redirectUri} is not registered in the app's security settings.`,
    );
  }
  const responseType = params.get('response_type') ?? 'code';
  if (responseType !== 'code') throw new AuthorizePageError(20063, 'response_type must be code.');
  const scopes = splitScopes(params.get('scope'));
  const disabled = scopes.filter((s) => !app.scopes.has(s));
  if (disabled.length > 0) {
    throw new AuthorizePageError(20027, `The scope ${disabled.join(' ')} is not enabled for the app.`);
  }
  const challengeValue = params.get('code_challenge');
  // Feishu's default is plain, which is why callers must always send S256 explicitly.
  const method = params.get('code_challenge_method') || 'plain';
  if (method !== 'plain' && method !== 'S256') {
    throw new AuthorizePageError(20063, 'code_challenge_method must be plain or S256.');
  }
  return {
    app,
    redirectUri,
    scopes,
    state: params.get('state') ?? undefined,
    challenge: challengeValue ? { value: challengeValue, method } : undefined,
  };
}

/** Records the consent (scopes accumulate per user and app) and returns what the accumulated grant now holds. */
export function recordConsent(store: Store, appId: string, user: User, scopes: string[]): string[] {
  const key = `${appId}:${user.key}`;
  const granted = store.grantedScopes.get(key) ?? new Set<string>();
  for (const scope of scopes) granted.add(scope);
  store.grantedScopes.set(key, granted);
  return [...granted];
}

function redirect(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params))
    if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

export function approve(store: Store, request: AuthorizeRequest, user: User): string {
  const code = randomHex(16);
  store.codes.set(code, {
    code,
    appId: request.app.appId,
    userKey: user.key,
    redirectUri: request.redirectUri,
    scopes: recordConsent(store, request.app.appId, user, request.scopes),
    challenge: request.challenge,
    expiresAt: Date.now() + store.config.lifetimes.codeSeconds * 1000,
    usedAt: undefined,
  });
  return redirect(request.redirectUri, { code, state: request.state });
}

export const deny = (request: AuthorizeRequest): string =>
  redirect(request.redirectUri, { error: 'access_denied', state: request.state });
