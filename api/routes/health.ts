import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type { Db } from '../../lib/db';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref(),
    ),
  ]);
}

/** /healthz: the process runs. /readyz: it can reach PostgreSQL and Temporal, so traffic may come. */
export function healthRoutes(db: Db, temporal: Client): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [database, temporalCheck] = await Promise.allSettled([
      withTimeout(db.query('SELECT 1')),
      withTimeout(temporal.workflowService.getSystemInfo({})),
    ]);
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unreachable',
      temporal: temporalCheck.status === 'fulfilled' ? 'ok' : 'unreachable',
    };
    const ready = Object.values(checks).every((c) => c === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  });
  return router;
}
