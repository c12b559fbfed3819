import { AsyncLocalStorage } from 'node:async_hooks';
import * as lark from '@larksuiteoapi/node-sdk';

/** What one gateway call shares with every HTTP request the SDK makes for it (tenant token included). */
export interface CallScope {
  /** Aborts the call's requests: the activity that made it was cancelled or timed out. */
  signal?: AbortSignal;
  /** `x-ogw-ratelimit-reset` of a failed response: the token helpers' AccessTokenError drops headers. */
  retryAfterSeconds?: number;
}

const scopes = new AsyncLocalStorage<CallScope>();

interface HttpFailure {
  response?: { headers?: Record<string, unknown> };
}

function remember(err: unknown, scope: CallScope | undefined): void {
  const raw = (err as HttpFailure | undefined)?.response?.headers?.['x-ogw-ratelimit-reset'];
  const seconds = Number(raw);
  if (scope && raw !== undefined && Number.isFinite(seconds)) scope.retryAfterSeconds = seconds;
}

// The SDK types its default instance as axios's; its response interceptor makes it an HttpInstance.
const sdkHttp = lark.defaultHttpInstance as unknown as lark.HttpInstance;

type Options = lark.HttpRequestOptions<unknown>;

/**
 * The SDK's HTTP instance with a deadline: its own has no timeout, so a request Feishu never
 * answers would outlive the activity that made it. Every request also carries the calling scope's
 * abort signal, and a failed one leaves its rate-limit reset in that scope.
 */
export function feishuHttp(timeoutMs: number): lark.HttpInstance {
  async function send<R>(options: Options): Promise<R> {
    const scope = scopes.getStore();
    // axios takes `signal` although the SDK's option type does not list it.
    const withDeadline: Options & { signal?: AbortSignal } = {
      ...options,
      timeout: timeoutMs,
      signal: scope?.signal,
    };
    try {
      return await sdkHttp.request<unknown, R>(withDeadline);
    } catch (err) {
      remember(err, scope);
      throw err;
    }
  }
  return {
    request: <T, R = T>(options: Options) => send<R>(options),
    get: <T, R = T>(url: string, options?: Options) => send<R>({ ...options, method: 'get', url }),
    delete: <T, R = T>(url: string, options?: Options) => send<R>({ ...options, method: 'delete', url }),
    head: <T, R = T>(url: string, options?: Options) => send<R>({ ...options, method: 'head', url }),
    options: <T, R = T>(url: string, options?: Options) => send<R>({ ...options, method: 'options', url }),
    post: <T, R = T>(url: string, data?: unknown, options?: Options) =>
      send<R>({ ...options, method: 'post', url, data }),
    put: <T, R = T>(url: string, data?: unknown, options?: Options) =>
      send<R>({ ...options, method: 'put', url, data }),
    patch: <T, R = T>(url: string, data?: unknown, options?: Options) =>
      send<R>({ ...options, method: 'patch', url, data }),
  };
}

/** Runs fn with its requests bound to scope: they abort with its signal and report their rate-limit reset. */
export function inCallScope<T>(scope: CallScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}
