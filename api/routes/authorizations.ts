import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import type { EnabledScopes } from '../../lib/feishu/enabled-scopes.ts';
import { getGrant, type GrantRow } from '../../lib/store/grants.ts';
import { latestSession, listGrants } from '../../lib/store/queries.ts';
import { getSession, type SessionRow } from '../../lib/store/sessions.ts';
import type { AttemptWaits } from '../attempt-waits.ts';
import type { GrantService } from '../grants.ts';
import { assertWithinScopeCap } from '../scope-cap.ts';
import { assertScopesEnabled } from '../scope-check.ts';
import { HttpError, parseInput } from '../errors.ts';
import { AUTH_FLOWS, GRANT_STATUSES, type AuthorizationResponse } from '../../lib/grant-types.ts';
import type { Operation } from '../openapi.ts';
import { openIdParam, openIdPath, queryInteger, requestOptions } from './params.ts';

const requestBody = z.object({
  open_id: openIdParam,
  ...requestOptions,
  // The service's FEISHU_AUTH_FLOW when omitted.
  flow: z
    .enum(AUTH_FLOWS)
    .optional()
    .describe(
      "code: the card links to Feishu's authorize page, which redirects to PUBLIC_BASE_URL; device: the card shows a code the user confirms on Feishu's page (RFC 8628), no public URL needed. Default: FEISHU_AUTH_FLOW",
    ),
});

const waitQuery = z.object({ wait: queryInteger(0, 120).default(0) });

const listQuery = z.object({
  status: z.enum(GRANT_STATUSES).optional(),
  // The last open_id of the previous page (next_cursor); anything else, a NUL byte for one,
  // would reach PostgreSQL.
  cursor: openIdParam.optional(),
  limit: queryInteger(1, 500).default(100),
});

const attemptView = z.object({
  id: z.string(),
  status: z.enum([...GRANT_STATUSES, 'superseded']),
  scopes: z.array(z.string()),
  expires_at: z.date(),
  settled_at: z.date().nullable(),
  reason: z.string().nullable(),
  error_code: z.string().nullable(),
});

/** A grant and its latest attempt, as the status routes answer them. */
const grantViewSchema = z.object({
  open_id: z.string().optional(),
  status: z.enum([...GRANT_STATUSES, 'superseded']).optional(),
  reason: z.string().nullable(),
  scopes: z.array(z.string()),
  user: z
    .object({ name: z.string(), en_name: z.string().nullable(), avatar_url: z.string().nullable() })
    .nullable(),
  authorized_at: z.date().nullable(),
  access_token_expires_at: z.date().nullable(),
  refresh_token_expires_at: z.date().nullable(),
  attempt: attemptView.nullable(),
});

const requestAnswer = grantViewSchema.extend({
  authorization_id: z.string().nullable(),
  reused: z.boolean(),
});

const listAnswer = z.object({ items: z.array(grantViewSchema), next_cursor: z.string().nullable() });

export const authorizationOperations: Operation[] = [
  {
    method: 'post',
    path: '/v1/authorizations',
    summary:
      'Ask a user to authorize the app (sends a card unless a grant covers the scopes); rate-limited per key',
    role: 'request',
    query: waitQuery,
    body: requestBody,
    answers: {
      200: { description: 'settled: the grant covers the scopes, or the attempt ended', json: requestAnswer },
      202: { description: 'a card is out and the user has not answered yet', json: requestAnswer },
    },
    errors: {
      400: ['invalid_request', 'bad_request'],
      413: ['bad_request'],
      422: ['card_not_sent', 'scope_not_enabled', 'too_many_scopes'],
      429: ['rate_limited'],
      503: ['too_many_waiting'],
    },
  },
  {
    method: 'get',
    path: '/v1/authorizations',
    summary: 'List grants in open_id order, a page at a time',
    role: 'read',
    query: listQuery,
    answers: { 200: { description: 'a page of grants', json: listAnswer } },
    errors: { 400: ['invalid_request'] },
  },
  {
    method: 'get',
    path: '/v1/authorizations/:openId',
    summary: "A user's grant and latest attempt",
    role: 'read',
    params: openIdPath,
    answers: { 200: { description: 'the grant and its latest attempt', json: grantViewSchema } },
    errors: { 400: ['invalid_request'], 404: ['not_found'] },
  },
];

