import { stableHex } from './ids.ts';
import type {
  CallbackMode,
  Lifetimes,
  SandboxAppOptions,
  SandboxOptions,
  SandboxUserOptions,
  WsClientConfig,
} from './types.ts';

export const DEFAULT_SCOPES = [
  'offline_access',
  'contact:user.base:readonly',
  'contact:user.email:readonly',
  'contact:user.phone:readonly',
  'contact:user.employee_id:readonly',
  'im:message',
  'calendar:calendar:readonly',
  'docx:document:readonly',
  'drive:drive:readonly',
  'task:task:read',
  'task:task:write',
];

export const DEFAULT_LIFETIMES: Lifetimes = {
  accessTokenSeconds: 7200,
  refreshTokenSeconds: 604800,
  codeSeconds: 300,
  grantMaxSeconds: 365 * 86400,
  accessTokenGraceSeconds: 60,
  tenantTokenSeconds: 7200,
  deviceCodeSeconds: 240,
  deviceIntervalSeconds: 5,
  callbackTokenSeconds: 1800,
  callbackTimeoutMs: 3000,
};

// Feishu's own values except the reconnect delays, which are shortened so a dropped socket
// comes back while a developer is still looking.
export const DEFAULT_WS_CLIENT_CONFIG: WsClientConfig = {
  PingInterval: 120,
  ReconnectCount: -1,
  ReconnectInterval: 5,
  ReconnectNonce: 2,
};

const DEFAULT_USERS: SandboxUserOptions[] = [
  { name: '张三', enName: 'Zhang San', email: 'zhangsan@example.com', mobile: '+8613800000001' },
  { name: '李四', enName: 'Li Si', email: 'lisi@example.com', mobile: '+8613800000002' },
  { name: '王五', enName: 'Wang Wu', email: 'wangwu@example.com', mobile: '+8613800000003' },
];

export type AppStatus = 'active' | 'disabled' | 'not_installed';

export interface App {
  appId: string;
  appSecret: string;
  name: string;
  redirectUris: string[];
  scopes: Set<string>;
  tenantScopes: Set<string>;
  refreshEnabled: boolean;
  status: AppStatus;
  callback: {
    mode: CallbackMode;
    url: string | undefined;
    encryptKey: string | undefined;
    verificationToken: string;
  };
}

/** deleted → 20008, inactive → 20066, no_permission → 20010 at the token endpoint. */
export type UserStatus = 'active' | 'deleted' | 'inactive' | 'no_permission';

export interface User {
  /** Stable across apps; open_ids are derived from it per app. */
  key: string;
  fixedOpenId: string | undefined;
  name: string;
  enName: string;
  email: string | undefined;
  mobile: string | undefined;
  userId: string;
  employeeNo: string;
  unionId: string;
  status: UserStatus;
}

const APP_ID = /^cli_[0-9a-f]{16}$/i;

function resolveApp(options: SandboxAppOptions): App {
  if (!APP_ID.test(options.appId)) {
    throw new Error(`sandbox: appId ${options.appId} must be cli_ followed by 16 hex digits`);
  }
  if (!options.appSecret) throw new Error(`sandbox: app ${options.appId} needs an appSecret`);
  const mode = options.callback?.mode ?? 'ws';
  if (mode === 'http' && !options.callback?.url) {
    throw new Error(`sandbox: app ${options.appId} uses http callbacks but has no callback.url`);
  }
  return {
    appId: options.appId,
    appSecret: options.appSecret,
    name: options.name ?? 'Sandbox Bot',
    redirectUris: [...options.redirectUris],
    scopes: new Set(options.scopes ?? DEFAULT_SCOPES),
    tenantScopes: new Set(options.tenantScopes ?? []),
    refreshEnabled: options.refreshEnabled ?? true,
    status: 'active',
    callback: {
      mode,
      url: options.callback?.url,
      encryptKey: options.callback?.encryptKey || undefined,
      // Every Feishu app has a verification token; derive one when the caller does not care.
      verificationToken: options.callback?.verificationToken || `vt${stableHex(`vt:${options.appId}`, 30)}`,
    },
  };
}

function resolveUser(options: SandboxUserOptions, index: number): User {
  const key = options.openId ?? `user-${index + 1}`;
  return {
    key,
    fixedOpenId: options.openId,
    name: options.name,
    enName: options.enName ?? options.name,
    email: options.email,
    mobile: options.mobile,
    userId: options.userId ?? stableHex(`uid:${key}`, 8),
    employeeNo: options.employeeNo ?? String(10001 + index),
    unionId: `on_${stableHex(`union:${key}`, 32)}`,
    status: 'active',
  };
}

export interface ResolvedConfig {
  host: string;
  port: number;
  apps: App[];
  users: User[];
  lifetimes: Lifetimes;
  wsClientConfig: WsClientConfig;
  rateLimits: boolean;
  tenantKey: string;
}

export function resolveConfig(options: SandboxOptions): ResolvedConfig {
  if (options.apps.length === 0) throw new Error('sandbox: at least one app is required');
  const apps = options.apps.map(resolveApp);
  if (new Set(apps.map((a) => a.appId)).size !== apps.length) throw new Error('sandbox: duplicate appId');
  return {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    apps,
    users: (options.users ?? DEFAULT_USERS).map(resolveUser),
    lifetimes: { ...DEFAULT_LIFETIMES, ...options.lifetimes },
    wsClientConfig: { ...DEFAULT_WS_CLIENT_CONFIG, ...options.wsClientConfig },
    rateLimits: options.rateLimits ?? true,
    tenantKey: stableHex(`tenant:${apps[0]!.appId}`, 16),
  };
}

/** open_ids are per app in Feishu: the same person has a different one in every app. */
export const openIdFor = (appId: string, user: User): string =>
  user.fixedOpenId ?? `ou_${stableHex(`open:${appId}:${user.key}`, 32)}`;
