import { connectOrExplain, connectTemporal, temporalConnectionOptions } from '../lib/temporal.ts';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { migrateSchema } from '../db/migrate.ts';
import { GrantService } from '../api/grants.ts';
import { grantSettingsFrom, loadConfig, requireFeishuApp } from '../lib/config.ts';
import { assertDatabaseReachable, createDb } from '../lib/db.ts';
import { createServiceDeps } from '../lib/feishu-deps.ts';
import { createLogger } from '../lib/logger.ts';
import { runMain } from '../lib/main-guard.ts';
import { serveMetrics } from '../lib/metrics-server.ts';
import { temporalLogger } from '../lib/temporal-logger.ts';
import { createGrantWorkers } from './worker.ts';
import { startWebhookDelivery } from './webhook-worker.ts';

/** Webhook deliveries' connections: each holds one for a few ms before and after its request. */
const WEBHOOK_DB_CONNECTIONS = 10;

runMain('worker', async () => {
  const config = loadConfig();
  const logger = createLogger('worker', config.LOG_LEVEL);
  Runtime.install({
    logger: temporalLogger(logger.child({}, { level: 'warn' })),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      metrics: {
        // Prometheus conventions, which monitoring/ queries by: counters end in _total, and
        // durations are histograms in seconds named with their unit (…_latency_seconds_bucket).
        prometheus: {
          bindAddress: `0.0.0.0:${config.WORKER_SDK_METRICS_PORT}`,
          countersTotalSuffix: true,
          unitSuffix: true,
          useSecondsForDurations: true,
        },
      },
    },
  });
  const deps = await createServiceDeps(config, logger);
  await assertDatabaseReachable(deps.db, config.DATABASE_URL);
  await migrateSchema(config);
  const connection = await connectOrExplain(config.TEMPORAL_ADDRESS, () =>
    NativeConnection.connect(temporalConnectionOptions(config)),
  );
  // Batch and callback activities ask grants as the API does: update-with-start through a client
  // of their own, with the API's default flow for requests that name none (DMs, Retry).
  const client = await connectTemporal(config);
  const grants = new GrantService(
    client,
    requireFeishuApp(config).appId,
    config.TEMPORAL_TASK_QUEUE,
    grantSettingsFrom(config),
    config.FEISHU_AUTH_FLOW,
  );
  const workers = await createGrantWorkers({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps,
    payloadCodecKeys: config.PAYLOAD_CODEC_KEYS,
    refreshesPerSecond: config.REFRESH_RATE_PER_SECOND,
    grants,
    batch: { cardsPerSecond: config.BATCH_CARDS_PER_SECOND },
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
  });
  const webhookDb = createDb(config.DATABASE_URL, WEBHOOK_DB_CONNECTIONS);
  const webhooks = await startWebhookDelivery({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    appId: deps.feishu.settings.appId,
    // A pool of its own: a hundred deliveries in flight must not queue the grants' queries.
    deps: { ...deps, db: webhookDb },
    config,
    payloadCodecKeys: config.PAYLOAD_CODEC_KEYS,
    shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
  });
  workers.push(webhooks.worker);
  const metrics = await serveMetrics(config.WORKER_METRICS_PORT);
  logger.info(
    { taskQueue: config.TEMPORAL_TASK_QUEUE, metricsPort: config.WORKER_METRICS_PORT },
    'worker started; SIGINT or SIGTERM drains it',
  );
  // The Temporal runtime turns SIGINT/SIGTERM into a graceful shutdown of every worker: polling
  // stops, and activities in flight get WORKER_SHUTDOWN_GRACE_SECONDS to finish.
  await Promise.all(workers.map((w) => w.run()));
  await webhooks.stopDispatcher();
  await webhookDb.end();
  metrics.close();
  await deps.db.end();
  await client.connection.close();
  await connection.close();
  logger.info('worker stopped');
});
