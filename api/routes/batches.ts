import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import type { EnabledScopes } from '../../lib/feishu/enabled-scopes.ts';
import {
  BATCH_RESULTS,
  batchCounts,
  batchItems,
  getBatch,
  type BatchKind,
  type BatchRow,
} from '../../lib/store/batches.ts';
import { MAX_BATCH_USERS, type BatchService } from '../batches.ts';
import { HttpError, parseInput } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import { assertScopesEnabled } from '../scope-check.ts';
import { openIdParam, queryInteger, requestOptions } from './params.ts';

const batchIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, _ or -');

/** Whom a batch is for: listed users, a group chat's members, or both. */
const batchTarget = {
  batch_id: batchIdParam.optional(),
  open_ids: z.array(openIdParam).max(MAX_BATCH_USERS).default([]),
  chat_id: z
    .string()
    .regex(/^oc_[A-Za-z0-9_-]{1,64}$/, 'must be a Feishu chat_id (oc_…)')
    .optional(),
};

const needsUsers = (body: { open_ids: string[]; chat_id?: string }) =>
  body.open_ids.length > 0 || body.chat_id !== undefined;
const needsUsersMessage = { message: 'name open_ids, a chat_id, or both', path: ['open_ids'] };

const batchRequestBody = z
  .object({ ...batchTarget, ...requestOptions })
  .refine(needsUsers, needsUsersMessage);
const batchRevokeBody = z.object(batchTarget).refine(needsUsers, needsUsersMessage);

const batchPath = z.object({ batchId: batchIdParam });

const itemsQuery = z.object({
  // The position of the last user of the previous page (next_cursor).
  cursor: queryInteger(0, MAX_BATCH_USERS).optional(),
  limit: queryInteger(1, MAX_BATCH_USERS).default(MAX_BATCH_USERS),
});

const batchView = z.object({
  batch_id: z.string(),
  kind: z.enum(['request', 'revoke']),
  status: z.enum(['running', 'finished']),
  total: z.number().int(),
  /** Users per result; `queued` ones are still to come. */
  counts: z.object(Object.fromEntries(BATCH_RESULTS.map((r) => [r, z.number().int()]))),
  scopes: z.array(z.string()),
  chat_id: z.string().nullable(),
  created_at: z.date(),
  finished_at: z.date().nullable(),
});

const batchStatus = batchView.extend({
  items: z.array(
    z.object({
      open_id: z.string(),
      result: z.enum(BATCH_RESULTS),
      reason: z.string().nullable(),
      authorization_id: z.string().nullable(),
      updated_at: z.date(),
    }),
  ),
  next_cursor: z.string().nullable(),
});

const submitAnswers = {
  200: { description: 'a batch with this id and content exists already: its progress', json: batchView },
  202: { description: 'the batch is stored and its workflow started', json: batchView },
};

const submitErrors = {
  400: ['invalid_request', 'bad_request'],
  409: ['batch_conflict'],
  413: ['bad_request'],
  422: ['no_users', 'too_many_users', 'chat_members_unavailable'],
  429: ['rate_limited'],
  503: ['feishu_unavailable'],
};

export const batchOperations: Operation[] = [
  {
    method: 'post',
    path: '/v1/authorizations\\:batch',
    summary: `Ask up to ${MAX_BATCH_USERS} users (listed, or a chat's members) to authorize, paced to Feishu's message limits`,
    role: 'request',
    body: batchRequestBody,
    answers: submitAnswers,
    errors: { ...submitErrors, 422: [...submitErrors[422], 'scope_not_enabled'] },
  },
  {
    method: 'post',
    path: '/v1/authorizations\\:batchRevoke',
    summary: `Revoke the grants of up to ${MAX_BATCH_USERS} users (listed, or a chat's members)`,
    role: 'token',
    body: batchRevokeBody,
    answers: submitAnswers,
    errors: submitErrors,
  },
  {
    method: 'get',
    path: '/v1/authorizations\\:batch/:batchId',
    summary: "A batch's progress and each user's result, in the order they are processed",
    role: 'read',
    params: batchPath,
    query: itemsQuery,
    answers: { 200: { description: 'the batch and a page of its users', json: batchStatus } },
    errors: { 400: ['invalid_request'], 404: ['not_found'] },
  },
];

export interface BatchRouteOptions {
  db: Db;
  batches: BatchService;
  enabledScopes: EnabledScopes;
  /** Before a batch request: the key check (role `request`), audit and rate limit. */
  guardRequest: Middleware[];
  /** Before a batch revocation: the key check (role `token`) and audit. */
  guardRevoke: Middleware[];
  requireReadRole: Middleware;
}

export function batchRoutes({
  db,
  batches,
  enabledScopes,
  guardRequest,
  guardRevoke,
  requireReadRole,
}: BatchRouteOptions): Router {
  const router = new Router();
  const appId = batches.appId;

  async function view(batch: BatchRow): Promise<z.input<typeof batchView>> {
    const counts = await batchCounts(db, appId, batch.batch_id);
    return {
      batch_id: batch.batch_id,
      kind: batch.kind,
      status: batch.finished_at ? 'finished' : 'running',
      total: batch.total,
      counts: Object.fromEntries(BATCH_RESULTS.map((r) => [r, counts[r] ?? 0])),
      scopes: batch.options.scopes ?? [],
      chat_id: batch.options.chat_id ?? null,
      created_at: batch.created_at,
      finished_at: batch.finished_at,
    };
  }

  async function submit(
    kind: BatchKind,
    body: z.output<typeof batchRevokeBody> & Partial<z.output<typeof batchRequestBody>>,
    apiKey: unknown,
  ) {
    const { batch, created } = await batches.submit({
      kind,
      batchId: body.batch_id ?? randomUUID(),
      openIds: body.open_ids,
      options: {
        scopes: body.scopes,
        expires_in_seconds: body.expires_in_seconds,
        locale: body.locale,
        chat_id: body.chat_id,
      },
      requestedBy: typeof apiKey === 'string' ? apiKey : undefined,
    });
    return { status: created ? 202 : 200, body: await view(batch) };
  }

  router.post('/v1/authorizations\\:batch', ...guardRequest, async (ctx) => {
    const body = parseInput(batchRequestBody, ctx.request.body);
    // Checked once for every user: they all ask for the same scopes.
    await assertScopesEnabled(enabledScopes, appId, body.scopes);
    const answer = await submit('request', body, ctx.state.apiKey);
    ctx.status = answer.status;
    ctx.body = answer.body;
  });

  router.post('/v1/authorizations\\:batchRevoke', ...guardRevoke, async (ctx) => {
    const answer = await submit('revoke', parseInput(batchRevokeBody, ctx.request.body), ctx.state.apiKey);
    ctx.status = answer.status;
    ctx.body = answer.body;
  });

  router.get('/v1/authorizations\\:batch/:batchId', requireReadRole, async (ctx) => {
    const { batchId } = parseInput(batchPath, ctx.params);
    const { cursor, limit } = parseInput(itemsQuery, ctx.query);
    const batch = await getBatch(db, appId, batchId);
    if (!batch) throw new HttpError(404, 'not_found', `no batch ${batchId}`);
    const items = await batchItems(db, appId, batchId, { after: cursor, limit });
    ctx.body = {
      ...(await view(batch)),
      items: items.map(({ position: _position, ...item }) => item),
      next_cursor: items.length === limit ? String(items[items.length - 1]!.position) : null,
    } satisfies z.input<typeof batchStatus>;
  });

  return router;
}
