import pg from 'pg';

export type Db = pg.Pool;

/** A pool or a client inside a transaction: store functions take either. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

export function createDb(databaseUrl: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs fn inside one transaction on one client. */
export async function inTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** host:port/db of a database URL, without the password. */
export function describeDatabaseUrl(databaseUrl: string): string {
  try {
    const u = new URL(databaseUrl);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** One round trip, turning a driver stack trace into one line naming DATABASE_URL's host. */
export async function assertDatabaseReachable(db: Db, databaseUrl: string): Promise<void> {
  try {
    await db.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `cannot connect to PostgreSQL at ${describeDatabaseUrl(databaseUrl)} (DATABASE_URL): ${(err as Error).message}`,
    );
  }
}
