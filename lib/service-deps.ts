import type { Db } from './db.ts';
import type { GrantSettings } from './grant-types.ts';
import type { FeishuGateway } from './feishu/gateway.ts';
import type { Logger } from './logger.ts';
import type { TokenCipher } from './token-crypto.ts';

/** What activities need from the outside world, injected so tests and processes wire their own. */
export interface ServiceDeps {
  db: Db;
  cipher: TokenCipher;
  feishu: FeishuGateway;
  /** PUBLIC_BASE_URL/oauth/callback, registered in the Feishu app's security settings. */
  redirectUri: string;
  logger: Logger;
  /** This deployment's grant tunables, which each new run of a grant workflow picks up. */
  grantSettings: GrantSettings;
}
