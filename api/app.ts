import { bodyParser } from '@koa/bodyparser';
import type { Client } from '@temporalio/client';
import Koa from 'koa';
import type { Config } from '../lib/config.ts';
import type { Db } from '../lib/db.ts';
import { EnabledScopes } from '../lib/feishu/enabled-scopes.ts';
import type { FeishuGateway } from '../lib/feishu/gateway.ts';
import type { Logger } from '../lib/logger.ts';
import { SodiumPayloadCodec } from '../lib/payload-codec.ts';
import { httpRequestDuration } from '../lib/metrics.ts';
import { pruneReplayGuard } from '../lib/store/replay-guard.ts';
import type { TokenCipher } from '../lib/token-crypto.ts';
import type { ApiKeyRole } from '../lib/api-key-roles.ts';
import { requireApiKey } from './api-keys.ts';
import { AttemptWaits } from './attempt-waits.ts';
import { audited, auditStream } from './audit.ts';
import { errorHandler } from './errors.ts';
import { createCallbackHandlers, type CallbackHandlers } from './feishu/handlers.ts';
import { userCardLimit } from './feishu/user-limit.ts';
import { httpEventOperations, httpEventRoutes } from './feishu/http-events.ts';
import type { GrantService } from './grants.ts';
import { openApiRoutes, type Operation } from './openapi.ts';
import { BatchService } from './batches.ts';
import { authorizationOperations, authorizationRoutes } from './routes/authorizations.ts';
import { batchOperations, batchRoutes } from './routes/batches.ts';
import { codecOperations, codecRoutes } from './routes/codec.ts';
import { healthOperations, healthRoutes } from './routes/health.ts';
import { rateLimitPerKey } from './rate-limit.ts';
import { oauthCallbackOperations, oauthCallbackRoutes } from './routes/oauth-callback.ts';
import { userOperations, userRoutes } from './routes/users.ts';
import { proxyOperations, proxyRoutes } from './routes/proxy.ts';
import { UserTokens } from './user-tokens.ts';
import { webhookDeliveryOperations, webhookDeliveryRoutes } from './routes/webhook-deliveries.ts';
import { webhookSubscriberOperations, webhookSubscriberRoutes } from './routes/webhook-subscribers.ts';

export interface AppOptions {
  config: Pick<
    Config,
    | 'API_KEYS'
    | 'FEISHU_CALLBACK_MODE'
    | 'FEISHU_ENCRYPT_KEY'
    | 'FEISHU_VERIFICATION_TOKEN'
    | 'PAYLOAD_CODEC_KEYS'
    | 'CODEC_CORS_ORIGINS'
    | 'TEMPORAL_NAMESPACE'
    | 'AUTHORIZATION_REQUESTS_PER_MINUTE'
    | 'AUTHORIZATION_REQUEST_BURST'
    | 'USER_CARD_REQUESTS_PER_MINUTE'
    | 'MAX_WAITING_REQUESTS'
    | 'FEISHU_DOMAIN'
    | 'PROXY_ALLOW'
    | 'PROXY_REQUESTS_PER_MINUTE'
    | 'PROXY_REQUEST_BURST'
    | 'PROXY_USER_REQUESTS_PER_MINUTE'
    | 'PROXY_USER_REQUEST_BURST'
    | 'PROXY_MAX_REQUEST_BYTES'
    | 'PROXY_MAX_RESPONSE_BYTES'
    | 'PROXY_TIMEOUT_SECONDS'
    | 'WEBHOOK_RETRY_WINDOW_SECONDS'
    | 'APP_SCOPES_CACHE_SECONDS'
    | 'TEMPORAL_TASK_QUEUE'
    | 'BATCH_USERS_PER_RUN'
  >;
  db: Db;
  cipher: TokenCipher;
  temporal: Client;
  grants: GrantService;
  /** The app's own Feishu calls: its enabled scopes (checked before a card is sent), chat members. */
  feishu: Pick<FeishuGateway, 'enabledUserScopes' | 'chatMemberOpenIds' | 'sendText'>;
  logger: Logger;
  accessTokenMarginSeconds: number;
}

/** How often a replica deletes replay-guard keys past their window. */
const REPLAY_GUARD_PRUNE_INTERVAL_MS = 10 * 60_000;

export interface Api {
  app: Koa;
  handlers: CallbackHandlers;
  /** Stops the replica's background work; call it before closing the database pool. */
  stop: () => Promise<void>;
}

