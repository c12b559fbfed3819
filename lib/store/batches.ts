import { inTransaction, type Db, type Queryable } from '../db.ts';
import type { Locale } from '../grant-types.ts';

export type BatchKind = 'request' | 'revoke';

/** What one user of a batch came to; 'queued' until the batch reaches them. */
export const BATCH_RESULTS = [
  'queued',
  'card_sent',
  'already_authorized',
  'card_refused',
  'revoked',
  'no_grant',
  'failed',
] as const;
export type BatchResult = (typeof BATCH_RESULTS)[number];

/** What every user's request in a batch carries (a revocation carries none of it). */
export interface BatchOptions {
  scopes?: string[];
  expires_in_seconds?: number;
  locale?: Locale;
  chat_id?: string;
}

export interface BatchRow {
  app_id: string;
  batch_id: string;
  kind: BatchKind;
  fingerprint: string;
  options: BatchOptions;
  requested_by: string | null;
  total: number;
  created_at: Date;
  finished_at: Date | null;
}

export interface BatchItemRow {
  position: number;
  open_id: string;
  result: BatchResult;
  reason: string | null;
  authorization_id: string | null;
  updated_at: Date;
}

export interface NewBatch {
  appId: string;
  batchId: string;
  kind: BatchKind;
  fingerprint: string;
  options: BatchOptions;
  requestedBy: string | undefined;
  openIds: string[];
}

export async function getBatch(db: Queryable, appId: string, batchId: string): Promise<BatchRow | undefined> {
  const { rows } = await db.query<BatchRow>(
    'SELECT * FROM authorization_batches WHERE app_id = $1 AND batch_id = $2',
    [appId, batchId],
  );
  return rows[0];
}

/**
 * Stores a batch and its users in one transaction; when the id is taken already (a repeated or
 * racing request), stores nothing and returns the batch that holds it.
 */
export async function insertBatch(db: Db, batch: NewBatch): Promise<{ row: BatchRow; created: boolean }> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<BatchRow>(
      `INSERT INTO authorization_batches (app_id, batch_id, kind, fingerprint, options, requested_by, total)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT DO NOTHING RETURNING *`,
      [
        batch.appId,
        batch.batchId,
        batch.kind,
        batch.fingerprint,
        batch.options,
        batch.requestedBy ?? null,
        batch.openIds.length,
      ],
    );
    if (!rows[0]) return { row: (await getBatch(client, batch.appId, batch.batchId))!, created: false };
    await client.query(
      `INSERT INTO authorization_batch_items (app_id, batch_id, position, open_id)
       SELECT $1, $2, position - 1, open_id FROM unnest($3::text[]) WITH ORDINALITY AS u(open_id, position)`,
      [batch.appId, batch.batchId, batch.openIds],
    );
    return { row: rows[0], created: true };
  });
}

/** One user of a batch, with what the batch asks for them. */
export interface BatchWork {
  kind: BatchKind;
  options: BatchOptions;
  requestedBy: string | null;
  openId: string;
  result: BatchResult;
}

export async function getBatchWork(
  db: Db,
  appId: string,
  batchId: string,
  position: number,
): Promise<BatchWork | undefined> {
  const { rows } = await db.query<BatchWork>(
    `SELECT b.kind, b.options, b.requested_by AS "requestedBy", i.open_id AS "openId", i.result
       FROM authorization_batch_items i JOIN authorization_batches b USING (app_id, batch_id)
      WHERE i.app_id = $1 AND i.batch_id = $2 AND i.position = $3`,
    [appId, batchId, position],
  );
  return rows[0];
}

export interface BatchItemOutcome {
  result: Exclude<BatchResult, 'queued'>;
  reason?: string;
  authorizationId?: string;
}

/** Writes a user's result once: a retried activity finds it written and leaves it. */
export async function settleBatchItem(
  db: Db,
  appId: string,
  batchId: string,
  position: number,
  outcome: BatchItemOutcome,
): Promise<void> {
  await db.query(
    `UPDATE authorization_batch_items
        SET result = $4, reason = $5, authorization_id = $6, updated_at = now()
      WHERE app_id = $1 AND batch_id = $2 AND position = $3 AND result = 'queued'`,
    [appId, batchId, position, outcome.result, outcome.reason ?? null, outcome.authorizationId ?? null],
  );
}

export async function finishBatch(db: Db, appId: string, batchId: string): Promise<void> {
  await db.query(
    `UPDATE authorization_batches SET finished_at = now()
      WHERE app_id = $1 AND batch_id = $2 AND finished_at IS NULL`,
    [appId, batchId],
  );
}

/** How many users of a batch came to each result. */
export async function batchCounts(
  db: Db,
  appId: string,
  batchId: string,
): Promise<Partial<Record<BatchResult, number>>> {
  const { rows } = await db.query<{ result: BatchResult; n: number }>(
    `SELECT result, count(*)::int AS n FROM authorization_batch_items
      WHERE app_id = $1 AND batch_id = $2 GROUP BY result`,
    [appId, batchId],
  );
  return Object.fromEntries(rows.map((r) => [r.result, r.n]));
}

/** A page of a batch's users in the order they are processed, after position `after`. */
export async function batchItems(
  db: Db,
  appId: string,
  batchId: string,
  page: { after?: number; limit: number },
): Promise<BatchItemRow[]> {
  const { rows } = await db.query<BatchItemRow>(
    `SELECT position, open_id, result, reason, authorization_id, updated_at FROM authorization_batch_items
      WHERE app_id = $1 AND batch_id = $2 AND position > $3 ORDER BY position LIMIT $4`,
    [appId, batchId, page.after ?? -1, page.limit],
  );
  return rows;
}
