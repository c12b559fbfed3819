import type { Middleware } from 'koa';
import { z } from 'zod';
import type { Logger } from '../lib/logger.ts';
import { isOutage } from './outage.ts';

/** An error whose status and message are meant for the caller. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Parses input with a zod schema; a mismatch is a 400 naming the first bad field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join('.') || 'body';
    throw new HttpError(400, 'invalid_request', `${field}: ${issue.message}`);
  }
  return result.data;
}

/**
 * Every failure becomes `{error: {code, message}}`. PostgreSQL or Temporal being unreachable is
 * 503 `unavailable` with Retry-After; other unexpected errors are logged with their stack and
 * answered with a generic 500, so internals never reach a caller.
 */
export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      const allowed = ctx.response.get('allow');
      // @koa/router answers a method it does not know (TRACE, PROPFIND…) 501, as if the server
      // were at fault; to the caller it is one more method the path does not allow.
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined && allowed) {
        throw new HttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here; try ${allowed}`);
      }
      if ([404, 405, 501].includes(ctx.status) && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        ctx.body = { error: { code: err.code, message: err.message } };
        return;
      }
      const status = (err as { status?: number }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        // Koa and its body parser signal bad requests (malformed JSON, too large) this way.
        ctx.status = status;
        ctx.body = { error: { code: 'bad_request', message: (err as Error).message } };
        return;
      }
      if (isOutage(err)) {
        logger.warn({ err, route: ctx.path }, 'request failed: a dependency is unreachable');
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = {
          error: { code: 'unavailable', message: 'the service is briefly unavailable; retry shortly' },
        };
        return;
      }
      logger.error({ err, route: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal', message: 'internal error' } };
    }
  };
}
