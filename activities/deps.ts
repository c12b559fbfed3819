import type { Db } from '../lib/db';
import type { FeishuGateway } from '../lib/feishu/gateway';
import type { Logger } from '../lib/logger';
import type { TokenCipher } from '../lib/token-crypto';

/** What activities need from the outside world, injected so tests and processes wire their own. */
export interface ActivityDeps {
  db: Db;
  cipher: TokenCipher;
  feishu: FeishuGateway;
  /** PUBLIC_BASE_URL/oauth/callback, registered in the Feishu app's security settings. */
  redirectUri: string;
  logger: Logger;
}
