import type { Db } from '../db.ts';
import type { TokenCipher } from '../token-crypto.ts';

interface SealedRow {
  app_id: string;
  open_id: string;
  key_id: string;
  token_version: number;
  access_token_ct: Buffer;
  refresh_token_ct: Buffer | null;
}

const BATCH = 200;

/**
 * Re-seals one app's tokens still under an older key. Each row is rewritten only if its token_version is
 * the one read, so a refresh that lands meanwhile (already sealed with the active key) wins.
 */
export async function reencryptGrants(
  db: Db,
  cipher: TokenCipher,
  appId: string,
): Promise<{ rotated: number; skipped: number; activeKeyId: string }> {
  const activeKeyId = cipher.activeKeyId;
  let rotated = 0;
  let skipped = 0;
  let after = { app: '', open: '' };
  for (;;) {
    const { rows } = await db.query<SealedRow>(
      `SELECT app_id, open_id, key_id, token_version, access_token_ct, refresh_token_ct FROM grants
        WHERE app_id = $5 AND key_id IS NOT NULL AND key_id <> $1 AND access_token_ct IS NOT NULL
          AND (app_id, open_id) > ($2, $3)
        ORDER BY app_id, open_id LIMIT $4`,
      [activeKeyId, after.app, after.open, BATCH, appId],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      const ctx = { appId: row.app_id, openId: row.open_id };
      const access = cipher.seal(
        cipher.open({ keyId: row.key_id, box: row.access_token_ct }, { ...ctx, kind: 'access_token' }),
        {
          ...ctx,
          kind: 'access_token',
        },
      );
      const refresh = row.refresh_token_ct
        ? cipher.seal(
            cipher.open({ keyId: row.key_id, box: row.refresh_token_ct }, { ...ctx, kind: 'refresh_token' }),
            {
              ...ctx,
              kind: 'refresh_token',
            },
          )
        : undefined;
      const { rowCount } = await db.query(
        `UPDATE grants SET key_id = $4, access_token_ct = $5, refresh_token_ct = $6
          WHERE app_id = $1 AND open_id = $2 AND token_version = $3 AND key_id = $7`,
        [
          row.app_id,
          row.open_id,
          row.token_version,
          activeKeyId,
          access.box,
          refresh?.box ?? null,
          row.key_id,
        ],
      );
      if (rowCount === 1) rotated++;
      else skipped++;
    }
    const last = rows[rows.length - 1]!;
    after = { app: last.app_id, open: last.open_id };
  }
  return { rotated, skipped, activeKeyId };
}
