import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Db } from '../../lib/db';
import { countDbErrors } from '../../lib/metrics';
import { getGrant, getServableToken, type ServableToken } from '../../lib/store/grants';
import { userHistory } from '../../lib/store/queries';
import type { TokenCipher } from '../../lib/token-crypto';
import { audited, type AuditRecord } from '../audit';
import { HttpError, parseInput } from '../errors';
import { revokeGrant } from '../revoke';
import type { GrantService } from '../grants';
import { openIdParam } from './params';

const GONE: ReadonlySet<string> = new Set(['needs_reauth', 'revoked']);

const historyQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export interface UserRoutesOptions {
  db: Db;
  cipher: TokenCipher;
  grants: GrantService;
  /** An access token closer than this to expiry is refreshed before it is handed out. */
  accessTokenMarginSeconds: number;
  requireTokenRole: Middleware;
  requireReadRole: Middleware;
  audit: (record: AuditRecord) => void;
}

function assertLive(grant: ServableToken | undefined): asserts grant is ServableToken {
  if (!grant || (!grant.access_token_ct && !GONE.has(grant.status))) {
    throw new HttpError(404, 'no_grant', 'this user has not authorized the app');
  }
  if (GONE.has(grant.status) || !grant.access_token_ct) {
    throw new HttpError(
      410,
      grant.status,
      `the grant is ${grant.status}${grant.reason ? ` (${grant.reason})` : ''}`,
    );
  }
}

export function userRoutes({
  db,
  cipher,
  grants,
  accessTokenMarginSeconds,
  requireTokenRole,
  requireReadRole,
  audit,
}: UserRoutesOptions): Router {
  const router = new Router();
  const marginMs = accessTokenMarginSeconds * 1000;
  const tokenDb = countDbErrors(db, () => 'token_read');

  router.get('/v1/users/:openId/token', audited(audit, 'token.read'), requireTokenRole, async (ctx) => {
    const openId = parseInput(openIdParam, ctx.params.openId);
    let grant = await getServableToken(tokenDb, grants.appId, openId);
    assertLive(grant);
    if (!grant.access_expires_at || grant.access_expires_at.getTime() - Date.now() < marginMs) {
      // Refreshing is the workflow's job: it is the grant's only writer, so rotations never race.
      await grants.ensureFresh(openId, Date.now() + marginMs);
      grant = await getServableToken(tokenDb, grants.appId, openId);
      assertLive(grant);
      if (grant.access_expires_at!.getTime() <= Date.now()) {
        throw new HttpError(
          503,
          'refresh_unavailable',
          'the token could not be refreshed right now; try again shortly',
        );
      }
    }
    const accessToken = cipher.open(
      { keyId: grant.key_id!, box: grant.access_token_ct! },
      { appId: grants.appId, openId, kind: 'access_token' },
    );
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      access_token: accessToken,
      expires_at: grant.access_expires_at!.toISOString(),
      scope: grant.scopes.join(' '),
    };
  });

  const revokeGuards = [audited(audit, 'authorization.revoke'), requireTokenRole];
  router.delete('/v1/users/:openId/authorization', ...revokeGuards, async (ctx) => {
    const openId = parseInput(openIdParam, ctx.params.openId);
    const grant = await getGrant(db, grants.appId, openId);
    if (!grant) throw new HttpError(404, 'no_grant', 'this user has no authorization to revoke');
    await revokeGrant(db, grants, openId, { source: 'api', by: { api_key: String(ctx.state.apiKey) } });
    ctx.body = { open_id: openId, status: 'revoked' };
  });

  router.get('/v1/users/:openId/history', requireReadRole, async (ctx) => {
    const openId = parseInput(openIdParam, ctx.params.openId);
    const { limit } = parseInput(historyQuery, ctx.query);
    ctx.body = { open_id: openId, items: await userHistory(db, grants.appId, openId, limit) };
  });

  return router;
}
