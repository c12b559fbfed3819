import type { Context, Middleware } from 'koa';
import { HttpError } from './errors.ts';

export interface RateLimit {
  /** Requests one bucket allows at once, after a quiet spell. */
  burst: number;
  /** Requests one bucket allows per minute, sustained. */
  perMinute: number;
}

export interface RateLimitOptions extends RateLimit {
  /** Which bucket a request draws from: the API key's name, a user, … */
  bucketOf: (ctx: Context) => string;
  /** What the refusal says is limited, e.g. "this API key may send at most". */
  refusal: string;
  /** What is counted, e.g. "authorization requests". */
  what: string;
}

/** Past this many buckets, those refilled to the brim are dropped: they hold nothing a new one would not. */
const SWEEP_ABOVE = 10_000;

/**
 * A token bucket per key (an API key's name, a user), in this process: with several API replicas
 * a bucket allows `replicas ×` the limit. Refusals answer 429 with Retry-After, before anything is
 * done, so a refused request changes nothing.
 */
export function rateLimit({ burst, perMinute, bucketOf, refusal, what }: RateLimitOptions): Middleware {
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (ctx, next) => {
    const key = bucketOf(ctx);
    const now = Date.now();
    if (buckets.size > SWEEP_ABOVE) {
      for (const [k, b] of buckets) if (b.tokens + (now - b.at) * perMs >= burst) buckets.delete(k);
    }
    const bucket = buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      ctx.set('Retry-After', String(Math.ceil((1 - bucket.tokens) / perMs / 1000)));
      throw new HttpError(
        429,
        'rate_limited',
        `${refusal} ${perMinute} ${what} a minute (bursts of ${burst})`,
      );
    }
    bucket.tokens -= 1;
    await next();
  };
}

/** The limit per API key name (placed after the key check, which names the key). */
export function rateLimitPerKey(limit: RateLimit, what: string): Middleware {
  return rateLimit({
    ...limit,
    what,
    bucketOf: (ctx) => String(ctx.state.apiKey),
    refusal: 'this API key may send at most',
  });
}
