import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';

/** How long the guard keeps a key: a day, longer than any window a key is checked over. */
export const EVENT_ID_WINDOW_SECONDS = 24 * 3600;

/** Records a key; false when it was already seen within the window (a replay). */
export async function firstSighting(db: Db, key: string, windowSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO callback_replay_guard (key) VALUES ($1)
     ON CONFLICT (key) DO UPDATE SET seen_at = now()
       WHERE callback_replay_guard.seen_at < now() - make_interval(secs => $2)`,
    [key, windowSeconds],
  );
  return rowCount === 1;
}

/** Deletes the keys seen longer ago than windowSeconds; returns how many. */
export async function forgetOlderThan(db: Db, windowSeconds: number): Promise<number> {
  const { rowCount } = await db.query(
    'DELETE FROM callback_replay_guard WHERE seen_at < now() - make_interval(secs => $1)',
    [windowSeconds],
  );
  return rowCount ?? 0;
}

/**
 * Deletes, every intervalMs, the keys older than the longest window any key is checked over, so the
 * guard holds about a day of callbacks instead of growing forever. A row older than its window no
 * longer refuses anything (firstSighting overwrites it), so deleting it changes no answer. Every
 * replica may run this: the DELETEs are idempotent. Returns the function that stops it.
 */
export function pruneReplayGuard(db: Db, logger: Logger, intervalMs: number): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const prune = () => {
    running = forgetOlderThan(db, EVENT_ID_WINDOW_SECONDS)
      .then((deleted) => {
        if (deleted > 0) logger.debug({ deleted }, 'pruned the callback replay guard');
      })
      .catch((err: unknown) => logger.warn({ err }, 'pruning the callback replay guard failed'));
  };
  prune();
  const timer = setInterval(prune, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
