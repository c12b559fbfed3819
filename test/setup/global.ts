import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../db/migrate';
import { ensureLocalPostgres } from '../../scripts/stack/postgres';
import { findOrBuildTemporalCli } from '../../scripts/stack/temporal-cli';
import { ensureDevServer } from '../../scripts/stack/temporal-server';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The suite's own Temporal port and database, so `npm test` runs beside a live `npm start`. */
export const TEST_TEMPORAL_PORT = 17233;
const TEST_DATABASE = 'feishu_user_auth_test';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    temporalAddress: string;
  }
}

/**
 * Provisions what the integration tests need, once per run: a fresh PostgreSQL database with
 * migrations applied and an in-memory Temporal dev server.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await ensureLocalPostgres(TEST_DATABASE, { fresh: true });
  await migrate(pg.databaseUrl);
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: TEST_TEMPORAL_PORT,
    logFile: path.join(root, '.data', 'test', 'temporal.log'),
    namespace: 'default',
  });
  project.provide('databaseUrl', pg.databaseUrl);
  project.provide('temporalAddress', server.address);
  return async () => {
    await server.stop();
    await pg.stop();
  };
}
