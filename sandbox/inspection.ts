import type { AppStatus, UserStatus } from './config.ts';
import { openIdFor } from './config.ts';
import { isObject, parseJson } from './http/body.ts';
import { latest } from './messages.ts';
import type { Runtime } from './runtime.ts';
import type { Message } from './store.ts';

export interface MessageFilter {
  appId?: string;
  openId?: string;
}

function describeMessage(rt: Runtime, message: Message) {
  const content = latest(message).content;
  const parsed = parseJson(content);
  return {
    messageId: message.messageId,
    appId: message.appId,
    openId: rt.store.openId(message.appId, message.userKey),
    chatId: message.chatId,
    sender: message.sender,
    msgType: message.msgType,
    uuid: message.uuid,
    createdAt: message.createdAt,
    content,
    card: message.msgType === 'interactive' && isObject(parsed) ? parsed : undefined,
    versions: message.versions.map((v) => ({ ...v })),
  };
}

export type MessageSnapshot = ReturnType<typeof describeMessage>;

/** Read-only views of the sandbox's state, shared by `sandbox.state` and `GET /__sandbox/...`. */
export function createInspection(rt: Runtime) {
  const { store } = rt;
  return {
    apps: () =>
      rt.config.apps.map((a) => ({
        appId: a.appId,
        name: a.name,
        status: a.status,
        scopes: [...a.scopes],
        tenantScopes: [...a.tenantScopes],
        refreshEnabled: a.refreshEnabled,
        redirectUris: a.redirectUris,
        callback: { mode: a.callback.mode, url: a.callback.url, encrypted: Boolean(a.callback.encryptKey) },
      })),
    users: (appId = rt.config.apps[0]!.appId) =>
      rt.config.users.map((u) => ({
        key: u.key,
        openId: openIdFor(appId, u),
        unionId: u.unionId,
        userId: u.userId,
        name: u.name,
        enName: u.enName,
        email: u.email,
        status: u.status,
      })),
    messages: (filter: MessageFilter = {}): MessageSnapshot[] =>
      [...store.messages.values()]
        .filter((m) => !filter.appId || m.appId === filter.appId)
        .filter((m) => !filter.openId || store.openId(m.appId, m.userKey) === filter.openId)
        .map((m) => describeMessage(rt, m)),
    message: (messageId: string): MessageSnapshot | undefined => {
      const message = store.messages.get(messageId);
      return message && describeMessage(rt, message);
    },
    grants: () =>
      [...store.authorizations.values()].map((a) => ({
        authorizationId: a.id,
        appId: a.appId,
        openId: store.openId(a.appId, a.userKey),
        authorizedAt: a.authorizedAt,
        scopes: a.scopes,
        revokedAt: a.revokedAt,
        accessTokens: [...store.accessTokens.values()]
          .filter((t) => t.authorizationId === a.id)
          .map((t) => ({ token: t.token, issuedAt: t.issuedAt, expiresAt: t.expiresAt, scopes: t.scopes })),
        refreshTokens: [...store.refreshTokens.values()]
          .filter((t) => t.authorizationId === a.id)
          .map((t) => ({
            token: t.token,
            issuedAt: t.issuedAt,
            expiresAt: t.expiresAt,
            usedAt: t.usedAt,
            reusedAt: [...t.reusedAt],
            answerLostAt: t.answerLostAt,
          })),
      })),
    tokenEvents: () => store.tokenEvents.map((e) => ({ ...e })),
    /** Device authorizations with their device codes (the secret a client polls with). */
    deviceRequests: () => [...store.deviceRequests.values()].map((r) => ({ ...r, scopes: [...r.scopes] })),
    deliveries: () => store.deliveries.map((d) => ({ ...d })),
    counters: () => rt.counters.snapshot(),
    faults: () => rt.faults.snapshot(),
    connections: () => rt.callbacks.ws.snapshot(),
  };
}

export type Inspection = ReturnType<typeof createInspection>;

export type TokenKind = 'tenant' | 'access' | 'refresh';

/** Forced expiry: the selected tokens stop working now, as if their lifetime had run out. */
export function expireTokens(
  rt: Runtime,
  filter: { appId?: string; openId?: string; kinds?: TokenKind[] } = {},
): number {
  const kinds = new Set(filter.kinds ?? ['tenant', 'access', 'refresh']);
  const past = Date.now() - 1;
  let count = 0;
  if (kinds.has('tenant') && !filter.openId) {
    for (const map of [rt.store.tenantTokens, rt.store.appAccessTokens]) {
      for (const token of map.values()) {
        if (!filter.appId || token.appId === filter.appId) {
          token.expiresAt = past;
          count += 1;
        }
      }
    }
  }
  const inScope = (authorizationId: string): boolean => {
    const a = rt.store.authorizations.get(authorizationId);
    return Boolean(
      a &&
      (!filter.appId || a.appId === filter.appId) &&
      (!filter.openId || rt.store.openId(a.appId, a.userKey) === filter.openId),
    );
  };
  for (const [kind, map] of [
    ['access', rt.store.accessTokens],
    ['refresh', rt.store.refreshTokens],
  ] as const) {
    if (!kinds.has(kind)) continue;
    for (const token of map.values()) {
      if (inScope(token.authorizationId)) {
        token.expiresAt = past;
        count += 1;
      }
    }
  }
  return count;
}

export function setUserStatus(rt: Runtime, appId: string, openId: string, status: UserStatus): void {
  const user = rt.store.userByOpenId(appId, openId);
  if (!user) throw new Error(`sandbox: no user ${openId} in app ${appId}`);
  user.status = status;
}

/** What the console lets an admin change: status, the refresh switch, user and tenant scopes. */
export interface AppPatch {
  status?: AppStatus;
  refreshEnabled?: boolean;
  scopes?: string[];
  tenantScopes?: string[];
}

export function updateApp(rt: Runtime, appId: string, patch: AppPatch): void {
  const app = rt.store.app(appId);
  if (!app) throw new Error(`sandbox: no app ${appId}`);
  if (patch.status !== undefined) app.status = patch.status;
  if (patch.refreshEnabled !== undefined) app.refreshEnabled = patch.refreshEnabled;
  if (patch.scopes !== undefined) app.scopes = new Set(patch.scopes);
  if (patch.tenantScopes !== undefined) app.tenantScopes = new Set(patch.tenantScopes);
}
