import type { Context, Next } from 'koa';
import { isApiPath } from '../faults.ts';

/** Requests per endpoint and outcome code (Feishu code, or `http_<status>` when the body has none). */
export class Counters {
  private readonly counts = new Map<string, Map<string, number>>();

  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      try {
        await next();
      } finally {
        if (isApiPath(ctx.path)) {
          const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute;
          const body = ctx.body as { code?: unknown } | undefined;
          const code = typeof body?.code === 'number' ? String(body.code) : `http_${ctx.status}`;
          this.add(`${ctx.method} ${typeof route === 'string' ? route : ctx.path}`, code);
        }
      }
    };
  }

  add(endpoint: string, code: string): void {
    const byCode = this.counts.get(endpoint) ?? new Map<string, number>();
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    this.counts.set(endpoint, byCode);
  }

  snapshot(): Record<string, Record<string, number>> {
    return Object.fromEntries(
      [...this.counts].map(([endpoint, byCode]) => [endpoint, Object.fromEntries(byCode)]),
    );
  }

  reset(): void {
    this.counts.clear();
  }
}
