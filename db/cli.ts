import { loadConfig } from '../lib/config.ts';
import { runMain } from '../lib/main-guard.ts';
import { migrateSchema } from './migrate.ts';

runMain('migrate', async () => {
  const applied = await migrateSchema(loadConfig());
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
});
