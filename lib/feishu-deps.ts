import { grantSettingsFrom, requireFeishuApp, type Config } from './config.ts';
import { createDb } from './db.ts';
import { FeishuGateway } from './feishu/gateway.ts';
import type { Logger } from './logger.ts';
import { TokenCipher, sodiumReady } from './token-crypto.ts';
import type { ServiceDeps } from './service-deps.ts';

/** The configured app's Feishu gateway. */
export function createFeishuGateway(config: Config, logger: Logger): FeishuGateway {
  const { appId, appSecret } = requireFeishuApp(config);
  return new FeishuGateway(
    {
      appId,
      appSecret,
      domain: config.FEISHU_DOMAIN,
      oauthDomain: config.FEISHU_OAUTH_DOMAIN,
      tokenEndpoint: config.FEISHU_TOKEN_ENDPOINT,
    },
    logger,
  );
}

/** Builds the database pool, token cipher and Feishu gateway every process shares. */
export async function createServiceDeps(config: Config, logger: Logger): Promise<ServiceDeps> {
  await sodiumReady();
  return {
    db: createDb(config.DATABASE_URL),
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    feishu: createFeishuGateway(config, logger),
    redirectUri: `${config.PUBLIC_BASE_URL}/oauth/callback`,
    logger,
    grantSettings: grantSettingsFrom(config),
  };
}
