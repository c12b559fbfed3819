import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Db } from '../../lib/db.ts';
import { createLogger } from '../../lib/logger.ts';
import { EVENT_ID_WINDOW_SECONDS, firstSighting, pruneReplayGuard } from '../../lib/store/replay-guard.ts';
import { eventually } from '../helpers/cards.ts';

describe('the callback replay guard is pruned on a schedule', () => {
  let db: Db;
  beforeAll(() => {
    db = createDb(inject('databaseUrl'));
  });
  afterAll(() => db?.end());

  const run = randomBytes(6).toString('hex');
  const keyOf = (name: string) => `test-${run}:${name}`;
  const present = async (names: string[]) => {
    const { rows } = await db.query<{ key: string }>(
      'SELECT key FROM callback_replay_guard WHERE key = ANY($1) ORDER BY key',
      [names.map(keyOf)],
    );
    return rows.map((r) => r.key.slice(keyOf('').length));
  };
  /** A key as if it had been seen this many seconds ago. */
  const seenAgo = (name: string, seconds: number) =>
    db.query(
      `INSERT INTO callback_replay_guard (key, seen_at) VALUES ($1, now() - make_interval(secs => $2))`,
      [keyOf(name), seconds],
    );

  it('deletes keys past the longest window, keeps the ones that still refuse a replay, and keeps going', async () => {
    await seenAgo('stale-before-start', EVENT_ID_WINDOW_SECONDS + 60);
    await seenAgo('event-still-in-window', EVENT_ID_WINDOW_SECONDS - 600);
    expect(await firstSighting(db, keyOf('fresh'), 600)).toBe(true);

    const stop = pruneReplayGuard(db, createLogger('test', 'silent'), 50);
    try {
      await eventually('the stale key to be pruned at start', async () =>
        (await present(['stale-before-start'])).length === 0 ? true : undefined,
      );
      // A key that grows stale later goes too: the pruning is a schedule, not a one-off.
      await seenAgo('stale-later', EVENT_ID_WINDOW_SECONDS + 1);
      await eventually('the later stale key to be pruned', async () =>
        (await present(['stale-later'])).length === 0 ? true : undefined,
      );
    } finally {
      await stop();
    }
    expect(await present(['event-still-in-window', 'fresh'])).toEqual(['event-still-in-window', 'fresh']);
    // What was kept still refuses its replay.
    expect(await firstSighting(db, keyOf('event-still-in-window'), EVENT_ID_WINDOW_SECONDS)).toBe(false);
    expect(await firstSighting(db, keyOf('fresh'), 600)).toBe(false);
  });
});
