import { grantSettingsFrom, requireFeishuApp, type Config } from './config';
import { createDb } from './db';
import { FeishuGateway } from './feishu/gateway';
import type { Logger } from './logger';
import { TokenCipher, sodiumReady } from './token-crypto';
import type { ServiceDeps } from './service-deps';

/** Builds the database pool, token cipher and Feishu gateway every process shares. */
export async function createServiceDeps(config: Config, logger: Logger): Promise<ServiceDeps> {
  await sodiumReady();
  const { appId, appSecret } = requireFeishuApp(config);
  return {
    db: createDb(config.DATABASE_URL),
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    feishu: new FeishuGateway(
      {
        appId,
        appSecret,
        domain: config.FEISHU_DOMAIN,
        oauthDomain: config.FEISHU_OAUTH_DOMAIN,
        tokenEndpoint: config.FEISHU_TOKEN_ENDPOINT,
      },
      logger,
    ),
    redirectUri: `${config.PUBLIC_BASE_URL}/oauth/callback`,
    logger,
    grantSettings: grantSettingsFrom(config),
  };
}
