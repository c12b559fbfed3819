import { Context } from '@temporalio/activity';

const HEARTBEAT_MS = 5_000;

/**
 * Waits on work that asks a grant workflow, heartbeating so a lost worker is noticed within the
 * heartbeat timeout. A stopping worker cancels the activity after its grace time; the grant it
 * waits on may be served by that same worker, so waiting on would hold the shutdown. The retry
 * asks again.
 */
export async function waitOnGrant<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = setInterval(() => context.heartbeat(), HEARTBEAT_MS);
  try {
    return await Promise.race([work(), context.cancelled]);
  } finally {
    clearInterval(beat);
  }
}
