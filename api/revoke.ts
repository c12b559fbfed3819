import type { Db } from '../lib/db';
import { setGrantStatus } from '../lib/store/grants';
import type { GrantService } from './grants';

/**
 * Revokes through the grant's workflow; with no workflow running (it ended earlier), forgetting
 * any stored tokens is the whole revocation.
 */
export async function revokeGrant(
  db: Db,
  grants: GrantService,
  openId: string,
  source: 'api' | 'card',
): Promise<void> {
  const state = await grants.revoke(openId, source);
  if (!state)
    await setGrantStatus(db, grants.appId, openId, 'revoked', `revoked_by_${source}`, { dropTokens: true });
}
