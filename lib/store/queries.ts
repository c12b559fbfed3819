import type { Db } from '../db.ts';
import type { RevokedBy } from '../grant-types.ts';
import type { GrantRow } from './grants.ts';
import type { SessionRow } from './sessions.ts';

export interface HistoryEntry {
  at: Date;
  kind: string;
  outcome: string;
  attempt_id?: string;
  error_code?: string | null;
  detail?: string | null;
  scopes?: string[];
  /** Who caused it, for a revocation: {"api_key": name} or {"card_operator": open_id}. */
  by?: RevokedBy | null;
}

/** Attempts, grant events and webhook deliveries of one user, newest first. */
export async function userHistory(
  db: Db,
  appId: string,
  openId: string,
  limit: number,
): Promise<HistoryEntry[]> {
  const { rows } = await db.query<HistoryEntry>(
    `SELECT * FROM (
       SELECT created_at AS at, 'authorization' AS kind, status AS outcome, id AS attempt_id, error_code,
              reason AS detail, scopes, NULL::jsonb AS "by"
         FROM user_auth_sessions WHERE app_id = $1 AND open_id = $2
       UNION ALL
       SELECT at, kind, outcome, NULL, error_code, detail, NULL, actor
         FROM grant_events WHERE app_id = $1 AND open_id = $2
       UNION ALL
       SELECT COALESCE(d.settled_at, d.last_attempt_at, d.created_at), 'webhook', d.status, NULL,
              d.last_http_status::text, e.type || ' to ' || s.name || ' (' || d.attempts || ' tries, event ' || e.id || ')',
              NULL, NULL
         FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id
         JOIN webhook_subscribers s ON s.id = d.subscriber_id
        WHERE e.app_id = $1 AND e.open_id = $2
     ) h ORDER BY at DESC LIMIT $3`,
    [appId, openId, limit],
  );
  return rows;
}

export async function latestSession(db: Db, appId: string, openId: string): Promise<SessionRow | undefined> {
  const { rows } = await db.query<SessionRow>(
    'SELECT * FROM user_auth_sessions WHERE app_id = $1 AND open_id = $2 ORDER BY created_at DESC LIMIT 1',
    [appId, openId],
  );
  return rows[0];
}

/**
 * Whether an attempt opened for the user at or after `since` asked for all of `scopes`: a request
 * made again (a retried callback) was answered already.
 */
export async function askedSince(
  db: Db,
  appId: string,
  openId: string,
  since: Date,
  scopes: string[],
): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM user_auth_sessions
      WHERE app_id = $1 AND open_id = $2 AND created_at >= $3 AND scopes @> $4::text[] LIMIT 1`,
    [appId, openId, since, scopes],
  );
  return rows.length > 0;
}

/** A page of grants in open_id order, after `cursor`. */
export async function listGrants(
  db: Db,
  appId: string,
  filter: { status?: string; after?: string; limit: number },
): Promise<GrantRow[]> {
  const { rows } = await db.query<GrantRow>(
    `SELECT * FROM grants
      WHERE app_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR open_id > $3)
      ORDER BY open_id LIMIT $4`,
    [appId, filter.status ?? null, filter.after ?? null, filter.limit],
  );
  return rows;
}
