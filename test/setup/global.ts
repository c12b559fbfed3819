import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../db/migrate.ts';
import { ensureDebianPackages, TEST_TOOLS } from '../../scripts/stack/debian-packages.ts';
import { freePort } from '../../scripts/stack/free-port.ts';
import { dropDatabase, ensureLocalPostgres, listDatabases } from '../../scripts/stack/postgres.ts';
import { findOrBuildTemporalCli } from '../../scripts/stack/temporal-cli.ts';
import { ensureDevServer } from '../../scripts/stack/temporal-server.ts';
import { findOrBuildTimeSkippingServer } from '../../scripts/stack/time-skipping-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATABASE_PREFIX = 'feishu_user_auth_test_';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    temporalAddress: string;
    /** Executable of the Java time-skipping test server; see test/helpers/time-skipping.ts. */
    timeSkippingServer: string;
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Databases left by test runs that died before their teardown. */
async function dropAbandonedDatabases(): Promise<void> {
  for (const name of await listDatabases(DATABASE_PREFIX)) {
    const pid = Number(name.slice(DATABASE_PREFIX.length));
    if (!isAlive(pid)) await dropDatabase(name);
  }
}

/**
 * Provisions what the integration tests need, once per run: Chromium and promtool when the machine
 * lacks them, a database and an in-memory Temporal dev server of this run's own (so `npm test` runs
 * beside `npm start` and beside another `npm test`), and the time-skipping test server's executable
 * (each lifetime test starts its own).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // First, so a machine that cannot install them stops before anything is started.
  await ensureDebianPackages(TEST_TOOLS);
  const timeSkippingServer = await findOrBuildTimeSkippingServer();
  const database = `${DATABASE_PREFIX}${process.pid}`;
  const pg = await ensureLocalPostgres(database, { fresh: true });
  await dropAbandonedDatabases();
  await migrate(pg.databaseUrl);
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: await freePort(),
    logFile: path.join(root, '.data', 'test', `temporal-${process.pid}.log`),
    namespace: 'default',
  });
  project.provide('databaseUrl', pg.databaseUrl);
  project.provide('temporalAddress', server.address);
  project.provide('timeSkippingServer', timeSkippingServer);
  return async () => {
    await server.stop();
    await dropDatabase(database);
    // PostgreSQL stays up: another run or `npm start` may be using the same cluster.
  };
}
