import type { Db, Queryable } from '../db.ts';
import type { GrantStatus, Profile, RevokedBy, RevokeRequest, TokenMeta } from '../grant-types.ts';

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

/** What a workflow may know of the stored grant: the one place token metadata is built from. */
export function tokenMetaOf(row: GrantRow): TokenMeta {
  return {
    scopes: row.scopes,
    accessExpiresAt: row.access_expires_at?.getTime() ?? 0,
    refreshExpiresAt: row.refresh_expires_at?.getTime(),
    authorizedAt: row.authorized_at?.getTime() ?? 0,
    tokenVersion: row.token_version,
    userName: row.user_name ?? '',
  };
}

export async function getGrant(db: Db, appId: string, openId: string): Promise<GrantRow | undefined> {
  const { rows } = await db.query<GrantRow>('SELECT * FROM grants WHERE app_id = $1 AND open_id = $2', [
    appId,
    openId,
  ]);
  return rows[0];
}

/**
 * The upsert of a fresh authorization: new tokens, profile, authorized_at reset (the 365-day clock
 * restarts), whatever the grant's state. `source` is the SELECT giving the new row ($1–$12),
 * `prefix` a WITH clause it may draw on.
 */
function upsertAuthorizedSql(source: string, prefix = ''): string {
  return `${prefix}
    INSERT INTO grants (app_id, open_id, status, reason, scopes, union_id, user_name, user_en_name, avatar_url,
                        key_id, access_token_ct, refresh_token_ct, access_expires_at, refresh_expires_at,
                        authorized_at, token_version)
    ${source}
    ON CONFLICT (app_id, open_id) DO UPDATE SET
      status = 'authorized', reason = NULL, scopes = EXCLUDED.scopes, union_id = EXCLUDED.union_id,
      user_name = EXCLUDED.user_name, user_en_name = EXCLUDED.user_en_name, avatar_url = EXCLUDED.avatar_url,
      key_id = EXCLUDED.key_id, access_token_ct = EXCLUDED.access_token_ct,
      refresh_token_ct = EXCLUDED.refresh_token_ct, access_expires_at = EXCLUDED.access_expires_at,
      refresh_expires_at = EXCLUDED.refresh_expires_at, authorized_at = now(),
      token_version = grants.token_version + 1, updated_at = now()
    RETURNING *`;
}

const AUTHORIZED_ROW = `SELECT $1::text, $2::text, 'authorized', NULL::text, $3::text[], $4::text, $5::text,
                               $6::text, $7::text, $8::text, $9::bytea, $10::bytea, $11::timestamptz,
                               $12::timestamptz, now(), 1`;

function authorizedParams(appId: string, openId: string, tokens: SealedTokens, profile: Profile) {
  return [
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
  ];
}

/** Stores a fresh authorization outside any attempt (seeding, tests). */
export async function saveAuthorizedGrant(
  db: Queryable,
  appId: string,
  openId: string,
  tokens: SealedTokens,
  profile: Profile,
): Promise<GrantRow> {
  const { rows } = await db.query<GrantRow>(
    upsertAuthorizedSql(AUTHORIZED_ROW),
    authorizedParams(appId, openId, tokens, profile),
  );
  return rows[0]!;
}

/**
 * Spends the attempt's code and stores the authorization it bought, in one statement (so one
 * transaction and one round trip): nothing is stored when the attempt was settled or its code
 * spent meanwhile (undefined). The attempt's row stays locked until the grant is written, so
 * settling the attempt waits for the grant and then sees it, and an exchange that answers after
 * the attempt was settled stores nothing.
 */
export async function spendCodeSavingGrant(
  db: Queryable,
  attemptId: string,
  appId: string,
  openId: string,
  tokens: SealedTokens,
  profile: Profile,
): Promise<GrantRow | undefined> {
  const spend = `WITH spent AS (
    UPDATE user_auth_sessions SET code_spent_at = now(), code_ct = NULL, code_key_id = NULL
     WHERE id = $13 AND settled_at IS NULL AND code_spent_at IS NULL
    RETURNING id)`;
  const { rows } = await db.query<GrantRow>(upsertAuthorizedSql(`${AUTHORIZED_ROW} FROM spent`, spend), [
    ...authorizedParams(appId, openId, tokens, profile),
    attemptId,
  ]);
  return rows[0];
}

