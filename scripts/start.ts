import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateSchema } from '../db/migrate.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { assertDatabaseReachable, createDb } from '../lib/db.ts';
import { connectTemporal } from '../lib/temporal.ts';
import { step } from './stack/progress.ts';
import { ensureLocalPostgres } from './stack/postgres.ts';
import { Supervisor } from './stack/processes.ts';
import { startSandboxProcess, useLocalSandbox } from './stack/sandbox.ts';
import { waitFor } from './stack/run.ts';
import { findOrBuildTemporalCli } from './stack/temporal-cli.ts';
import { ensureDevServer } from './stack/temporal-server.ts';
import { loadLocalEnv, uiCodecEndpoint } from './stack/local-env.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const API_PORT = Number(process.env.PORT ?? 3000);
const SANDBOX_PORT = Number(process.env.SANDBOX_PORT ?? 3100);
const TEMPORAL_PORT = 7233;
const TEMPORAL_UI_PORT = 8233;

/** Fails with one line naming the variable when an external PostgreSQL or Temporal is unreachable. */
async function assertReachable(config: Config): Promise<void> {
  const db = createDb(config.DATABASE_URL, 1);
  try {
    await assertDatabaseReachable(db, config.DATABASE_URL);
  } finally {
    await db.end();
  }
  const temporal = await connectTemporal(config);
  await temporal.connection.close();
}

/** What this run started, stopped in reverse order on Ctrl-C or on a start-up failure. */
const cleanups: (() => Promise<void>)[] = [];

async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups.length = 0;
}

async function main(): Promise<void> {
  const started = Date.now();
  loadLocalEnv(root);
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(API_PORT) };
  env.PUBLIC_BASE_URL ??= `http://localhost:${API_PORT}`;
  env.CODEC_CORS_ORIGINS ??= `http://localhost:${TEMPORAL_UI_PORT},http://127.0.0.1:${TEMPORAL_UI_PORT}`;

  if (!env.DATABASE_URL) {
    const pg = await ensureLocalPostgres('feishu_user_auth');
    env.DATABASE_URL = pg.databaseUrl;
    cleanups.push(() => pg.stop());
  }
  if (!env.TEMPORAL_ADDRESS) {
    const server = await ensureDevServer({
      cli: await findOrBuildTemporalCli(),
      port: TEMPORAL_PORT,
      uiPort: TEMPORAL_UI_PORT,
      dbFile: path.join(root, '.data', 'temporal', 'dev.db'),
      logFile: path.join(root, '.data', 'temporal', 'server.log'),
      namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      codecEndpoint: uiCodecEndpoint(env),
    });
    env.TEMPORAL_ADDRESS = server.address;
    cleanups.push(() => server.stop());
  }

  const useSandbox = !env.FEISHU_APP_ID;
  if (useSandbox) useLocalSandbox(env, SANDBOX_PORT);
  const config = loadConfig(env);
  await assertReachable(config);
  step('applying database migrations');
  const applied = await migrateSchema(config);
  if (applied.length > 0) step(`applied ${applied.length} migration(s)`);

  const supervisor = new Supervisor(root);
  cleanups.push(() => supervisor.stop());
  if (useSandbox) await startSandboxProcess(supervisor, env, config, SANDBOX_PORT);
  supervisor.start('worker', 'workers/main.ts', env);
  supervisor.start('api', 'api/main.ts', env);
  await waitFor('the API', async () => (await fetch(`http://127.0.0.1:${API_PORT}/readyz`)).ok, 90_000);

  const apiKey = config.API_KEYS[0];
  const lines = [
    '',
    `feishu-user-auth is up (${((Date.now() - started) / 1000).toFixed(1)}s)`,
    `  API              ${config.PUBLIC_BASE_URL}   (readiness: /readyz)`,
    // /metrics is not on the public port: the API and the worker serve it on ports of their own.
    `  Metrics          http://127.0.0.1:${config.API_METRICS_PORT}/metrics (API), ` +
      `:${config.WORKER_METRICS_PORT}/metrics and :${config.WORKER_SDK_METRICS_PORT}/metrics (worker, its Temporal SDK)`,
    `  Temporal Web UI  http://localhost:${TEMPORAL_UI_PORT}   (namespace ${config.TEMPORAL_NAMESPACE})`,
    useSandbox
      ? `  Feishu sandbox   ${config.FEISHU_DOMAIN}/   (the chat view: DM the bot "授权" to start)`
      : `  Feishu           ${config.FEISHU_DOMAIN}`,
    apiKey
      ? `  API key          "${apiKey.name}" (${apiKey.role}) from ${useSandbox ? '.data/local.env' : 'API_KEYS'}`
      : '',
    '  Ctrl-C stops everything this command started.',
    '',
  ];
  process.stdout.write(lines.filter((l) => l !== '').join('\n') + '\n');

  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  step('stopping');
  await cleanUp();
  step('stopped');
}

main().catch(async (err: unknown) => {
  process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanUp();
  process.exit(1);
});
