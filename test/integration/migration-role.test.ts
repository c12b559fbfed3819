import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate, migrateSchema } from '../../db/migrate.ts';
import { loadConfig } from '../../lib/config.ts';
import { createDb } from '../../lib/db.ts';
import { asPostgres, dropDatabase, ensureLoginRole } from '../../scripts/stack/postgres.ts';
import { authorize } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const RUNTIME_ROLE = 'feishu_user_auth_runtime_test';
const RUNTIME_PASSWORD = 'feishu_user_auth_runtime_test_dev';

/**
 * The deployment docs' split: migrations run as the database's owner (DATABASE_MIGRATION_URL),
 * the service as a role with DML rights only (DATABASE_URL), on a database of this test's own.
 */
describe('a runtime role with DML rights only', () => {
  const database = `feishu_user_auth_roles_${process.pid}`;
  let migrationUrl: string;
  let runtimeUrl: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    const suite = new URL(inject('databaseUrl'));
    await dropDatabase(database);
    await asPostgres(`CREATE DATABASE ${database} OWNER ${decodeURIComponent(suite.username)}`);
    await ensureLoginRole(RUNTIME_ROLE, RUNTIME_PASSWORD);
    // What docs/deployment.md asks of the database administrator, before the first migration.
    await asPostgres(
      `GRANT CONNECT ON DATABASE ${database} TO ${RUNTIME_ROLE};
       GRANT USAGE ON SCHEMA public TO ${RUNTIME_ROLE};
       ALTER DEFAULT PRIVILEGES FOR ROLE ${suite.username} IN SCHEMA public
         GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${RUNTIME_ROLE};
       ALTER DEFAULT PRIVILEGES FOR ROLE ${suite.username} IN SCHEMA public
         GRANT USAGE, SELECT ON SEQUENCES TO ${RUNTIME_ROLE};`,
      database,
    );
    migrationUrl = Object.assign(new URL(suite), { pathname: `/${database}` }).toString();
    runtimeUrl = Object.assign(new URL(migrationUrl), {
      username: RUNTIME_ROLE,
      password: RUNTIME_PASSWORD,
    }).toString();
  });
  afterAll(async () => {
    await stack?.close();
    await dropDatabase(database);
  });

  it('migrations run with DATABASE_MIGRATION_URL, and the runtime role may not change the schema', async () => {
    const config = loadConfig({
      DATABASE_URL: runtimeUrl,
      DATABASE_MIGRATION_URL: migrationUrl,
      TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      PAYLOAD_CODEC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
    });
    await expect(migrate(config.DATABASE_URL)).rejects.toThrow(/permission denied/);
    expect((await migrateSchema(config)).length).toBeGreaterThan(0);
    // A process started without DATABASE_MIGRATION_URL only checks that nothing is pending.
    expect(await migrate(config.DATABASE_URL)).toEqual([]);

    const db = createDb(runtimeUrl, 1);
    try {
      await expect(db.query('CREATE TABLE runtime_may_not (id int)')).rejects.toThrow(/permission denied/);
      await expect(db.query('DROP TABLE grants')).rejects.toThrow(/must be owner/);
    } finally {
      await db.end();
    }
  });

  it('the service authorizes, serves a token and revokes as the runtime role', async () => {
    stack = await startStack({
      infra: { databaseUrl: runtimeUrl, temporalAddress: inject('temporalAddress') },
    });
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId, ['calendar:calendar:readonly']);
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
    expect((await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' })).status).toBe(200);
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(410);
    const history = (await (await stack.api(`/v1/users/${openId}/history`)).json()) as { items: unknown[] };
    expect(history.items.length).toBeGreaterThan(0);
  });
});
