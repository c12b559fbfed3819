import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import type { Operation } from '../openapi.ts';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref(),
    ),
  ]);
}

const CHECK = z.enum(['ok', 'unreachable']);
const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ database: CHECK, temporal: CHECK }),
});
const liveness = z.object({ status: z.literal('ok') });

export const healthOperations: Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'The process runs',
    answers: { 200: { description: 'alive', json: liveness } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'The process reaches PostgreSQL and Temporal',
    answers: {
      200: { description: 'ready', json: readiness },
      503: { description: 'a dependency is unreachable', json: readiness },
    },
  },
];

/** /healthz: the process runs. /readyz: it can reach PostgreSQL and Temporal, so traffic may come. */
export function healthRoutes(db: Db, temporal: Client): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' } satisfies z.input<typeof liveness>;
  });
  router.get('/readyz', async (ctx) => {
    const [database, temporalCheck] = await Promise.allSettled([
      withTimeout(db.query('SELECT 1')),
      withTimeout(temporal.workflowService.getSystemInfo({})),
    ]);
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unreachable',
      temporal: temporalCheck.status === 'fulfilled' ? 'ok' : 'unreachable',
    } as const;
    const ready = Object.values(checks).every((c) => c === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks } satisfies z.input<typeof readiness>;
  });
  return router;
}
