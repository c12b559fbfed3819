import type { World } from '../model/world.ts';

/**
 * The invariants that hold at the moment something happens, checked by the model as it happens.
 * (The ones that need the workflow's view are in workflow-checks.ts and agreement.ts.)
 */

/** A new card went out: no other attempt of the user may still offer a working Authorize button. */
export function checkOneLiveCard(world: World, now: number, openId: string, attemptId: string): void {
  const live = world.store.sessionsOf(openId).filter((session) => {
    if (session.id === attemptId || session.status !== 'pending' || !session.message_id) return false;
    const card = world.feishu.cards.get(session.message_id);
    return session.expires_at.getTime() > now && card?.state === 'pending' && card.attemptId === session.id;
  });
  if (live.length > 0) {
    world.log.violation(
      now,
      openId,
      'two live cards',
      `the card of ${attemptId} went out while ${live.map((s) => s.id).join(', ')} still waits for the user`,
    );
  }
}

/** A refresh scheduled after the grant was revoked means the revocation did not end the loop. */
export function checkNoRefreshAfterRevoke(
  world: World,
  now: number,
  openId: string,
  scheduledAt: number,
): void {
  const revokedAt = world.store.revokedAt.get(openId);
  if (revokedAt !== undefined && scheduledAt > revokedAt) {
    world.log.violation(now, openId, 'refresh after revoke', `a refresh was scheduled after the revocation`);
  }
}
