import type { Db } from '../db.ts';
import type { GrantStatus, Locale } from '../grant-types.ts';

export interface SessionRow {
  id: string;
  app_id: string;
  open_id: string;
  workflow_id: string;
  status: GrantStatus | 'superseded';
  scopes: string[];
  message_id: string | null;
  locale: Locale;
  key_id: string;
  state_ct: Buffer | null;
  verifier_ct: Buffer | null;
  code_ct: Buffer | null;
  code_key_id: string | null;
  code_spent_at: Date | null;
  error_code: string | null;
  reason: string | null;
  created_at: Date;
  expires_at: Date;
  settled_at: Date | null;
}

export interface NewSession {
  id: string;
  appId: string;
  openId: string;
  workflowId: string;
  scopes: string[];
  locale: Locale;
  stateHash: Buffer;
  keyId: string;
  stateCt: Buffer;
  verifierCt: Buffer;
  expiresAt: Date;
  /** The notice the card carries; a renewal notice is a grant.renewal_due event. */
  notice?: 'reauth' | 'renewal';
}

/**
 * Inserts the attempt once; a retried activity gets the row it inserted before. One round trip:
 * the statement answers with the new row, or with the one already there.
 */
export async function insertSession(db: Db, s: NewSession): Promise<SessionRow> {
  const { rows } = await db.query<SessionRow>(
    `WITH inserted AS (
       INSERT INTO user_auth_sessions
         (id, app_id, open_id, workflow_id, status, scopes, locale, state_hash, key_id, state_ct, verifier_ct,
          expires_at, notice)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (id) DO NOTHING
       RETURNING *)
     SELECT * FROM inserted
     UNION ALL
     SELECT * FROM user_auth_sessions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM inserted)`,
    [
      s.id,
      s.appId,
      s.openId,
      s.workflowId,
      s.scopes,
      s.locale,
      s.stateHash,
      s.keyId,
      s.stateCt,
      s.verifierCt,
      s.expiresAt,
      s.notice ?? null,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error(`attempt ${s.id} vanished after insert`);
  return row;
}

export async function getSession(db: Db, id: string): Promise<SessionRow | undefined> {
  const { rows } = await db.query<SessionRow>('SELECT * FROM user_auth_sessions WHERE id = $1', [id]);
  return rows[0];
}

export async function findSessionByStateHash(db: Db, stateHash: Buffer): Promise<SessionRow | undefined> {
  const { rows } = await db.query<SessionRow>('SELECT * FROM user_auth_sessions WHERE state_hash = $1', [
    stateHash,
  ]);
  return rows[0];
}

export async function setSessionMessage(db: Db, id: string, messageId: string): Promise<void> {
  await db.query('UPDATE user_auth_sessions SET message_id = $2 WHERE id = $1', [id, messageId]);
}

export async function setSessionScopes(db: Db, id: string, scopes: string[], expiresAt: Date): Promise<void> {
  await db.query('UPDATE user_auth_sessions SET scopes = $2, expires_at = $3 WHERE id = $1', [
    id,
    scopes,
    expiresAt,
  ]);
}

/** Keeps the first code delivered for a pending attempt; a second click cannot replace it. */
export async function storeCodeOnce(
  db: Db,
  id: string,
  code: { keyId: string; box: Buffer },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE user_auth_sessions SET code_ct = $2, code_key_id = $3
      WHERE id = $1 AND status = 'pending' AND code_ct IS NULL AND code_spent_at IS NULL`,
    [id, code.box, code.keyId],
  );
  return rowCount === 1;
}

/**
 * A device attempt's sealed device authorization, in the code's place (an attempt is one flow or
 * the other); its expiry becomes the attempt's. A second one (new scopes) replaces the first.
 */
export async function setDeviceCode(
  db: Db,
  id: string,
  device: { keyId: string; box: Buffer },
  expiresAt: Date,
): Promise<void> {
  await db.query(
    `UPDATE user_auth_sessions SET code_ct = $2, code_key_id = $3, expires_at = $4
      WHERE id = $1 AND status = 'pending' AND code_spent_at IS NULL`,
    [id, device.box, device.keyId, expiresAt],
  );
}

/**
 * Records how the attempt ended and erases its OAuth secrets, which are useless from now on.
 * Answers whether this call settled it (false for a repeat, or an unknown attempt) and when it
 * began, in the same round trip: the row is locked before it is read, so of two concurrent
 * settles only one is first.
 */
export async function settleSession(
  db: Db,
  id: string,
  outcome: { status: SessionRow['status']; errorCode?: string; reason?: string },
): Promise<{ first: boolean; createdAt: Date } | undefined> {
  const { rows } = await db.query<{ first: boolean; created_at: Date }>(
    `UPDATE user_auth_sessions s
        SET status = $2, error_code = $3, reason = $4, settled_at = COALESCE(s.settled_at, now()),
            state_ct = NULL, verifier_ct = NULL, code_ct = NULL, code_key_id = NULL
       FROM (SELECT id, settled_at FROM user_auth_sessions WHERE id = $1 FOR UPDATE) before
      WHERE s.id = before.id
      RETURNING before.settled_at IS NULL AS first, s.created_at`,
    [id, outcome.status, outcome.errorCode ?? null, outcome.reason ?? null],
  );
  const row = rows[0];
  return row && { first: row.first, createdAt: row.created_at };
}

export async function listSessions(
  db: Db,
  appId: string,
  openId: string,
  limit: number,
): Promise<SessionRow[]> {
  const { rows } = await db.query<SessionRow>(
    `SELECT * FROM user_auth_sessions WHERE app_id = $1 AND open_id = $2 ORDER BY created_at DESC LIMIT $3`,
    [appId, openId, limit],
  );
  return rows;
}
