import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import { eventExists, listDeliveries, replayDeadDeliveries } from '../../lib/store/webhook-deliveries.ts';
import { HttpError, parseInput } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { queryInteger } from './params.ts';

const DELIVERY_STATUSES = ['pending', 'delivered', 'dead', 'cancelled'] as const;

const eventId = z.uuid({ version: 'v4', message: 'must be an event id (the webhook-id header)' });

const listQuery = z.object({
  event_id: eventId.optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  // The last id of the previous page (next_cursor).
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, 'must be a next_cursor')
    .optional(),
  limit: queryInteger(1, 500).default(100),
});

const deliveryView = z.object({
  id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  open_id: z.string(),
  occurred_at: z.date(),
  subscriber_id: z.string(),
  subscriber_name: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number(),
  last_http_status: z.number().nullable(),
  last_error: z.string().nullable(),
  last_attempt_at: z.date().nullable(),
  give_up_at: z.date(),
  created_at: z.date(),
  settled_at: z.date().nullable(),
});

const listAnswer = z.object({ items: z.array(deliveryView), next_cursor: z.string().nullable() });
const replayAnswer = z.object({ event_id: z.string(), replayed: z.array(deliveryView) });

export const webhookDeliveryOperations: Operation[] = [
  {
    method: 'get',
    path: '/v1/webhooks/deliveries',
    summary: 'Webhook deliveries, newest first, by event id and status, with their tries and last answer',
    role: 'read',
    query: listQuery,
    answers: { 200: { description: 'a page of deliveries', json: listAnswer } },
    errors: { 400: ['invalid_request'] },
  },
  {
    method: 'post',
    path: '/v1/webhooks/events/:eventId/replay',
    summary: "Send an event's dead-lettered deliveries again, each with a fresh retry window",
    role: 'admin',
    params: z.object({ eventId }),
    answers: { 200: { description: 'the deliveries put back in line', json: replayAnswer } },
    errors: { 400: ['invalid_request'], 404: ['no_event'], 409: ['not_dead_lettered'] },
  },
];

export interface WebhookDeliveryRoutesOptions {
  db: Db;
  appId: string;
  retryWindowSeconds: number;
  requireReadRole: Middleware;
  guardReplay: Middleware[];
}

export function webhookDeliveryRoutes(options: WebhookDeliveryRoutesOptions): Router {
  const { db, appId } = options;
  const router = new Router();

  router.get('/v1/webhooks/deliveries', options.requireReadRole, async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const items = await listDeliveries(db, appId, {
      eventId: query.event_id,
      status: query.status,
      before: query.cursor,
      limit: query.limit,
    });
    const nextCursor = items.length === query.limit ? items[items.length - 1]!.id : null;
    ctx.body = { items, next_cursor: nextCursor } satisfies z.input<typeof listAnswer>;
  });

  router.post('/v1/webhooks/events/:eventId/replay', ...options.guardReplay, async (ctx) => {
    const { eventId: id } = parseInput(z.object({ eventId }), ctx.params);
    if (!(await eventExists(db, appId, id)))
      throw new HttpError(404, 'no_event', 'no webhook event has this id');
    const replayed = await replayDeadDeliveries(db, appId, id, options.retryWindowSeconds);
    if (replayed.length === 0) {
      throw new HttpError(409, 'not_dead_lettered', 'none of this event’s deliveries is dead-lettered');
    }
    ctx.body = { event_id: id, replayed } satisfies z.input<typeof replayAnswer>;
  });

  return router;
}
