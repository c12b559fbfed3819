import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import getRawBody from 'raw-body';
import { z } from 'zod';
import { PROXY_METHODS, proxyAllows, type ProxyAllowLists } from '../../lib/proxy-allow-list.ts';
import { audited, type AuditRecord } from '../audit.ts';
import { HttpError, parseInput } from '../errors.ts';
import { callFeishu, type FeishuAnswer, type ForwardLimits, type ProxiedRequest } from '../proxy/forward.ts';
import { ProxyPathError, checkedFeishuPath, feishuUrl, pathTemplate } from '../proxy/path.ts';
import { rateLimit, rateLimitPerKey, type RateLimit } from '../rate-limit.ts';
import type { UserTokens } from '../user-tokens.ts';
import type { Operation } from '../openapi.ts';
import { openIdParam } from './params.ts';

const PROXY_PATH = '/v1/users/:openId/proxy/open-apis/*apiPath';

const proxyParams = z.object({
  openId: openIdParam,
  apiPath: z.string().describe("the rest of Feishu's path after /open-apis/, e.g. task/v2/tasks"),
});

export const proxyOperations: Operation[] = PROXY_METHODS.map((method) => ({
  method: method.toLowerCase() as Operation['method'],
  path: PROXY_PATH,
  summary: `Call a Feishu open API as the user (${method}); Feishu's answer is passed through`,
  role: 'proxy',
  params: proxyParams,
  passthrough: true,
  answers: {},
  errors: {
    400: ['invalid_request', 'invalid_proxy_path'],
    403: ['path_not_allowed'],
    404: ['no_grant'],
    410: ['needs_reauth', 'revoked'],
    413: ['payload_too_large'],
    429: ['rate_limited'],
    502: ['feishu_unreachable', 'feishu_answer_too_large'],
    503: ['refresh_unavailable'],
    504: ['feishu_timeout'],
  },
}));

export interface ProxyRoutesOptions {
  tokens: UserTokens;
  feishuDomain: string;
  allowLists: ProxyAllowLists;
  perKey: RateLimit;
  perUser: RateLimit;
  maxRequestBytes: number;
  limits: ForwardLimits;
  requireProxyRole: Middleware;
  audit: (record: AuditRecord) => void;
}

/** The Feishu path after `/v1/users/:openId/proxy`, as sent (still percent-encoded). */
const rawFeishuPath = (ctx: Context) => `/${ctx.path.split('/').slice(5).join('/')}`;

/** What the audit line names: the method and the path's template, never its ids or junk. */
function auditedRequest(ctx: Context): Pick<AuditRecord, 'method' | 'path'> {
  try {
    return { method: ctx.method, path: pathTemplate(checkedFeishuPath(rawFeishuPath(ctx))) };
  } catch {
    return { method: ctx.method, path: 'invalid' };
  }
}

/** Read whatever the method: a body left unread would be parsed as the connection's next request. */
async function requestBody(ctx: Context, limit: number): Promise<Buffer | undefined> {
  try {
    const body = await getRawBody(ctx.req, { limit, length: ctx.get('content-length') || undefined });
    // fetch sends no body with these, as HTTP gives one no meaning.
    return ctx.method === 'GET' || ctx.method === 'HEAD' ? undefined : body;
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large')
      throw new HttpError(413, 'payload_too_large', `a proxied request body may have at most ${limit} bytes`);
    throw new HttpError(400, 'invalid_request', 'the request body could not be read');
  }
}

function answer(ctx: Context, feishu: FeishuAnswer): void {
  ctx.status = feishu.status;
  ctx.set(feishu.headers);
  ctx.set('cache-control', 'no-store');
  ctx.body = feishu.body;
}

/**
 * `/v1/users/:openId/proxy/open-apis/…`: the request goes to the same path on FEISHU_DOMAIN with
 * the user's access token, and Feishu's answer comes back. The caller never sees the token.
 */
export function proxyRoutes(options: ProxyRoutesOptions): Router {
  const { tokens, allowLists, limits } = options;
  const router = new Router();
  const perUser = rateLimit({
    ...options.perUser,
    bucketOf: (ctx) => String((ctx.params as { openId: string }).openId),
    refusal: 'this user may be called through the proxy at most',
    what: 'times',
  });
  const handle: Middleware = async (ctx, next) => {
    const { openId } = parseInput(proxyParams, ctx.params);
    let path: string;
    let url: URL;
    try {
      path = checkedFeishuPath(rawFeishuPath(ctx));
      url = feishuUrl(options.feishuDomain, path, ctx.querystring);
    } catch (err) {
      if (err instanceof ProxyPathError) throw new HttpError(400, 'invalid_proxy_path', err.message);
      throw err;
    }
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    if (!proxyAllows(allowLists.get(String(ctx.state.apiKey)), method, path)) {
      throw new HttpError(
        403,
        'path_not_allowed',
        `the API key "${String(ctx.state.apiKey)}" may not ${method} ${pathTemplate(path)}`,
      );
    }
    ctx.state.proxy = { openId, url };
    await perUser(ctx, next);
  };
  const forward: Middleware = async (ctx) => {
    const { openId, url } = ctx.state.proxy as { openId: string; url: URL };
    const body = await requestBody(ctx, options.maxRequestBytes);
    const gone = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) gone.abort();
    });
    const request: ProxiedRequest = {
      method: ctx.method,
      url,
      headers: ctx.headers,
      body,
      signal: gone.signal,
    };
    const token = await tokens.current(openId);
    const first = await callFeishu(request, token.accessToken, limits);
    if (!first.tokenRefused) return answer(ctx, first);
    // Once: a token refused right after its refresh would be refused again.
    const fresh = await tokens.replacing(openId, token);
    answer(ctx, await callFeishu(request, fresh.accessToken, limits));
  };
  const guards = [
    audited(options.audit, 'proxy.call', auditedRequest),
    options.requireProxyRole,
    rateLimitPerKey(options.perKey, 'proxied calls'),
    handle,
    forward,
  ];
  for (const method of PROXY_METHODS) {
    router.register(PROXY_PATH, [method], guards);
  }
  return router;
}
