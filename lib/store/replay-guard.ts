import type { Db } from '../db';

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

export async function forgetOlderThan(db: Db, windowSeconds: number): Promise<void> {
  await db.query('DELETE FROM callback_replay_guard WHERE seen_at < now() - make_interval(secs => $1)', [
    windowSeconds,
  ]);
}
