import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import {
  disableSubscriber,
  insertApiSubscriber,
  listSubscribers,
  rotateSubscriberSecret,
} from '../../lib/store/webhook-subscribers.ts';
import type { TokenCipher } from '../../lib/token-crypto.ts';
import { WEBHOOK_EVENT_TYPES } from '../../lib/webhooks/events.ts';
import { newSigningSecret } from '../../lib/webhooks/signing.ts';
import { HttpError, parseInput } from '../errors.ts';
import type { Operation } from '../openapi.ts';

const subscriberUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  // Zod runs refinements after a failed check too: an unparsable URL is reported by z.url already.
  .refine((u) => !URL.canParse(u) || !hasCredentials(new URL(u)), 'must not carry credentials');

const hasCredentials = (url: URL) => !!url.username || !!url.password;

const createBody = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1-40 of a-z, 0-9, _ and -'),
  url: subscriberUrl,
  event_types: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).optional(),
});

const rotateBody = z.object({
  // How long receivers still accept the secret being replaced: at most a week.
  previous_valid_for_seconds: z.number().int().min(0).max(604_800).default(86_400),
});

const subscriberPath = z.object({
  id: z.string().regex(/^whs_[0-9a-f]{24}$/, 'must be a subscriber id (whs_…)'),
});

const subscriberView = z.object({
  id: z.string(),
  app_id: z.string(),
  name: z.string(),
  url: z.string(),
  source: z.enum(['env', 'api']),
  event_types: z.array(z.string()).nullable(),
  enabled: z.boolean(),
  previous_valid_until: z.date().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});

const withSecret = z.object({
  subscriber: subscriberView,
  /** Shown once: only a sealed copy is stored. */
  secret: z.string(),
});

const listAnswer = z.object({ items: z.array(subscriberView) });
const deleteAnswer = z.object({ id: z.string(), enabled: z.literal(false) });

export const webhookSubscriberOperations: Operation[] = [
  {
    method: 'get',
    path: '/v1/webhooks/subscribers',
    summary: 'The enabled webhook subscribers, from WEBHOOK_URLS and from this API (never their secrets)',
    role: 'admin',
    answers: { 200: { description: 'the subscribers', json: listAnswer } },
  },
  {
    method: 'post',
    path: '/v1/webhooks/subscribers',
    summary: 'Add a webhook subscriber; its signing secret is in the answer, once',
    role: 'admin',
    body: createBody,
    answers: { 201: { description: 'added', json: withSecret } },
    errors: { 400: ['invalid_request', 'bad_request'], 409: ['name_taken'], 413: ['bad_request'] },
  },
  {
    method: 'post',
    path: '/v1/webhooks/subscribers/:id/rotate-secret',
    summary:
      'Give a subscriber a new signing secret; the old one also signs until previous_valid_for_seconds (default a day) has passed',
    role: 'admin',
    params: subscriberPath,
    body: rotateBody,
    answers: { 200: { description: 'rotated', json: withSecret } },
    errors: { 400: ['invalid_request', 'bad_request'], 404: ['no_subscriber'], 413: ['bad_request'] },
  },
  {
    method: 'delete',
    path: '/v1/webhooks/subscribers/:id',
    summary: 'Remove a subscriber added through the API; its pending deliveries are cancelled',
    role: 'admin',
    params: subscriberPath,
    answers: { 200: { description: 'removed', json: deleteAnswer } },
    errors: { 400: ['invalid_request'], 404: ['no_subscriber'] },
  },
];

export interface WebhookSubscriberRoutesOptions {
  db: Db;
  cipher: TokenCipher;
  appId: string;
  /** The admin role check, each behind its audit record. */
  guard: (action: 'create' | 'rotate_secret' | 'delete' | 'list') => Middleware[];
}

export function webhookSubscriberRoutes({
  db,
  cipher,
  appId,
  guard,
}: WebhookSubscriberRoutesOptions): Router {
  const router = new Router();
  // The subscriber's id is bound into the ciphertext: a sealed secret cannot be moved to another.
  const seal = (secret: string) => (id: string) =>
    cipher.seal(secret, { appId, openId: id, kind: 'webhook_secret' });

  router.get('/v1/webhooks/subscribers', ...guard('list'), async (ctx) => {
    ctx.body = { items: await listSubscribers(db, appId) } satisfies z.input<typeof listAnswer>;
  });

  router.post('/v1/webhooks/subscribers', ...guard('create'), async (ctx) => {
    const body = parseInput(createBody, ctx.request.body);
    const secret = newSigningSecret();
    const subscriber = await insertApiSubscriber(db, {
      appId,
      name: body.name,
      url: body.url,
      eventTypes: body.event_types ?? null,
      sealed: seal(secret),
    });
    if (!subscriber) throw new HttpError(409, 'name_taken', `a subscriber named ${body.name} exists already`);
    ctx.status = 201;
    ctx.set('cache-control', 'no-store');
    ctx.body = { subscriber, secret } satisfies z.input<typeof withSecret>;
  });

  router.post('/v1/webhooks/subscribers/:id/rotate-secret', ...guard('rotate_secret'), async (ctx) => {
    const { id } = parseInput(subscriberPath, ctx.params);
    const body = parseInput(rotateBody, ctx.request.body ?? {});
    const secret = newSigningSecret();
    const until = new Date(Date.now() + body.previous_valid_for_seconds * 1000);
    const subscriber = await rotateSubscriberSecret(db, appId, id, seal(secret)(id), until);
    if (!subscriber)
      throw new HttpError(404, 'no_subscriber', 'no enabled subscriber added through the API has this id');
    ctx.set('cache-control', 'no-store');
    ctx.body = { subscriber, secret } satisfies z.input<typeof withSecret>;
  });

  router.delete('/v1/webhooks/subscribers/:id', ...guard('delete'), async (ctx) => {
    const { id } = parseInput(subscriberPath, ctx.params);
    if (!(await disableSubscriber(db, appId, id))) {
      throw new HttpError(404, 'no_subscriber', 'no enabled subscriber added through the API has this id');
    }
    ctx.body = { id, enabled: false } satisfies z.input<typeof deleteAnswer>;
  });

  return router;
}
