import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Config } from '../lib/config.ts';

const migrationsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const LOCK_WAIT_MS = 30_000;

/**
 * Applies every pending migration; safe to call on each start. Several processes (API and
 * worker, or replicas) may start together: node-pg-migrate's lock lets one run and refuses the
 * others, which wait for it and then find nothing left to do.
 */
export async function migrate(
  databaseUrl: string,
  log: (msg: string) => void = () => undefined,
): Promise<string[]> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const applied = await runner({
        databaseUrl,
        dir: migrationsDir,
        direction: 'up',
        migrationsTable: 'pgmigrations',
        checkOrder: true,
        log,
      });
      return applied.map((m) => m.name);
    } catch (err) {
      if (!/Another migration is already running/.test((err as Error).message) || Date.now() > deadline)
        throw err;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
    }
  }
}

/** Migrates with DATABASE_MIGRATION_URL when set, so the runtime role needs no schema rights. */
export function migrateSchema(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_MIGRATION_URL'>,
  log?: (msg: string) => void,
): Promise<string[]> {
  return migrate(config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL, log);
}
