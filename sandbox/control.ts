import type { UserStatus } from './config.ts';
import type { FaultKind, FaultSettings } from './faults.ts';
import { ageMessage, clickCardButton, sendUserMessage, type ButtonSelector } from './interactions.ts';
import { createChat } from './chats.ts';
import {
  createInspection,
  expireTokens,
  setUserStatus,
  updateApp,
  type AppPatch,
  type TokenKind,
} from './inspection.ts';
import { revokeAuthorizations } from './oauth/grants.ts';
import {
  approveAuthorization,
  approveDevice,
  denyAuthorization,
  expireDevice,
  slowDownDevice,
} from './oauth/routes.ts';
import type { Runtime } from './runtime.ts';
import type { SandboxChatOptions } from './types.ts';

/** Everything a test can do to or learn from a running sandbox; `/__sandbox/...` exposes the same over HTTP. */
export function createControl(rt: Runtime) {
  const app = (appId: string) => {
    const found = rt.store.app(appId);
    if (!found) throw new Error(`sandbox: no app ${appId}`);
    return found;
  };
  return {
    state: createInspection(rt),
    faults: {
      set: (settings: Partial<FaultSettings>) => rt.faults.set(settings),
      reset: () => rt.faults.reset(),
      failNext: (kind: FaultKind, options?: { count?: number; pathPrefix?: string }) =>
        rt.faults.failNext(kind, options),
      loseNextRefreshAnswers: (count?: number) => rt.faults.loseNextRefreshAnswers(count),
      get: () => rt.faults.snapshot(),
    },
    /** The open_id a seeded user has in an app, by display name (张三 / Zhang San) or position. */
    openIdOf: (appId: string, who: string | number = 0): string => {
      const users = rt.config.users;
      const user =
        typeof who === 'number' ? users[who] : users.find((u) => u.name === who || u.enName === who);
      if (!user) throw new Error(`sandbox: no user ${who}`);
      return rt.store.openId(appId, user.key);
    },
    sendUserMessage: (appId: string, openId: string, text: string) =>
      sendUserMessage(rt, appId, openId, text),
    clickCardButton: (messageId: string, button: ButtonSelector, operatorOpenId?: string) =>
      clickCardButton(rt, messageId, button, operatorOpenId),
    approveAuthorization: (authorizeUrl: string, openId: string) =>
      approveAuthorization(rt, authorizeUrl, openId),
    denyAuthorization: (authorizeUrl: string) => denyAuthorization(rt, authorizeUrl),
    approveDevice: (userCode: string, openId: string) => approveDevice(rt, userCode, openId),
    denyDevice: (userCode: string) => approveDevice(rt, userCode, undefined),
    expireDevice: (userCode: string) => expireDevice(rt, userCode),
    slowDownDevice: (userCode: string, seconds: number) => slowDownDevice(rt, userCode, seconds),
    expireTokens: (filter?: { appId?: string; openId?: string; kinds?: TokenKind[] }) =>
      expireTokens(rt, filter),
    revokeGrant: (appId: string, openId: string) => {
      const user = rt.store.userByOpenId(appId, openId);
      return user ? revokeAuthorizations(rt.store, appId, user.key) : 0;
    },
    dropWsConnections: (appId?: string) => rt.callbacks.ws.drop(appId),
    verifyCallbackUrl: (appId: string) => rt.callbacks.verifyUrl(app(appId)),
    setUserStatus: (appId: string, openId: string, status: UserStatus) =>
      setUserStatus(rt, appId, openId, status),
    updateApp: (appId: string, patch: AppPatch) => updateApp(rt, appId, patch),
    /** A group chat with the bot and these members (open_ids in the app, or seeded users by position). */
    createChat: (options: SandboxChatOptions) => createChat(rt, options),
    /** Makes a message look older, to reach the 14-day edit limit without waiting. */
    ageMessage: (messageId: string, ms: number) => ageMessage(rt, messageId, ms),
  };
}

export type SandboxControl = ReturnType<typeof createControl>;
