import type { Logger } from '../logger.ts';
import { FeishuApiError } from './errors.ts';

/** Feishu's "the app lacks a scope" code: here, neither admin:app.info:readonly nor application:application:self_manage. */
const APP_LACKS_SCOPE = 99991672;

/** After a failure that retrying may fix, how long to skip the check before asking Feishu again. */
const RETRY_AFTER_FAILURE_MS = 10_000;

export interface ScopeSource {
  enabledUserScopes(signal?: AbortSignal): Promise<string[]>;
}

interface Cached {
  /** undefined: Feishu would not say, so nothing is checked. */
  scopes: ReadonlySet<string> | undefined;
  until: number;
}

/**
 * The user scopes enabled for the app, read from Feishu and kept for a short while, so a request
 * for a scope the app lacks is refused before a card leads the user to an error page they cannot
 * fix. When the app may not read its own settings, nothing is checked: the check is a courtesy,
 * never a reason to refuse a request. Concurrent callers share one call to Feishu.
 */
export class EnabledScopes {
  private cached: Cached | undefined;
  private inFlight: Promise<Cached> | undefined;
  private toldUnreadable = false;

  constructor(
    private readonly source: ScopeSource,
    private readonly logger: Logger,
    private readonly ttlMs: number,
  ) {}

  /** The requested scopes the app has not enabled; empty when all are, or when Feishu would not tell. */
  async missing(requested: readonly string[]): Promise<string[]> {
    const { scopes } = await this.current();
    if (!scopes) return [];
    return [...new Set(requested)].filter((scope) => !scopes.has(scope)).sort();
  }

  private current(): Promise<Cached> {
    if (this.cached && Date.now() < this.cached.until) return Promise.resolve(this.cached);
    this.inFlight ??= this.load().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async load(): Promise<Cached> {
    let cached: Cached;
    try {
      const scopes = await this.source.enabledUserScopes();
      cached = { scopes: new Set(scopes), until: Date.now() + this.ttlMs };
    } catch (err) {
      if (!(err instanceof FeishuApiError)) throw err;
      cached = { scopes: undefined, until: Date.now() + this.unreadable(err) };
    }
    this.cached = cached;
    return cached;
  }

  /** Logs why nothing is checked (a missing permission once per process) and says for how long. */
  private unreadable(err: FeishuApiError): number {
    if (err.kind === 'transient' || err.kind === 'rate_limited') {
      this.logger.warn({ code: err.code, kind: err.kind }, 'scope pre-check skipped: Feishu did not answer');
      return Math.min(this.ttlMs, RETRY_AFTER_FAILURE_MS);
    }
    if (!this.toldUnreadable) {
      this.toldUnreadable = true;
      this.logger.warn(
        { code: err.code },
        err.code === APP_LACKS_SCOPE
          ? 'scope pre-check off: the app may not read its own scopes; enable admin:app.info:readonly (or application:application:self_manage) to have requests for disabled scopes refused before a card is sent'
          : 'scope pre-check off: Feishu refused to tell the app its scopes',
      );
    }
    return this.ttlMs;
  }
}
