import type { TokenSet } from '../lib/feishu/gateway.ts';
import type { SealedTokens } from '../lib/store/grants.ts';
import type { TokenCipher } from '../lib/token-crypto.ts';

/** Seals a token pair for one user, with the expiry times computed from Feishu's answer. */
export function sealTokens(
  cipher: TokenCipher,
  appId: string,
  openId: string,
  tokens: TokenSet,
): SealedTokens {
  const now = Date.now();
  const access = cipher.seal(tokens.accessToken, { appId, openId, kind: 'access_token' });
  const refresh = tokens.refreshToken
    ? cipher.seal(tokens.refreshToken, { appId, openId, kind: 'refresh_token' })
    : undefined;
  return {
    keyId: access.keyId,
    accessTokenCt: access.box,
    refreshTokenCt: refresh?.box ?? null,
    accessExpiresAt: new Date(now + tokens.expiresInSeconds * 1000),
    refreshExpiresAt:
      refresh && tokens.refreshExpiresInSeconds
        ? new Date(now + tokens.refreshExpiresInSeconds * 1000)
        : null,
    scopes: tokens.scopes,
  };
}
