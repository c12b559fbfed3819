import type { Logger } from 'pino';
import type { CallbackHub } from './callbacks/hub';
import type { ResolvedConfig } from './config';
import type { Faults } from './faults';
import type { Counters } from './http/counters';
import type { RateLimiter } from './rate-limit';
import type { Store } from './store';

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
