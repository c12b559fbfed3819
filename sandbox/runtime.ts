import type { Logger } from 'pino';
import type { CallbackHub } from './callbacks/hub.ts';
import type { ResolvedConfig } from './config.ts';
import type { Faults } from './faults.ts';
import type { Counters } from './http/counters.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Store } from './store.ts';

/** What every route and helper shares for one running sandbox. */
export interface Runtime {
  config: ResolvedConfig;
  store: Store;
  limiter: RateLimiter;
  faults: Faults;
  counters: Counters;
  callbacks: CallbackHub;
  logger: Logger;
  /** Known once the server listens; pages and user_info avatars embed it. */
  baseUrl: string;
}
