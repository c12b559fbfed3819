import type { Logger } from 'pino';

export type CallbackMode = 'ws' | 'http';

export interface SandboxAppOptions {
  /** `cli_` + 16 hex digits: the SDK's WSClient refuses anything else. */
  appId: string;
  appSecret: string;
  /** The security settings' redirect URL allow-list (exact match, as Feishu does). */
  redirectUris: string[];
  /** User scopes enabled for the app in the console. */
  scopes?: string[];
  /**
   * Tenant (app identity) scopes enabled for the app; with admin:app.info:readonly or
   * application:application:self_manage the app may read its own settings, scopes included.
   */
  tenantScopes?: string[];
  /** The console's "refresh user_access_token" switch. */
  refreshEnabled?: boolean;
  name?: string;
  callback?: {
    mode: CallbackMode;
    /** http mode: where events and card callbacks are POSTed. */
    url?: string;
    encryptKey?: string;
    verificationToken?: string;
  };
}

/** A group chat the bot is in; its members are seeded users, by open_id in this app or by position. */
export interface SandboxChatOptions {
  chatId?: string;
  name?: string;
  appId?: string;
  members: (string | number)[];
}

export interface SandboxUserOptions {
  /** Used for every app when given; otherwise derived per app, as Feishu's open_ids are. */
  openId?: string;
  name: string;
  enName?: string;
  email?: string;
  mobile?: string;
  userId?: string;
  employeeNo?: string;
}

export interface Lifetimes {
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  codeSeconds: number;
  /** Hard cap after an authorization; past it a refresh fails with 20037. */
  grantMaxSeconds: number;
  /** How long an access token keeps working after its grant was refreshed. */
  accessTokenGraceSeconds: number;
  tenantTokenSeconds: number;
  deviceCodeSeconds: number;
  deviceIntervalSeconds: number;
  /** Delayed-update tokens handed out with card callbacks. */
  callbackTokenSeconds: number;
  /** How long Feishu waits for a callback answer before showing 200340. */
  callbackTimeoutMs: number;
}

/** What the long-connection endpoint and every pong hand to the SDK (seconds). */
export interface WsClientConfig {
  PingInterval: number;
  ReconnectCount: number;
  ReconnectInterval: number;
  ReconnectNonce: number;
}

export interface SandboxOptions {
  port?: number;
  host?: string;
  apps: SandboxAppOptions[];
  users?: SandboxUserOptions[];
  lifetimes?: Partial<Lifetimes>;
  wsClientConfig?: Partial<WsClientConfig>;
  /** Per-app and per-message rate limits as documented; off only for load tests that want raw speed. */
  rateLimits?: boolean;
  logger?: Logger;
  /** Decides the rate-based faults (Math.random by default); a seeded one makes a run repeatable. */
  random?: () => number;
}
