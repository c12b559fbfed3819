import type { Context, Next } from 'koa';
import { oauth, openApi } from './errors.ts';
import { sendOAuthError } from './http/respond.ts';

export type FaultKind = 'http5xx' | 'serverError' | 'unavailable' | 'rateLimit';

export interface FaultSettings {
  /** Added to every API request (not to pages or the inspection API). */
  latencyMs: number;
  /** Fraction of API requests answered by a gateway 502. */
  http5xxRate: number;
  /** Fraction of OAuth token requests answered 500 / 20050. */
  serverErrorRate: number;
  /** Fraction of OAuth token requests answered 503 / 20072. */
  unavailableRate: number;
  /** Fraction of successful refreshes whose answer is lost after the token rotated (connection dropped). */
  lostRefreshAnswerRate: number;
  /** Fraction of API requests answered 429 / 99991400 with `x-ogw-ratelimit-reset`. */
  rateLimitRate: number;
  rateLimitResetSeconds: number;
  /** Limits latency and rate-based faults to paths starting with this. */
  pathPrefix: string | undefined;
  /** Header type of card callback frames on the long connection; the SDK drops `card` ones. */
  cardFrameType: 'event' | 'card';
  /** Split every long-connection payload into this many frames. */
  wsFragments: number;
}

const DEFAULTS: FaultSettings = {
  latencyMs: 0,
  http5xxRate: 0,
  serverErrorRate: 0,
  unavailableRate: 0,
  lostRefreshAnswerRate: 0,
  rateLimitRate: 0,
  rateLimitResetSeconds: 1,
  pathPrefix: undefined,
  cardFrameType: 'event',
  wsFragments: 1,
};

interface Queued {
  kind: FaultKind;
  remaining: number;
  pathPrefix: string | undefined;
}

const TOKEN_PATHS = ['/oauth/v3/token', '/open-apis/authen/v2/oauth/token', '/oauth/v1/device_authorization'];
const PAGE_PATHS = ['/open-apis/authen/v1/authorize', '/oauth/v1/device/verify'];

/** Requests a fault may hit: Feishu's APIs, not the pages people look at nor the sandbox's own endpoints. */
export const isApiPath = (path: string): boolean =>
  (path.startsWith('/open-apis/') || path.startsWith('/oauth/') || path.startsWith('/callback/ws/')) &&
  !PAGE_PATHS.includes(path);

const isTokenPath = (path: string): boolean => TOKEN_PATHS.includes(path);

/** 20050 and 20072 are OAuth codes: they only exist on the token endpoints. */
const applies = (kind: FaultKind, path: string): boolean =>
  kind === 'serverError' || kind === 'unavailable' ? isTokenPath(path) : true;

export class Faults {
  private current: FaultSettings = { ...DEFAULTS };
  private queue: Queued[] = [];
  private lostRefreshAnswers = 0;

  /** `random` decides the rate-based faults; a seeded one makes a run repeatable. */
  constructor(private readonly random: () => number = Math.random) {}

  get settings(): Readonly<FaultSettings> {
    return this.current;
  }

  set(partial: Partial<FaultSettings>): FaultSettings {
    this.current = { ...this.current, ...partial };
    return this.current;
  }

  reset(): FaultSettings {
    this.current = { ...DEFAULTS };
    this.queue = [];
    this.lostRefreshAnswers = 0;
    return this.current;
  }

  /** The answers to the next `count` successful refreshes are lost after Feishu rotated. */
  loseNextRefreshAnswers(count = 1): void {
    this.lostRefreshAnswers += count;
  }

  /** Whether the answer to the refresh that just succeeded is lost. */
  loseRefreshAnswer(): boolean {
    if (this.lostRefreshAnswers > 0) {
      this.lostRefreshAnswers -= 1;
      return true;
    }
    const rate = this.current.lostRefreshAnswerRate;
    return rate > 0 && this.random() < rate;
  }

  /** Deterministic injection for tests: the next `count` matching requests fail with `kind`. */
  failNext(kind: FaultKind, options: { count?: number; pathPrefix?: string } = {}): void {
    this.queue.push({ kind, remaining: options.count ?? 1, pathPrefix: options.pathPrefix });
  }

  snapshot() {
    return {
      settings: this.current,
      queued: this.queue.map((q) => ({ ...q })),
      lostRefreshAnswers: this.lostRefreshAnswers,
    };
  }

  private pick(path: string): FaultKind | undefined {
    const queued = this.queue.find(
      (q) => (!q.pathPrefix || path.startsWith(q.pathPrefix)) && applies(q.kind, path),
    );
    if (queued) {
      queued.remaining -= 1;
      if (queued.remaining <= 0) this.queue.splice(this.queue.indexOf(queued), 1);
      return queued.kind;
    }
    if (this.current.pathPrefix && !path.startsWith(this.current.pathPrefix)) return undefined;
    const rates: Array<[FaultKind, number]> = [
      ['rateLimit', this.current.rateLimitRate],
      ['http5xx', this.current.http5xxRate],
      ['serverError', this.current.serverErrorRate],
      ['unavailable', this.current.unavailableRate],
    ];
    return rates.find(([kind, rate]) => rate > 0 && applies(kind, path) && this.random() < rate)?.[0];
  }

  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      if (!isApiPath(ctx.path)) {
        await next();
        return;
      }
      const { latencyMs, pathPrefix } = this.current;
      if (latencyMs > 0 && (!pathPrefix || ctx.path.startsWith(pathPrefix))) {
        await new Promise((resolve) => setTimeout(resolve, latencyMs));
      }
      const fault = this.pick(ctx.path);
      if (fault === 'rateLimit') throw openApi.rateLimited(this.current.rateLimitResetSeconds);
      if (fault === 'serverError') return sendOAuthError(ctx, oauth.serverError());
      if (fault === 'unavailable') return sendOAuthError(ctx, oauth.unavailable());
      if (fault === 'http5xx') {
        ctx.status = 502;
        ctx.type = 'text';
        ctx.body = '502 Bad Gateway';
        return;
      }
      await next();
    };
  }
}
