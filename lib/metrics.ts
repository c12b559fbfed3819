import client from 'prom-client';
import type { Db } from './db.ts';

/**
 * The service's Prometheus metrics. Labels never carry user ids, tokens or free text: only the
 * small fixed vocabularies documented in monitoring/ (reasons, results, endpoints, codes).
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const authSessionTotal = new client.Counter({
  name: 'auth_session_total',
  help: 'Authorization attempts started (cards sent).',
  registers: [registry],
});
export const authSuccessTotal = new client.Counter({
  name: 'auth_success_total',
  help: 'Authorization attempts that ended authorized.',
  registers: [registry],
});
export const authFailureTotal = new client.Counter({
  name: 'auth_failure_total',
  help: 'Authorization attempts that ended without a grant, by reason.',
  labelNames: ['reason'] as const,
  registers: [registry],
});
export const authSessionDuration = new client.Histogram({
  name: 'auth_session_duration_seconds',
  help: 'Time from the request to the settled attempt.',
  buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800],
  registers: [registry],
});
export const tokenRefreshTotal = new client.Counter({
  name: 'token_refresh_total',
  help: 'Refresh attempts by result: success, skipped (already rotated), transient_error (retried), needs_reauth (the grant ended), refused (retrying cannot fix it: configuration).',
  labelNames: ['result'] as const,
  registers: [registry],
});
export const feishuApiRequests = new client.Counter({
  name: 'feishu_api_requests_total',
  help: 'Calls to Feishu by endpoint and Feishu code ("0" success, "network" when no answer).',
  labelNames: ['endpoint', 'code'] as const,
  registers: [registry],
});
export const feishuCallbackDuration = new client.Histogram({
  name: 'feishu_callback_duration_seconds',
  help: 'Time to answer a Feishu callback or event.',
  labelNames: ['transport', 'kind'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
  registers: [registry],
});
export const dbErrors = new client.Counter({
  name: 'db_errors_total',
  help: 'Failed database calls (queries and connections) by operation: token_read, grant_gauges, or the activity that made them.',
  labelNames: ['operation'] as const,
  registers: [registry],
});

type Call = (...args: unknown[]) => unknown;

/**
 * The pool, with every failed query and connection (in transactions too) counted in
 * db_errors_total under the operation named when the call is made, then rethrown unchanged.
 */
export function countDbErrors(db: Db, operation: () => string): Db {
  const counted =
    (target: object, method: 'query' | 'connect', onValue: (value: unknown) => unknown = (v) => v): Call =>
    (...args) => {
      const label = operation();
      const result = (Reflect.get(target, method) as Call).apply(target, args);
      // Only a callback or a submittable query returns no promise; the store passes neither.
      if (!(result instanceof Promise)) return result;
      return result.then(onValue, (err: unknown) => {
        dbErrors.inc({ operation: label });
        throw err;
      });
    };
  const withCounting = (target: object, connect?: Call) =>
    new Proxy(target, {
      get: (t, prop, receiver) =>
        prop === 'query'
          ? counted(t, 'query')
          : prop === 'connect' && connect
            ? connect
            : (Reflect.get(t, prop, receiver) as unknown),
    });
  // A client from connect() runs a transaction: its queries are counted the same way.
  return withCounting(
    db,
    counted(db, 'connect', (client) => withCounting(client as object)),
  ) as Db;
}

export const httpRequestDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'API request latency by route template.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 1, 3],
  registers: [registry],
});
export const grantsByStatus = new client.Gauge({
  name: 'auth_grants',
  help: 'Grants by status (from PostgreSQL).',
  labelNames: ['status'] as const,
  registers: [registry],
});
export const grantsExpiringSoon = new client.Gauge({
  name: 'auth_grants_expiring_soon',
  help: 'Authorized grants whose 365-day limit is within 7 days.',
  registers: [registry],
});
