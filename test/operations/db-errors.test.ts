import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDb, inTransaction } from '../../lib/db.ts';
import { countDbErrors, dbErrors } from '../../lib/metrics.ts';
import { freePort } from '../../scripts/stack/free-port.ts';

/** db_errors_total for one operation, in this process's registry. */
async function counted(operation: string): Promise<number> {
  const { values } = await dbErrors.get();
  return values.find((v) => v.labels.operation === operation)?.value ?? 0;
}

describe('countDbErrors', () => {
  const pool = createDb(inject('databaseUrl'), 2);
  afterAll(() => pool.end());
  // Each test counts under a label of its own.
  const label = () => `test_${randomBytes(4).toString('hex')}`;

  it('counts a failed query under the operation named at the call, and rethrows it unchanged', async () => {
    const operation = label();
    const db = countDbErrors(pool, () => operation);
    await expect(db.query('SELECT 1 FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    expect(await counted(operation)).toBe(1);
    expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(await counted(operation)).toBe(1);
  });

  it('counts the queries of a transaction, and leaves the pool usable', async () => {
    const operation = label();
    const db = countDbErrors(pool, () => operation);
    await expect(inTransaction(db, (tx) => tx.query('SELECT 1/0'))).rejects.toMatchObject({ code: '22012' });
    expect(await counted(operation)).toBe(1);
    expect((await inTransaction(db, (tx) => tx.query('SELECT 2 AS two'))).rows).toEqual([{ two: 2 }]);
  });

  it('counts a connection that cannot be made', async () => {
    const operation = label();
    const url = new URL(inject('databaseUrl'));
    url.port = String(await freePort());
    const unreachable = createDb(url.href, 1);
    const db = countDbErrors(unreachable, () => operation);
    await expect(db.query('SELECT 1')).rejects.toThrow();
    await expect(db.connect()).rejects.toThrow();
    expect(await counted(operation)).toBe(2);
    await unreachable.end();
  });
});
