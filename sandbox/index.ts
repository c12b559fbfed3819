import pino from 'pino';
import { CallbackHub } from './callbacks/hub.ts';
import { resolveConfig } from './config.ts';
import { createControl, type SandboxControl } from './control.ts';
import { Faults } from './faults.ts';
import { Counters } from './http/counters.ts';
import { RateLimiter } from './rate-limit.ts';
import type { Runtime } from './runtime.ts';
import { listen } from './server.ts';
import { Store } from './store.ts';
import type { SandboxOptions } from './types.ts';

export type {
  SandboxAppOptions,
  SandboxOptions,
  SandboxUserOptions,
  SandboxChatOptions,
  Lifetimes,
  WsClientConfig,
} from './types.ts';
export type { FaultKind, FaultSettings } from './faults.ts';
export type { ButtonSelector, ClickResult } from './interactions.ts';
export type { MessageSnapshot, TokenKind } from './inspection.ts';

export type Sandbox = SandboxControl & {
  /** Base URL: use it as both the SDK's `domain` and `oauthBaseUrl`. */
  url: string;
  close(): Promise<void>;
};

/** Starts a local Feishu Open Platform stand-in the official SDK can talk to unchanged. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const config = resolveConfig(options);
  const runtime = {
    config,
    store: new Store(config),
    limiter: new RateLimiter(config.rateLimits),
    faults: new Faults(options.random),
    counters: new Counters(),
    logger: options.logger ?? pino({ level: 'silent' }),
    baseUrl: '',
  } as Omit<Runtime, 'callbacks'> as Runtime;
  runtime.callbacks = new CallbackHub(runtime);
  const control = createControl(runtime);
  const { server, url } = await listen(runtime, control);
  runtime.baseUrl = url;
  return {
    ...control,
    url,
    close: async () => {
      runtime.callbacks.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