/** The API as a Koa app, without listening: processes and tests each put it on their own port. */
export function createApp(options: AppOptions): Api {
  const { config, db, cipher, temporal, grants, feishu, logger } = options;
  const enabledScopes = new EnabledScopes(feishu, logger, config.APP_SCOPES_CACHE_SECONDS * 1000);
  const app = new Koa({ proxy: true });
  const handlers = createCallbackHandlers({
    grants,
    db,
    enabledScopes,
    userLimit: userCardLimit(db, config.USER_CARD_REQUESTS_PER_MINUTE),
    feishu,
    logger,
  });
  const stops: (() => Promise<void>)[] = [];
  const operations: Operation[] = [
    ...healthOperations,
    ...oauthCallbackOperations,
    ...codecOperations,
    ...authorizationOperations,
    ...batchOperations,
    ...userOperations,
    ...proxyOperations,
    ...webhookSubscriberOperations,
    ...webhookDeliveryOperations,
  ];

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // @koa/router leaves the matched template (never the raw path with ids) on ctx.routerPath.
      const route = (ctx as { routerPath?: string }).routerPath ?? 'unmatched';
      httpRequestDuration.observe({ route, method: ctx.method, status: String(ctx.status) }, seconds);
      // The path only: the OAuth callback's query string carries a code.
      logger.debug(
        { method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000) },
        'request',
      );
    }
  });
  app.use(errorHandler(logger));

  if (config.FEISHU_CALLBACK_MODE === 'http') {
    // Before the body parser: the signature covers the raw bytes.
    const events = httpEventRoutes({
      db,
      handlers,
      logger,
      encryptKey: config.FEISHU_ENCRYPT_KEY,
      verificationToken: config.FEISHU_VERIFICATION_TOKEN,
    });
    app.use(events.routes());
    operations.push(...httpEventOperations);
    stops.push(pruneReplayGuard(db, logger, REPLAY_GUARD_PRUNE_INTERVAL_MS));
  }
  const role = (needed: ApiKeyRole) => requireApiKey(config.API_KEYS, needed);
  const tokenRole = role('token');
  // Before the body parser: the codec parses its own, larger bodies, and only after the key check.
  const codec = codecRoutes({
    codec: new SodiumPayloadCodec(config.PAYLOAD_CODEC_KEYS),
    allowedOrigins: config.CODEC_CORS_ORIGINS,
    namespace: config.TEMPORAL_NAMESPACE,
    requireKey: { decode: role('decode'), encode: tokenRole },
  });
  app.use(codec.routes());
  const audit = auditStream(logger);
  const tokens = new UserTokens(db, cipher, grants, options.accessTokenMarginSeconds * 1000);
  // Before the body parser too: a proxied body goes to Feishu as it came, up to its own limit.
  const proxy = proxyRoutes({
    tokens,
    feishuDomain: config.FEISHU_DOMAIN,
    allowLists: config.PROXY_ALLOW,
    perKey: { perMinute: config.PROXY_REQUESTS_PER_MINUTE, burst: config.PROXY_REQUEST_BURST },
    perUser: { perMinute: config.PROXY_USER_REQUESTS_PER_MINUTE, burst: config.PROXY_USER_REQUEST_BURST },
    maxRequestBytes: config.PROXY_MAX_REQUEST_BYTES,
    limits: {
      timeoutMs: config.PROXY_TIMEOUT_SECONDS * 1000,
      maxResponseBytes: config.PROXY_MAX_RESPONSE_BYTES,
    },
    requireProxyRole: role('proxy'),
    audit,
  });
  app.use(proxy.routes()).use(proxy.allowedMethods());
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' }));

  const routers = [
    healthRoutes(db, temporal),
    oauthCallbackRoutes(db, cipher, grants),
    openApiRoutes(operations),
  ];
  for (const router of routers) {
    app.use(router.routes()).use(router.allowedMethods());
  }
  const waits = new AttemptWaits(db, logger, config.MAX_WAITING_REQUESTS);
  stops.push(() => waits.stop());
  const readRole = role('read');
  // One bucket per key for single and batch requests alike: a batch counts as one request.
  const requestRateLimit = rateLimitPerKey(
    { perMinute: config.AUTHORIZATION_REQUESTS_PER_MINUTE, burst: config.AUTHORIZATION_REQUEST_BURST },
    'authorization requests',
  );
  const authorizations = authorizationRoutes({
    db,
    grants,
    enabledScopes,
    waits,
    guardRequest: [audited(audit, 'authorization.request'), role('request'), requestRateLimit],
    requireReadRole: readRole,
  });
  app.use(authorizations.routes()).use(authorizations.allowedMethods());
  const batches = batchRoutes({
    db,
    batches: new BatchService(
      temporal,
      db,
      feishu,
      grants.appId,
      config.TEMPORAL_TASK_QUEUE,
      config.BATCH_USERS_PER_RUN,
    ),
    enabledScopes,
    guardRequest: [audited(audit, 'authorization.batch_request'), role('request'), requestRateLimit],
    guardRevoke: [audited(audit, 'authorization.batch_revoke'), tokenRole],
    requireReadRole: readRole,
  });
  app.use(batches.routes()).use(batches.allowedMethods());
  const users = userRoutes({
    db,
    grants,
    tokens,
    requireTokenRole: tokenRole,
    requireReadRole: readRole,
    audit,
  });
  app.use(users.routes()).use(users.allowedMethods());
  const adminRole = role('admin');
  const subscribers = webhookSubscriberRoutes({
    db,
    cipher,
    appId: grants.appId,
    guard: (action) =>
      action === 'list' ? [adminRole] : [audited(audit, `webhook.subscriber.${action}`), adminRole],
  });
  app.use(subscribers.routes()).use(subscribers.allowedMethods());
  const deliveries = webhookDeliveryRoutes({
    db,
    appId: grants.appId,
    retryWindowSeconds: config.WEBHOOK_RETRY_WINDOW_SECONDS,
    requireReadRole: readRole,
    guardReplay: [audited(audit, 'webhook.replay'), adminRole],
  });
  app.use(deliveries.routes()).use(deliveries.allowedMethods());
  return {
    app,
    handlers,
    stop: async () => {
      await Promise.all(stops.map((stop) => stop()));
    },
  };
}
