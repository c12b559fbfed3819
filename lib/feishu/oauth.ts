import { createHash, randomBytes } from 'node:crypto';

/** Every grant asks for offline_access: without it Feishu issues no refresh token. */
export const ALWAYS_REQUESTED_SCOPES = ['offline_access'];

export function normalizeScopes(scopes: readonly string[]): string[] {
  return [...new Set([...ALWAYS_REQUESTED_SCOPES, ...scopes.map((s) => s.trim()).filter(Boolean)])].sort();
}

export interface OAuthSecrets {
  /** Random, single-use, and a bearer secret until used: stored sealed, looked up by hash. */
  state: string;
  stateHash: Buffer;
  codeVerifier: string;
  codeChallenge: string;
}

export function hashState(state: string): Buffer {
  return createHash('sha256').update(state).digest();
}

export function codeChallengeFor(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier).digest('base64url');
}

export function newOAuthSecrets(): OAuthSecrets {
  const state = randomBytes(32).toString('base64url');
  const codeVerifier = randomBytes(48).toString('base64url');
  return {
    state,
    stateHash: hashState(state),
    codeVerifier,
    codeChallenge: codeChallengeFor(codeVerifier),
  };
}

export function authorizeUrl(params: {
  oauthDomain: string;
  appId: string;
  redirectUri: string;
  scopes: string[];
  state: string;
  codeChallenge: string;
}): string {
  const url = new URL('/open-apis/authen/v1/authorize', params.oauthDomain);
  url.searchParams.set('client_id', params.appId);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', params.redirectUri);
  url.searchParams.set('scope', params.scopes.join(' '));
  url.searchParams.set('state', params.state);
  url.searchParams.set('code_challenge', params.codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

/** A plausible state: rejects junk before it reaches the database. */
export function isWellFormedState(state: unknown): state is string {
  return typeof state === 'string' && /^[A-Za-z0-9_-]{43}$/.test(state);
}
