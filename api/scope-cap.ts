import type { Db } from '../lib/db.ts';
import { normalizeScopes } from '../lib/feishu/oauth.ts';
import { getGrant } from '../lib/store/grants.ts';
import { latestSession } from '../lib/store/queries.ts';
import { HttpError } from './errors.ts';

/**
 * The most scopes one grant may ask for, merged: a request adds its scopes to the pending card's
 * (or to the live grant's, for a new card), and every one of them goes into the card's authorize
 * link and onto Feishu's consent page.
 */
export const MAX_SCOPES_PER_GRANT = 100;

/**
 * Refuses a request whose scopes, merged as the workflow would merge them, pass the cap. Checked
 * against what is stored, before the workflow is asked: requests racing for the same user can
 * together pass it by at most one request's scopes each.
 */
export async function assertWithinScopeCap(
  db: Db,
  appId: string,
  openId: string,
  requested: string[],
): Promise<void> {
  const [grant, attempt] = await Promise.all([getGrant(db, appId, openId), latestSession(db, appId, openId)]);
  const merged = new Set([
    ...normalizeScopes(requested),
    ...(grant?.status === 'authorized' ? grant.scopes : []),
    ...(attempt?.status === 'pending' ? attempt.scopes : []),
  ]);
  if (merged.size > MAX_SCOPES_PER_GRANT) {
    throw new HttpError(
      422,
      'too_many_scopes',
      `the grant would ask for ${merged.size} scopes; at most ${MAX_SCOPES_PER_GRANT} are allowed`,
    );
  }
}
