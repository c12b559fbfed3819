import { EventEmitter } from 'node:events';
import { openIdFor, type App, type ResolvedConfig, type User } from './config.ts';
import { stableHex } from './ids.ts';

export interface TenantToken {
  token: string;
  appId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface AuthCode {
  code: string;
  appId: string;
  userKey: string;
  redirectUri: string;
  scopes: string[];
  challenge: { value: string; method: 'plain' | 'S256' } | undefined;
  expiresAt: number;
  usedAt: number | undefined;
}

/** One consent: its refresh-token chain lives at most grantMaxSeconds from authorizedAt. */
export interface Authorization {
  id: string;
  appId: string;
  userKey: string;
  authorizedAt: number;
  scopes: string[];
  revokedAt: number | undefined;
}

export interface UserToken {
  token: string;
  authorizationId: string;
  issuedAt: number;
  expiresAt: number;
  scopes: string[];
}

export interface RefreshToken extends UserToken {
  usedAt: number | undefined;
  /** Each time the token was presented again after it was used (refused with 20073). */
  reusedAt: number[];
  /** When the answer to the refresh that used it was lost on the way back (a fault). */
  answerLostAt: number | undefined;
}

export interface DeviceRequest {
  deviceCode: string;
  userCode: string;
  appId: string;
  scopes: string[];
  expiresAt: number;
  intervalSeconds: number;
  lastPollAt: number | undefined;
  status: 'pending' | 'approved' | 'denied' | 'consumed';
  userKey: string | undefined;
}

export interface TokenEvent {
  at: number;
  endpoint: 'v3' | 'v2';
  /** What the request asked for, supported or not. */
  grantType: string;
  appId: string;
  openId: string | undefined;
  authorizationId: string | undefined;
  ok: boolean;
  status: number;
  code: number | undefined;
  error: string | undefined;
}

export type VersionSource = 'create' | 'patch' | 'put' | 'delayed_update' | 'callback_answer' | 'reverted';

export interface MessageVersion {
  version: number;
  at: number;
  source: VersionSource;
  content: string;
  /** Set when a later answer to a card callback undid this update (it raced the answer). */
  revertedAt?: number;
}

export interface Message {
  messageId: string;
  appId: string;
  chatId: string;
  /** The user whose p2p chat holds the message. */
  userKey: string;
  sender: 'bot' | 'user';
  msgType: string;
  createdAt: number;
  uuid: string | undefined;
  versions: MessageVersion[];
}

export interface CallbackDelivery {
  id: string;
  at: number;
  appId: string;
  eventType: string;
  eventId: string;
  via: 'ws' | 'http';
  messageId: string | undefined;
  ok: boolean;
  durationMs: number;
  answer: unknown;
  error: string | undefined;
}

export interface DelayedUpdateToken {
  token: string;
  appId: string;
  messageId: string;
  expiresAt: number;
  usesLeft: number;
  /** Feishu rejects a delayed update sent before the callback it belongs to was answered. */
  answered: boolean;
}

/** A group chat the bot is in: its members by user key. */
export interface GroupChat {
  chatId: string;
  appId: string;
  name: string;
  memberKeys: string[];
}

/** A task the user created through the task API with their own token. */
export interface Task {
  guid: string;
  summary: string;
  description: string;
  createdAt: number;
  creatorOpenId: string;
}

export type StoreEvent = { type: 'message'; appId: string; userKey: string; messageId: string };

export class Store {
  readonly tenantTokens = new Map<string, TenantToken>();
  readonly appAccessTokens = new Map<string, TenantToken>();
  readonly codes = new Map<string, AuthCode>();
  /** Feishu accumulates a user's granted scopes across authorizations, keyed `${appId}:${userKey}`. */
  readonly grantedScopes = new Map<string, Set<string>>();
  readonly deviceRequests = new Map<string, DeviceRequest>();
  readonly authorizations = new Map<string, Authorization>();
  readonly accessTokens = new Map<string, UserToken>();
  readonly refreshTokens = new Map<string, RefreshToken>();
  readonly tokenEvents: TokenEvent[] = [];
  readonly messages = new Map<string, Message>();
  readonly uuids = new Map<string, { messageId: string; at: number }>();
  readonly callbackTokens = new Map<string, DelayedUpdateToken>();
  readonly deliveries: CallbackDelivery[] = [];
  readonly chats = new Map<string, GroupChat>();
  /** Each user's tasks, oldest first, keyed `${appId}:${userKey}`. */
  readonly tasks = new Map<string, Task[]>();
  private readonly emitter = new EventEmitter();

  constructor(readonly config: ResolvedConfig) {
    this.emitter.setMaxListeners(0);
  }

  app(appId: string): App | undefined {
    return this.config.apps.find((a) => a.appId === appId);
  }

  user(key: string): User | undefined {
    return this.config.users.find((u) => u.key === key);
  }

  userByOpenId(appId: string, openId: string): User | undefined {
    return this.config.users.find((u) => openIdFor(appId, u) === openId);
  }

  openId(appId: string, userKey: string): string {
    const user = this.user(userKey);
    if (!user) throw new Error(`sandbox: unknown user ${userKey}`);
    return openIdFor(appId, user);
  }

  chatId(appId: string, userKey: string): string {
    return `oc_${stableHex(`chat:${appId}:${userKey}`, 32)}`;
  }

  emit(event: StoreEvent): void {
    this.emitter.emit('change', event);
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
}