export function grantView(
  grant: GrantRow | undefined,
  attempt: SessionRow | undefined,
): z.input<typeof grantViewSchema> {
  return {
    open_id: grant?.open_id ?? attempt?.open_id,
    status: grant?.status ?? attempt?.status,
    reason: grant?.reason ?? null,
    scopes: grant?.scopes ?? [],
    user: grant?.user_name
      ? { name: grant.user_name, en_name: grant.user_en_name, avatar_url: grant.avatar_url }
      : null,
    authorized_at: grant?.authorized_at ?? null,
    access_token_expires_at: grant?.access_expires_at ?? null,
    refresh_token_expires_at: grant?.refresh_expires_at ?? null,
    attempt: attempt
      ? {
          id: attempt.id,
          status: attempt.status,
          scopes: attempt.scopes,
          expires_at: attempt.expires_at,
          settled_at: attempt.settled_at,
          reason: attempt.reason,
          error_code: attempt.error_code,
        }
      : null,
  };
}

export interface AuthorizationRouteOptions {
  db: Db;
  grants: GrantService;
  /** The app's enabled scopes: requests for others are refused before a card goes out. */
  enabledScopes: EnabledScopes;
  waits: AttemptWaits;
  /** Before a request that may send a card: the key check (role `request`), audit and rate limit. */
  guardRequest: Middleware[];
  /** Before the status routes: the key check (role `read`). */
  requireReadRole: Middleware;
}

export function authorizationRoutes({
  db,
  grants,
  enabledScopes,
  waits,
  guardRequest,
  requireReadRole,
}: AuthorizationRouteOptions): Router {
  const router = new Router();

  router.post('/v1/authorizations', ...guardRequest, async (ctx) => {
    const body = parseInput(requestBody, ctx.request.body);
    const { wait } = parseInput(waitQuery, ctx.query);
    // Everything that can refuse comes before the workflow is asked: a refused request changes nothing.
    const release = wait > 0 ? waits.reserve() : undefined;
    if (wait > 0 && !release) {
      ctx.set('Retry-After', '1');
      throw new HttpError(503, 'too_many_waiting', 'too many requests are waiting already; retry, or wait=0');
    }
    try {
      await assertWithinScopeCap(db, grants.appId, body.open_id, body.scopes);
      await assertScopesEnabled(enabledScopes, grants.appId, body.scopes);
      const response = await grants.request(body.open_id, {
        scopes: body.scopes,
        expiresInSeconds: body.expires_in_seconds,
        locale: body.locale,
        source: 'api',
        flow: body.flow,
      });
      if ('cardNotSent' in response) {
        throw new HttpError(422, 'card_not_sent', response.cardNotSent);
      }
      await answerRequest(ctx, body.open_id, response, wait);
    } finally {
      release?.();
    }
  });

  async function answerRequest(
    ctx: Context,
    openId: string,
    response: AuthorizationResponse,
    wait: number,
  ): Promise<void> {
    let attempt = response.attemptId ? await getSession(db, response.attemptId) : undefined;
    if (attempt && wait > 0 && response.status === 'pending')
      attempt = await waits.untilSettled(attempt.id, wait);
    const grant = await getGrant(db, grants.appId, openId);
    const view = grantView(grant, attempt);
    const settled = response.status !== 'pending' && (!attempt || attempt.status !== 'pending');
    ctx.status = settled || attempt?.status !== 'pending' ? 200 : 202;
    ctx.body = {
      authorization_id: response.attemptId ?? null,
      reused: response.reused,
      ...view,
    } satisfies z.input<typeof requestAnswer>;
  }

  router.get('/v1/authorizations', requireReadRole, async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const rows = await listGrants(db, grants.appId, {
      status: query.status,
      after: query.cursor,
      limit: query.limit,
    });
    ctx.body = {
      items: rows.map((row) => grantView(row, undefined)),
      next_cursor: rows.length === query.limit ? rows[rows.length - 1]!.open_id : null,
    } satisfies z.input<typeof listAnswer>;
  });

  router.get('/v1/authorizations/:openId', requireReadRole, async (ctx) => {
    const { openId } = parseInput(openIdPath, ctx.params);
    const [grant, attempt] = await Promise.all([
      getGrant(db, grants.appId, openId),
      latestSession(db, grants.appId, openId),
    ]);
    if (!grant && !attempt) throw new HttpError(404, 'not_found', 'no authorization for this user');
    ctx.body = grantView(grant, attempt);
  });

  return router;
}
