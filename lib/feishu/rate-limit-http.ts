import { AsyncLocalStorage } from 'node:async_hooks';
import * as lark from '@larksuiteoapi/node-sdk';

export interface RateLimitScope {
  retryAfterSeconds?: number;
}

const scopes = new AsyncLocalStorage<RateLimitScope>();

interface HttpFailure {
  response?: { headers?: Record<string, unknown> };
}

function remember(err: unknown): void {
  const raw = (err as HttpFailure | undefined)?.response?.headers?.['x-ogw-ratelimit-reset'];
  const seconds = Number(raw);
  const scope = scopes.getStore();
  if (scope && raw !== undefined && Number.isFinite(seconds)) scope.retryAfterSeconds = seconds;
}

/**
 * The SDK's HTTP instance, noting `x-ogw-ratelimit-reset` of a failed response in the calling
 * scope: the token helpers turn failures into AccessTokenError, which drops the headers.
 */
// The SDK types its default instance as axios's; its response interceptor makes it an HttpInstance.
const sdkHttp = lark.defaultHttpInstance as unknown as lark.HttpInstance;

export const rateLimitAwareHttp: lark.HttpInstance = new Proxy(sdkHttp, {
  get(target, property, receiver) {
    const value: unknown = Reflect.get(target, property, receiver);
    if (typeof value !== 'function') return value;
    return (...args: unknown[]) =>
      (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: unknown) => {
        remember(err);
        throw err;
      });
  },
});

/** Runs fn; a rate-limit reset that any of its failed requests carried lands in scope. */
export function inRateLimitScope<T>(scope: RateLimitScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}
