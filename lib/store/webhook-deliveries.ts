import type pg from 'pg';
import type { Db, Queryable } from '../db.ts';

/** How many outbox rows or deliveries the dispatcher takes per round. */
const BATCH = 500;

export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'cancelled';

/** One subscriber's deliveries for one grant: what a delivery workflow works through, in order. */
export interface DeliveryGroup {
  subscriberId: string;
  openId: string;
}

/**
 * Turns an app's new events into one pending delivery per subscriber that wants them, each to be
 * given up `retryWindowSeconds` from now. Several dispatchers may run: each takes other events.
 */
export async function fanOutEvents(db: Db, appId: string, retryWindowSeconds: number): Promise<number> {
  const { rows } = await db.query<{ events: string }>(
    `WITH events AS (
       SELECT id, type FROM webhook_events WHERE app_id = $1 AND NOT fanned_out
        ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
     ), marked AS (
       UPDATE webhook_events e SET fanned_out = true FROM events WHERE e.id = events.id
     ), made AS (
       INSERT INTO webhook_deliveries (event_id, subscriber_id, give_up_at)
       SELECT events.id, s.id, now() + make_interval(secs => $2)
         FROM events JOIN webhook_subscribers s
           ON s.app_id = $1 AND s.enabled AND (s.event_types IS NULL OR events.type = ANY (s.event_types))
       ON CONFLICT DO NOTHING
     )
     SELECT count(*) AS events FROM events`,
    [appId, retryWindowSeconds, BATCH],
  );
  return Number(rows[0]!.events);
}

/**
 * Locks the app's pending deliveries whose workflow was not told yet and returns their groups.
 * Call inside a transaction, tell the workflows, then markWoken: a crash in between rolls back,
 * and the next round tells them again (a workflow takes a repeated wake-up in its stride).
 */
export async function lockUnwokenGroups(
  tx: pg.PoolClient,
  appId: string,
): Promise<{ ids: string[]; groups: DeliveryGroup[] }> {
  const { rows } = await tx.query<{ id: string; subscriber_id: string; open_id: string }>(
    `SELECT d.id, d.subscriber_id, e.open_id FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
      WHERE NOT d.woken AND d.status = 'pending' AND e.app_id = $1
      LIMIT $2 FOR UPDATE OF d SKIP LOCKED`,
    [appId, BATCH],
  );
  const groups = new Map<string, DeliveryGroup>();
  for (const row of rows) {
    groups.set(`${row.subscriber_id}\n${row.open_id}`, {
      subscriberId: row.subscriber_id,
      openId: row.open_id,
    });
  }
  return { ids: rows.map((r) => r.id), groups: [...groups.values()] };
}

export async function markWoken(db: Queryable, ids: string[]): Promise<void> {
  await db.query('UPDATE webhook_deliveries SET woken = true WHERE id = ANY ($1)', [ids]);
}

/**
 * Deliveries that should have been tried by now but were not (their workflow was terminated by
 * hand, say) are told again: nothing waits longer than the longest back-off without an attempt.
 */
export async function rewakeStalled(db: Db, appId: string, stalledAfterSeconds: number): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE webhook_deliveries d SET woken = false FROM webhook_events e
      WHERE e.id = d.event_id AND e.app_id = $1 AND d.status = 'pending' AND d.woken
        AND COALESCE(d.last_attempt_at, d.created_at) < now() - make_interval(secs => $2)`,
    [appId, stalledAfterSeconds],
  );
  return rowCount ?? 0;
}

export interface PendingDelivery {
  id: string;
  giveUpAt: number;
}

/** A group's pending deliveries in the order their events happened. */
export async function pendingDeliveries(
  db: Db,
  group: DeliveryGroup & { appId: string },
): Promise<PendingDelivery[]> {
  const { rows } = await db.query<{ id: string; give_up_at: Date }>(
    `SELECT d.id, d.give_up_at FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
      WHERE d.subscriber_id = $1 AND d.status = 'pending' AND e.app_id = $2 AND e.open_id = $3
      ORDER BY e.seq LIMIT $4`,
    [group.subscriberId, group.appId, group.openId, BATCH],
  );
  return rows.map((r) => ({ id: r.id, giveUpAt: r.give_up_at.getTime() }));
}

/** Everything one delivery attempt needs: the event, where to send it, and how to sign it. */
export interface DeliveryToSend {
  id: string;
  status: DeliveryStatus;
  event_id: string;
  type: string;
  occurred_at: Date;
  app_id: string;
  open_id: string;
  grant_status: string;
  scopes: string[];
  reason: string | null;
  subscriber_id: string;
  subscriber_name: string;
  url: string;
  source: 'env' | 'api';
  enabled: boolean;
  key_id: string | null;
  secret_ct: Buffer | null;
  previous_key_id: string | null;
  previous_secret_ct: Buffer | null;
  previous_valid_until: Date | null;
}

export async function deliveryToSend(db: Db, id: string): Promise<DeliveryToSend | undefined> {
  const { rows } = await db.query<DeliveryToSend>(
    `SELECT d.id, d.status, e.id AS event_id, e.type, e.occurred_at, e.app_id, e.open_id,
            e.status AS grant_status, e.scopes, e.reason, s.id AS subscriber_id, s.name AS subscriber_name,
            s.url, s.source, s.enabled, s.key_id, s.secret_ct, s.previous_key_id, s.previous_secret_ct,
            s.previous_valid_until
       FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       JOIN webhook_subscribers s ON s.id = d.subscriber_id
      WHERE d.id = $1`,
    [id],
  );
  return rows[0];
}

/** One try's outcome; a 2xx settles the delivery. Only a pending delivery changes. */
export async function recordAttempt(
  db: Db,
  id: string,
  attempt: { httpStatus?: number; error?: string; delivered: boolean },
): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries SET attempts = attempts + 1, last_http_status = $2, last_error = $3,
            last_attempt_at = now(),
            status = CASE WHEN $4 THEN 'delivered' ELSE status END,
            settled_at = CASE WHEN $4 THEN now() ELSE settled_at END
      WHERE id = $1 AND status = 'pending'`,
    [id, attempt.httpStatus ?? null, attempt.error ?? null, attempt.delivered],
  );
}

