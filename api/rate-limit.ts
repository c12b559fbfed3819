import type { Middleware } from 'koa';
import { HttpError } from './errors.ts';

export interface RateLimit {
  /** Requests a key may make at once, after a quiet spell. */
  burst: number;
  /** Requests a key may make per minute, sustained. */
  perMinute: number;
}

/**
 * A token bucket per API key name, in this process: with several API replicas a key may make
 * `replicas ×` the limit. Refusals answer 429 with Retry-After, before anything is done, so a
 * refused request changes nothing.
 */
export function rateLimitPerKey({ burst, perMinute }: RateLimit): Middleware {
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (ctx, next) => {
    const key = String(ctx.state.apiKey);
    const now = Date.now();
    const bucket = buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      ctx.set('Retry-After', String(Math.ceil((1 - bucket.tokens) / perMs / 1000)));
      throw new HttpError(
        429,
        'rate_limited',
        `this API key may send at most ${perMinute} authorization requests a minute (bursts of ${burst})`,
      );
    }
    bucket.tokens -= 1;
    await next();
  };
}
