import { randomBytes } from 'node:crypto';
import type { Db } from '../db.ts';
import type { Sealed, TokenCipher } from '../token-crypto.ts';
import type { EnvSubscriber } from '../webhooks/env-subscribers.ts';

export interface SubscriberRow {
  id: string;
  app_id: string;
  name: string;
  url: string;
  source: 'env' | 'api';
  event_types: string[] | null;
  key_id: string | null;
  secret_ct: Buffer | null;
  previous_key_id: string | null;
  previous_secret_ct: Buffer | null;
  previous_valid_until: Date | null;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/** What the API shows of a subscriber: never a secret, sealed or not. */
export const SUBSCRIBER_COLUMNS = `id, app_id, name, url, source, event_types, enabled, previous_valid_until,
  created_at, updated_at`;

export type PublicSubscriber = Omit<
  SubscriberRow,
  'key_id' | 'secret_ct' | 'previous_key_id' | 'previous_secret_ct'
>;

const envSubscriberId = (appId: string, name: string) => `env:${appId}:${name}`;

/**
 * Makes the stored env subscribers of an app those of WEBHOOK_URLS: added, URL updated, and
 * those no longer listed disabled (their pending deliveries are cancelled, not dead-lettered).
 */
export async function syncEnvSubscribers(db: Db, appId: string, subscribers: EnvSubscriber[]): Promise<void> {
  for (const s of subscribers) {
    await db.query(
      `INSERT INTO webhook_subscribers (id, app_id, name, url, source) VALUES ($1, $2, $3, $4, 'env')
       ON CONFLICT (id) DO UPDATE SET url = $4, enabled = true, updated_at = now()
         WHERE webhook_subscribers.url <> $4 OR NOT webhook_subscribers.enabled`,
      [envSubscriberId(appId, s.name), appId, s.name, s.url],
    );
  }
  await db.query(
    `UPDATE webhook_subscribers SET enabled = false, updated_at = now()
      WHERE app_id = $1 AND source = 'env' AND enabled AND NOT (name = ANY ($2))`,
    [appId, subscribers.map((s) => s.name)],
  );
}

export async function insertApiSubscriber(
  db: Db,
  s: {
    appId: string;
    name: string;
    url: string;
    eventTypes: string[] | null;
    sealed: (id: string) => Sealed;
  },
): Promise<PublicSubscriber | undefined> {
  const id = `whs_${randomBytes(12).toString('hex')}`;
  const secret = s.sealed(id);
  const { rows } = await db.query<PublicSubscriber>(
    `INSERT INTO webhook_subscribers (id, app_id, name, url, source, event_types, key_id, secret_ct)
     VALUES ($1, $2, $3, $4, 'api', $5, $6, $7) ON CONFLICT (app_id, name) WHERE enabled DO NOTHING
     RETURNING ${SUBSCRIBER_COLUMNS}`,
    [id, s.appId, s.name, s.url, s.eventTypes, secret.keyId, secret.box],
  );
  return rows[0];
}

export async function listSubscribers(db: Db, appId: string): Promise<PublicSubscriber[]> {
  const { rows } = await db.query<PublicSubscriber>(
    `SELECT ${SUBSCRIBER_COLUMNS} FROM webhook_subscribers WHERE app_id = $1 AND enabled ORDER BY name`,
    [appId],
  );
  return rows;
}

export async function getSubscriber(db: Db, id: string): Promise<SubscriberRow | undefined> {
  const { rows } = await db.query<SubscriberRow>('SELECT * FROM webhook_subscribers WHERE id = $1', [id]);
  return rows[0];
}

/**
 * A new secret signs from now on; the current one becomes the previous and keeps signing until
 * `previousValidUntil`, so receivers can switch over without missing a delivery. Only API
 * subscribers: env subscribers rotate by listing two secrets in WEBHOOK_URLS.
 */
export async function rotateSubscriberSecret(
  db: Db,
  appId: string,
  id: string,
  sealed: Sealed,
  previousValidUntil: Date,
): Promise<PublicSubscriber | undefined> {
  const { rows } = await db.query<PublicSubscriber>(
    `UPDATE webhook_subscribers SET previous_key_id = key_id, previous_secret_ct = secret_ct,
            previous_valid_until = $5, key_id = $3, secret_ct = $4, updated_at = now()
      WHERE id = $1 AND app_id = $2 AND source = 'api' AND enabled
      RETURNING ${SUBSCRIBER_COLUMNS}`,
    [id, appId, sealed.keyId, sealed.box, previousValidUntil],
  );
  return rows[0];
}

/** Stops new deliveries to an API subscriber; its past deliveries stay visible. */
export async function disableSubscriber(db: Db, appId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE webhook_subscribers SET enabled = false, updated_at = now()
      WHERE id = $1 AND app_id = $2 AND source = 'api' AND enabled`,
    [id, appId],
  );
  return rowCount === 1;
}

interface SealedSecrets {
  id: string;
  key_id: string;
  secret_ct: Buffer;
  previous_key_id: string | null;
  previous_secret_ct: Buffer | null;
}

/**
 * Re-seals an app's API subscribers' signing secrets (and a previous one still kept) under the
 * active key, for keys:rotate: once it ran, the old key can leave the ring. A rotation of the
 * secret meanwhile wins: the row is only rewritten while it holds what was read.
 */
export async function reencryptWebhookSecrets(db: Db, cipher: TokenCipher, appId: string): Promise<number> {
  const active = cipher.activeKeyId;
  const { rows } = await db.query<SealedSecrets>(
    `SELECT id, key_id, secret_ct, previous_key_id, previous_secret_ct FROM webhook_subscribers
      WHERE app_id = $1 AND source = 'api' AND (key_id <> $2 OR previous_key_id <> $2)`,
    [appId, active],
  );
  let rotated = 0;
  for (const row of rows) {
    const ctx = { appId, openId: row.id, kind: 'webhook_secret' } as const;
    const reseal = (keyId: string, box: Buffer) => cipher.seal(cipher.open({ keyId, box }, ctx), ctx);
    const secret = reseal(row.key_id, row.secret_ct);
    const previous =
      row.previous_key_id && row.previous_secret_ct
        ? reseal(row.previous_key_id, row.previous_secret_ct)
        : undefined;
    const { rowCount } = await db.query(
      `UPDATE webhook_subscribers SET key_id = $3, secret_ct = $4, previous_key_id = $5, previous_secret_ct = $6
        WHERE id = $1 AND app_id = $2 AND secret_ct = $7`,
      [row.id, appId, active, secret.box, previous ? active : null, previous?.box ?? null, row.secret_ct],
    );
    rotated += rowCount ?? 0;
  }
  return rotated;
}
