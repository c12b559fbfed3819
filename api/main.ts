import type { Server } from 'node:http';
import { migrateSchema } from '../db/migrate.ts';
import { grantSettingsFrom, loadConfig, requireFeishuApp } from '../lib/config.ts';
import { assertDatabaseReachable, createDb } from '../lib/db.ts';
import { updateGrantGauges } from '../lib/grant-gauges.ts';
import { createFeishuGateway } from '../lib/feishu-deps.ts';
import { createLogger } from '../lib/logger.ts';
import { runMain } from '../lib/main-guard.ts';
import { serveMetrics } from '../lib/metrics-server.ts';
import { connectTemporal } from '../lib/temporal.ts';
import { TokenCipher, sodiumReady } from '../lib/token-crypto.ts';
import { DEFAULT_GRANT_SETTINGS } from '../lib/grant-types.ts';
import { createApp } from './app.ts';
import { startLongConnection } from './feishu/long-connection.ts';
import { GrantService } from './grants.ts';

const GAUGE_INTERVAL_MS = 30_000;

runMain('api', async () => {
  const config = loadConfig();
  const logger = createLogger('api', config.LOG_LEVEL);
  const { appId, appSecret } = requireFeishuApp(config);
  await sodiumReady();
  const db = createDb(config.DATABASE_URL, 20);
  await assertDatabaseReachable(db, config.DATABASE_URL);
  await migrateSchema(config);
  const temporal = await connectTemporal(config);
  const grants = new GrantService(
    temporal,
    appId,
    config.TEMPORAL_TASK_QUEUE,
    grantSettingsFrom(config),
    config.FEISHU_AUTH_FLOW,
  );
  const feishu = createFeishuGateway(config, logger);
  const { app, handlers, stop } = createApp({
    config,
    db,
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    temporal,
    grants,
    feishu,
    logger,
    accessTokenMarginSeconds: config.ACCESS_TOKEN_MARGIN_SECONDS,
  });
  const refreshGauges = () =>
    updateGrantGauges(
      db,
      DEFAULT_GRANT_SETTINGS.grantMaxAgeSeconds,
      DEFAULT_GRANT_SETTINGS.renewNoticeSeconds,
    );
  // Once now, so the first scrape after a start already has the grant counts.
  await refreshGauges();
  const gauges = setInterval(() => void refreshGauges(), GAUGE_INTERVAL_MS);
  // Before the public port: once /readyz answers, Prometheus can scrape too.
  const metrics = await serveMetrics(config.API_METRICS_PORT);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, () => resolve(s)).once('error', reject);
  });
  const longConnection =
    config.FEISHU_CALLBACK_MODE === 'ws'
      ? await startLongConnection({ appId, appSecret, domain: config.FEISHU_DOMAIN, handlers, logger })
      : undefined;
  logger.info(
    {
      port: config.PORT,
      metricsPort: config.API_METRICS_PORT,
      publicBaseUrl: config.PUBLIC_BASE_URL,
      callbackMode: config.FEISHU_CALLBACK_MODE,
    },
    'API listening',
  );

  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  logger.info('shutting down');
  clearInterval(gauges);
  metrics.close();
  longConnection?.close({ force: true });
  await new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await stop();
  await db.end();
  await temporal.connection.close();
  logger.info('API stopped');
});
