import type { Db, Queryable } from '../db';
import type { GrantStatus } from '../grant-types';

export interface GrantRow {
  app_id: string;
  open_id: string;
  status: GrantStatus;
  reason: string | null;
  scopes: string[];
  union_id: string | null;
  user_name: string | null;
  user_en_name: string | null;
  avatar_url: string | null;
  key_id: string | null;
  access_token_ct: Buffer | null;
  refresh_token_ct: Buffer | null;
  access_expires_at: Date | null;
  refresh_expires_at: Date | null;
  authorized_at: Date | null;
  token_version: number;
  created_at: Date;
  updated_at: Date;
}

export interface SealedTokens {
  keyId: string;
  accessTokenCt: Buffer;
  refreshTokenCt: Buffer | null;
  accessExpiresAt: Date;
  refreshExpiresAt: Date | null;
  scopes: string[];
}

export interface Profile {
  unionId?: string;
  name: string;
  enName?: string;
  avatarUrl?: string;
}

/** Just what serving an access token needs: the hot path reads no refresh token or profile. */
export type ServableToken = Pick<
  GrantRow,
  'status' | 'reason' | 'key_id' | 'access_token_ct' | 'access_expires_at' | 'scopes'
>;

export async function getServableToken(
  db: Db,
  appId: string,
  openId: string,
): Promise<ServableToken | undefined> {
  const { rows } = await db.query<ServableToken>({
    name: 'servable-token',
    text: `SELECT status, reason, key_id, access_token_ct, access_expires_at, scopes
             FROM grants WHERE app_id = $1 AND open_id = $2`,
    values: [appId, openId],
  });
  return rows[0];
}

export async function getGrant(db: Db, appId: string, openId: string): Promise<GrantRow | undefined> {
  const { rows } = await db.query<GrantRow>('SELECT * FROM grants WHERE app_id = $1 AND open_id = $2', [
    appId,
    openId,
  ]);
  return rows[0];
}

/** Stores a fresh authorization: new tokens, profile, authorized_at reset (the 365-day clock restarts). */
export async function saveAuthorizedGrant(
  db: Queryable,
  appId: string,
  openId: string,
  tokens: SealedTokens,
  profile: Profile,
): Promise<number> {
  const { rows } = await db.query<{ token_version: number }>(
    `INSERT INTO grants (app_id, open_id, status, reason, scopes, union_id, user_name, user_en_name, avatar_url,
                         key_id, access_token_ct, refresh_token_ct, access_expires_at, refresh_expires_at,
                         authorized_at, token_version)
     VALUES ($1, $2, 'authorized', NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), 1)
     ON CONFLICT (app_id, open_id) DO UPDATE SET
       status = 'authorized', reason = NULL, scopes = EXCLUDED.scopes, union_id = EXCLUDED.union_id,
       user_name = EXCLUDED.user_name, user_en_name = EXCLUDED.user_en_name, avatar_url = EXCLUDED.avatar_url,
       key_id = EXCLUDED.key_id, access_token_ct = EXCLUDED.access_token_ct,
       refresh_token_ct = EXCLUDED.refresh_token_ct, access_expires_at = EXCLUDED.access_expires_at,
       refresh_expires_at = EXCLUDED.refresh_expires_at, authorized_at = now(),
       token_version = grants.token_version + 1, updated_at = now()
     RETURNING token_version`,
    [
      appId,
      openId,
      tokens.scopes,
      profile.unionId ?? null,
      profile.name,
      profile.enName ?? null,
      profile.avatarUrl ?? null,
      tokens.keyId,
      tokens.accessTokenCt,
      tokens.refreshTokenCt,
      tokens.accessExpiresAt,
      tokens.refreshExpiresAt,
    ],
  );
  return rows[0]!.token_version;
}

/**
 * Replaces the token pair only if nobody rotated it since `expectedVersion` was read, so a
 * second writer can never overwrite a newer pair with an older one.
 */
export async function saveRotatedTokens(
  db: Db,
  appId: string,
  openId: string,
  expectedVersion: number,
  tokens: SealedTokens,
): Promise<number | undefined> {
  const { rows } = await db.query<{ token_version: number }>(
    `UPDATE grants SET key_id = $4, access_token_ct = $5, refresh_token_ct = $6,
            access_expires_at = $7, refresh_expires_at = COALESCE($8, refresh_expires_at), scopes = $9,
            status = 'authorized', reason = NULL, token_version = token_version + 1, updated_at = now()
      WHERE app_id = $1 AND open_id = $2 AND token_version = $3
      RETURNING token_version`,
    [
      appId,
      openId,
      expectedVersion,
      tokens.keyId,
      tokens.accessTokenCt,
      tokens.refreshTokenCt,
      tokens.accessExpiresAt,
      tokens.refreshExpiresAt,
      tokens.scopes,
    ],
  );
  return rows[0]?.token_version;
}

/** Sets the grant's status; creates the row for users who never authorized (denied, expired, …). */
export async function setGrantStatus(
  db: Db,
  appId: string,
  openId: string,
  status: GrantStatus,
  reason: string | null,
  { dropTokens = false }: { dropTokens?: boolean } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO grants (app_id, open_id, status, reason) VALUES ($1, $2, $3, $4)
     ON CONFLICT (app_id, open_id) DO UPDATE SET status = $3, reason = $4, updated_at = now(),
       access_token_ct = CASE WHEN $5 THEN NULL ELSE grants.access_token_ct END,
       refresh_token_ct = CASE WHEN $5 THEN NULL ELSE grants.refresh_token_ct END`,
    [appId, openId, status, reason, dropTokens],
  );
}

/** A new card is out: the grant reads pending, unless it is live or waiting for re-authorization. */
export async function markGrantPending(db: Db, appId: string, openId: string): Promise<void> {
  await db.query(
    `INSERT INTO grants (app_id, open_id, status) VALUES ($1, $2, 'pending')
     ON CONFLICT (app_id, open_id) DO UPDATE SET status = 'pending', reason = NULL, updated_at = now()
       WHERE grants.status NOT IN ('authorized', 'needs_reauth')`,
    [appId, openId],
  );
}

export async function recordGrantEvent(
  db: Db,
  event: {
    appId: string;
    openId: string;
    kind: string;
    outcome: string;
    errorCode?: string;
    detail?: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO grant_events (app_id, open_id, kind, outcome, error_code, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
    [event.appId, event.openId, event.kind, event.outcome, event.errorCode ?? null, event.detail ?? null],
  );
}
