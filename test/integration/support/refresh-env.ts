import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { sealTokens } from '../../../activities/seal-tokens.ts';
import { createDb, type Db } from '../../../lib/db.ts';
import { FeishuGateway } from '../../../lib/feishu/gateway.ts';
import { authorizeUrl, newOAuthSecrets } from '../../../lib/feishu/oauth.ts';
import { DEFAULT_GRANT_SETTINGS } from '../../../lib/grant-types.ts';
import { createLogger } from '../../../lib/logger.ts';
import type { ServiceDeps } from '../../../lib/service-deps.ts';
import { saveAuthorizedGrant } from '../../../lib/store/grants.ts';
import { TokenCipher, sodiumReady } from '../../../lib/token-crypto.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/index.ts';

/**
 * What the activity tests share: the suite's PostgreSQL, a Feishu sandbox with one app, and the
 * activities' real dependencies pointing at both.
 */
export interface RefreshEnv {
  appId: string;
  appSecret: string;
  sandbox: Sandbox;
  db: Db;
  cipher: TokenCipher;
  redirectUri: string;
  deps(feishu?: FeishuGateway): ServiceDeps;
  gateway(options?: { appSecret?: string; httpTimeoutMs?: number }): FeishuGateway;
  close(): Promise<void>;
}

export async function startRefreshEnv(): Promise<RefreshEnv> {
  await sodiumReady();
  const appId = `cli_${randomBytes(8).toString('hex')}`;
  const appSecret = randomBytes(16).toString('hex');
  const redirectUri = 'http://127.0.0.1:9/oauth/callback';
  const sandbox = await startSandbox({
    users: Array.from({ length: 8 }, (_, i) => ({ name: `用户${i}`, enName: `User ${i}` })),
    apps: [{ appId, appSecret, redirectUris: [redirectUri] }],
  });
  const db = createDb(inject('databaseUrl'));
  const cipher = new TokenCipher([{ id: 'k1', key: new Uint8Array(randomBytes(32)) }]);
  const logger = createLogger('test', 'silent');
  const gateway = (options: { appSecret?: string; httpTimeoutMs?: number } = {}) =>
    new FeishuGateway(
      {
        appId,
        appSecret: options.appSecret ?? appSecret,
        domain: sandbox.url,
        oauthDomain: sandbox.url,
        tokenEndpoint: 'v3',
        httpTimeoutMs: options.httpTimeoutMs,
      },
      logger,
    );
  return {
    appId,
    appSecret,
    sandbox,
    db,
    cipher,
    redirectUri,
    gateway,
    deps: (feishu = gateway()) => ({
      db,
      cipher,
      feishu,
      redirectUri,
      logger,
      grantSettings: DEFAULT_GRANT_SETTINGS,
    }),
    close: async () => {
      await db.end();
      await sandbox.close();
    },
  };
}

/** The consent of one user as the sandbox sees it: the authorization code and its PKCE verifier. */
export function consent(env: RefreshEnv, openId: string) {
  const secrets = newOAuthSecrets();
  const url = authorizeUrl({
    oauthDomain: env.sandbox.url,
    appId: env.appId,
    redirectUri: env.redirectUri,
    scopes: ['offline_access'],
    state: secrets.state,
    codeChallenge: secrets.codeChallenge,
  });
  const code = new URL(env.sandbox.approveAuthorization(url, openId)).searchParams.get('code');
  if (!code) throw new Error('the sandbox issued no code');
  return { code, secrets };
}

/**
 * Puts one user in the state a completed authorization leaves: tokens the sandbox issued, sealed
 * in PostgreSQL. Returns the grant's token version.
 */
export async function seedGrant(env: RefreshEnv, openId: string): Promise<number> {
  const { code, secrets } = consent(env, openId);
  const tokens = await env
    .gateway()
    .exchangeCode({ code, redirectUri: env.redirectUri, codeVerifier: secrets.codeVerifier });
  const sealed = sealTokens(env.cipher, env.appId, openId, tokens);
  await saveAuthorizedGrant(env.db, env.appId, openId, sealed, { name: openId });
  return (await storedGrant(env, openId))!.token_version;
}

/** The grant row as the token API would find it. */
export async function storedGrant(env: RefreshEnv, openId: string) {
  const { rows } = await env.db.query<{
    status: string;
    token_version: number;
    access_token_ct: Buffer | null;
    refresh_token_ct: Buffer | null;
  }>(
    'SELECT status, token_version, access_token_ct, refresh_token_ct FROM grants WHERE app_id = $1 AND open_id = $2',
    [env.appId, openId],
  );
  return rows[0];
}
