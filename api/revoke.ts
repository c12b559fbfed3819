import type { Db } from '../lib/db.ts';
import type { RevokeRequest } from '../lib/grant-types.ts';
import { getGrant, revokeStoredGrant } from '../lib/store/grants.ts';
import type { GrantService } from './grants.ts';

/**
 * Revokes through the grant's workflow; with no workflow running (it ended earlier), forgetting
 * any stored tokens is the whole revocation.
 */
export async function revokeGrant(
  db: Db,
  grants: GrantService,
  openId: string,
  request: RevokeRequest,
): Promise<void> {
  const state = await grants.revoke(openId, request);
  if (!state) await revokeStoredGrant(db, grants.appId, openId, request);
}

/** Revokes the user's grant if they have one; false when there was nothing to revoke. */
export async function revokeIfGranted(
  db: Db,
  grants: GrantService,
  openId: string,
  request: RevokeRequest,
): Promise<boolean> {
  if (!(await getGrant(db, grants.appId, openId))) return false;
  await revokeGrant(db, grants, openId, request);
  return true;
}
