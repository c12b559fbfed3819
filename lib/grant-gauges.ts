import type { Db } from './db.ts';
import { GRANT_STATUSES } from './grant-types.ts';
import { dbErrors, grantsByStatus, grantsExpiringSoon } from './metrics.ts';

/** Refreshes the grants-by-status gauges from PostgreSQL, the source of truth. */
export async function updateGrantGauges(
  db: Db,
  grantMaxAgeSeconds: number,
  noticeSeconds: number,
): Promise<void> {
  try {
    const { rows } = await db.query<{ status: string; count: string; expiring: string }>(
      `SELECT status, count(*) AS count,
              count(*) FILTER (WHERE status = 'authorized'
                AND authorized_at + make_interval(secs => $1) < now() + make_interval(secs => $2)) AS expiring
         FROM grants GROUP BY status`,
      [grantMaxAgeSeconds, noticeSeconds],
    );
    for (const status of GRANT_STATUSES)
      grantsByStatus.set({ status }, Number(rows.find((r) => r.status === status)?.count ?? 0));
    grantsExpiringSoon.set(rows.reduce((sum, r) => sum + Number(r.expiring), 0));
  } catch {
    dbErrors.inc({ operation: 'grant_gauges' });
  }
}
