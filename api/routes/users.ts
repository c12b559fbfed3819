import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import { userHistory } from '../../lib/store/queries.ts';
import { audited, type AuditRecord } from '../audit.ts';
import { HttpError, parseInput } from '../errors.ts';
import { revokeIfGranted } from '../revoke.ts';
import type { GrantService } from '../grants.ts';
import type { UserTokens } from '../user-tokens.ts';
import type { Operation } from '../openapi.ts';
import { openIdPath, queryInteger } from './params.ts';

const historyQuery = z.object({ limit: queryInteger(1, 500).default(100) });

const tokenAnswer = z.object({ access_token: z.string(), expires_at: z.iso.datetime(), scope: z.string() });

const revokeAnswer = z.object({ open_id: z.string(), status: z.literal('revoked') });

const historyAnswer = z.object({
  open_id: z.string(),
  items: z.array(
    z.object({
      at: z.date(),
      kind: z.string(),
      outcome: z.string(),
      attempt_id: z.string().nullish(),
      error_code: z.string().nullish(),
      detail: z.string().nullish(),
      scopes: z.array(z.string()).nullish(),
      by: z.record(z.string(), z.string()).nullish(),
    }),
  ),
});

export const userOperations: Operation[] = [
  {
    method: 'get',
    path: '/v1/users/:openId/token',
    summary: "A user's access token, refreshed first when it is about to expire",
    role: 'token',
    params: openIdPath,
    answers: { 200: { description: 'the access token', json: tokenAnswer } },
    errors: {
      400: ['invalid_request'],
      404: ['no_grant'],
      410: ['needs_reauth', 'revoked'],
      503: ['refresh_unavailable'],
    },
  },
  {
    method: 'delete',
    path: '/v1/users/:openId/authorization',
    summary: "Revoke a user's grant",
    role: 'token',
    params: openIdPath,
    answers: { 200: { description: 'revoked', json: revokeAnswer } },
    errors: { 400: ['invalid_request'], 404: ['no_grant'] },
  },
  {
    method: 'get',
    path: '/v1/users/:openId/history',
    summary: "A user's attempts and grant events, newest first",
    role: 'read',
    params: openIdPath,
    query: historyQuery,
    answers: { 200: { description: 'the history', json: historyAnswer } },
    errors: { 400: ['invalid_request'] },
  },
];

export interface UserRoutesOptions {
  db: Db;
  grants: GrantService;
  tokens: UserTokens;
  requireTokenRole: Middleware;
  requireReadRole: Middleware;
  audit: (record: AuditRecord) => void;
}

export function userRoutes({
  db,
  grants,
  tokens,
  requireTokenRole,
  requireReadRole,
  audit,
}: UserRoutesOptions): Router {
  const router = new Router();

  router.get('/v1/users/:openId/token', audited(audit, 'token.read'), requireTokenRole, async (ctx) => {
    const { openId } = parseInput(openIdPath, ctx.params);
    const token = await tokens.current(openId);
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      access_token: token.accessToken,
      expires_at: token.expiresAt.toISOString(),
      scope: token.scopes.join(' '),
    } satisfies z.input<typeof tokenAnswer>;
  });

  const revokeGuards = [audited(audit, 'authorization.revoke'), requireTokenRole];
  router.delete('/v1/users/:openId/authorization', ...revokeGuards, async (ctx) => {
    const { openId } = parseInput(openIdPath, ctx.params);
    const request = {
      source: 'api',
      by: { api_key: String(ctx.state.apiKey) },
      requestedAt: Date.now(),
    } as const;
    if (!(await revokeIfGranted(db, grants, openId, request)))
      throw new HttpError(404, 'no_grant', 'this user has no authorization to revoke');
    ctx.body = { open_id: openId, status: 'revoked' } satisfies z.input<typeof revokeAnswer>;
  });

  router.get('/v1/users/:openId/history', requireReadRole, async (ctx) => {
    const { openId } = parseInput(openIdPath, ctx.params);
    const { limit } = parseInput(historyQuery, ctx.query);
    const items = await userHistory(db, grants.appId, openId, limit);
    ctx.body = { open_id: openId, items } satisfies z.input<typeof historyAnswer>;
  });

  return router;
}