/** Ends a pending delivery: dead (retries ran out) or cancelled (its subscriber was removed). */
export async function settleUndelivered(
  db: Db,
  id: string,
  status: 'dead' | 'cancelled',
): Promise<{ subscriber_name: string } | undefined> {
  const { rows } = await db.query<{ subscriber_name: string }>(
    `UPDATE webhook_deliveries d SET status = $2, settled_at = now() FROM webhook_subscribers s
      WHERE d.id = $1 AND d.status = 'pending' AND s.id = d.subscriber_id
      RETURNING s.name AS subscriber_name`,
    [id, status],
  );
  return rows[0];
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  open_id: string;
  occurred_at: Date;
  subscriber_id: string;
  subscriber_name: string;
  status: DeliveryStatus;
  attempts: number;
  last_http_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  give_up_at: Date;
  created_at: Date;
  settled_at: Date | null;
}

const DELIVERY_SELECT = `SELECT d.id::text, d.event_id, e.type AS event_type, e.open_id, e.occurred_at, d.subscriber_id,
       s.name AS subscriber_name, d.status, d.attempts, d.last_http_status, d.last_error, d.last_attempt_at,
       d.give_up_at, d.created_at, d.settled_at
  FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
  JOIN webhook_subscribers s ON s.id = d.subscriber_id`;

/** An app's deliveries, newest first, by event and status; `before` pages by delivery id. */
export async function listDeliveries(
  db: Db,
  appId: string,
  filter: { eventId?: string; status?: DeliveryStatus; before?: string; limit: number },
): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `${DELIVERY_SELECT}
      WHERE e.app_id = $1 AND ($2::uuid IS NULL OR d.event_id = $2) AND ($3::text IS NULL OR d.status = $3)
        AND ($4::bigint IS NULL OR d.id < $4)
      ORDER BY d.id DESC LIMIT $5`,
    [appId, filter.eventId ?? null, filter.status ?? null, filter.before ?? null, filter.limit],
  );
  return rows;
}

export async function eventExists(db: Db, appId: string, eventId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM webhook_events WHERE app_id = $1 AND id = $2', [
    appId,
    eventId,
  ]);
  return rowCount === 1;
}

/**
 * Puts an event's dead-lettered deliveries back in line with a fresh retry window; the
 * dispatcher wakes their workflows. Returns those replayed.
 */
export async function replayDeadDeliveries(
  db: Db,
  appId: string,
  eventId: string,
  retryWindowSeconds: number,
): Promise<DeliveryRow[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE webhook_deliveries d SET status = 'pending', woken = false, settled_at = NULL,
            give_up_at = now() + make_interval(secs => $3)
       FROM webhook_events e
      WHERE e.id = d.event_id AND e.app_id = $1 AND d.event_id = $2 AND d.status = 'dead'
      RETURNING d.id::text`,
    [appId, eventId, retryWindowSeconds],
  );
  if (rows.length === 0) return [];
  await db.query("SELECT pg_notify('webhook_outbox', $1)", [appId]);
  const { rows: replayed } = await db.query<DeliveryRow>(
    `${DELIVERY_SELECT} WHERE d.id = ANY ($1) ORDER BY d.id`,
    [rows.map((r) => r.id)],
  );
  return replayed;
}
