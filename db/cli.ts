import { loadConfig } from '../lib/config';
import { runMain } from '../lib/main-guard';
import { migrateSchema } from './migrate';

runMain('migrate', async () => {
  const applied = await migrateSchema(loadConfig());
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
});
