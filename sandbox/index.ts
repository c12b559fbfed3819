import pino from 'pino';
import { CallbackHub } from './callbacks/hub';
import { resolveConfig } from './config';
import { createControl, type SandboxControl } from './control';
import { Faults } from './faults';
import { Counters } from './http/counters';
import { RateLimiter } from './rate-limit';
import type { Runtime } from './runtime';
import { listen } from './server';
import { Store } from './store';
import type { SandboxOptions } from './types';

export type {
  SandboxAppOptions,
  SandboxOptions,
  SandboxUserOptions,
  Lifetimes,
  WsClientConfig,
} from './types';
export type { FaultKind, FaultSettings } from './faults';
export type { ButtonSelector, ClickResult } from './interactions';
export type { MessageSnapshot, TokenKind } from './inspection';

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
    faults: new Faults(),
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
