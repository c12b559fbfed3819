import { loadConfig } from '../lib/config';
import { runMain } from '../lib/main-guard';
import { migrate } from './migrate';

runMain('migrate', async () => {
  const { DATABASE_URL } = loadConfig();
  const applied = await migrate(DATABASE_URL);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
});