/**
 * Replaces the token pair only if the grant is still authorized and nobody changed it since
 * `expectedVersion` was read: a refresh that answers late can neither overwrite a newer pair nor
 * bring tokens back to a grant that was revoked or lost meanwhile (dropping tokens moves the
 * version too). Undefined when the grant moved on.
 */
export async function saveRotatedTokens(
  db: Db,
  appId: string,
  openId: string,
  expectedVersion: number,
  tokens: SealedTokens,
): Promise<GrantRow | undefined> {
  const { rows } = await db.query<GrantRow>(
    `UPDATE grants SET key_id = $4, access_token_ct = $5, refresh_token_ct = $6,
            access_expires_at = $7, refresh_expires_at = COALESCE($8, refresh_expires_at), scopes = $9,
            token_version = token_version + 1, updated_at = now()
      WHERE app_id = $1 AND open_id = $2 AND token_version = $3 AND status = 'authorized'
      RETURNING *`,
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
  return rows[0];
}

/**
 * Sets the grant's status; creates the row for users who never authorized (denied, expired, …).
 * Dropping the tokens moves token_version, so no write that read the grant before can land after.
 */
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
       refresh_token_ct = CASE WHEN $5 THEN NULL ELSE grants.refresh_token_ct END,
       token_version = CASE WHEN $5 THEN grants.token_version + 1 ELSE grants.token_version END`,
    [appId, openId, status, reason, dropTokens],
  );
}

/**
 * Ends an authorized grant whose refresh Feishu refused for good: tokens dropped, version moved.
 * Only the grant as the refresh read it: false when it was revoked or changed meanwhile.
 */
export async function markNeedsReauth(
  db: Db,
  appId: string,
  openId: string,
  expectedVersion: number,
  reason: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE grants SET status = 'needs_reauth', reason = $4, access_token_ct = NULL, refresh_token_ct = NULL,
            token_version = token_version + 1, updated_at = now()
      WHERE app_id = $1 AND open_id = $2 AND token_version = $3 AND status = 'authorized'`,
    [appId, openId, expectedVersion, reason],
  );
  return rowCount === 1;
}

/**
 * A card is out: the grant reads pending, unless it is live or waiting for re-authorization, which
 * keep their status (and reason) until the attempt ends. Returns the status it now has, in the
 * same round trip: the row as written, or as it stands when it was left alone.
 */
export async function markGrantPending(
  db: Db,
  appId: string,
  openId: string,
): Promise<{ status: GrantStatus; reason: string | null }> {
  const { rows } = await db.query<{ status: GrantStatus; reason: string | null }>(
    `WITH written AS (
       INSERT INTO grants (app_id, open_id, status) VALUES ($1, $2, 'pending')
       ON CONFLICT (app_id, open_id) DO UPDATE SET status = 'pending', reason = NULL, updated_at = now()
         WHERE grants.status NOT IN ('authorized', 'needs_reauth')
       RETURNING status, reason)
     SELECT status, reason FROM written
     UNION ALL
     SELECT status, reason FROM grants
      WHERE app_id = $1 AND open_id = $2 AND NOT EXISTS (SELECT 1 FROM written)`,
    [appId, openId],
  );
  return rows[0]!;
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
    by?: RevokedBy;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO grant_events (app_id, open_id, kind, outcome, error_code, detail, actor)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      event.appId,
      event.openId,
      event.kind,
      event.outcome,
      event.errorCode ?? null,
      event.detail ?? null,
      event.by ?? null,
    ],
  );
}

/**
 * Revokes in storage: the tokens are deleted (Feishu has no revocation endpoint, so forgetting them
 * is revoking) and the user's history records the revocation and who asked for it.
 */
export async function revokeStoredGrant(
  db: Db,
  appId: string,
  openId: string,
  { source, by }: RevokeRequest,
): Promise<void> {
  await setGrantStatus(db, appId, openId, 'revoked', `revoked_by_${source}`, { dropTokens: true });
  await recordGrantEvent(db, { appId, openId, kind: 'revoke', outcome: 'revoked', detail: source, by });
}
