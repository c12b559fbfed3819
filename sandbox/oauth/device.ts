import { randomBytes } from 'node:crypto';
import type { App, User } from '../config.ts';
import { oauth } from '../errors.ts';
import { randomHex } from '../ids.ts';
import type { DeviceRequest, Store } from '../store.ts';
import { recordConsent, splitScopes } from './authorize.ts';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const DEVICE_VERIFY_PATH = '/oauth/v1/device/verify';

// No vowels or look-alikes, as RFC 8628 §6.1 recommends for codes people type.
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

function userCode(): string {
  const chars = Array.from(randomBytes(8), (b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4).join('')}`;
}

export function startDeviceAuthorization(store: Store, app: App, scope: string | undefined, baseUrl: string) {
  const scopes = splitScopes(scope);
  const disabled = scopes.find((s) => !app.scopes.has(s));
  if (disabled !== undefined) throw oauth.scopeNotEnabled(disabled);
  const { deviceCodeSeconds, deviceIntervalSeconds } = store.config.lifetimes;
  const request: DeviceRequest = {
    deviceCode: randomHex(24),
    userCode: userCode(),
    appId: app.appId,
    scopes,
    expiresAt: Date.now() + deviceCodeSeconds * 1000,
    intervalSeconds: deviceIntervalSeconds,
    lastPollAt: undefined,
    status: 'pending',
    userKey: undefined,
  };
  store.deviceRequests.set(request.deviceCode, request);
  const verificationUri = `${baseUrl}${DEVICE_VERIFY_PATH}`;
  return {
    device_code: request.deviceCode,
    user_code: request.userCode,
    verification_uri: verificationUri,
    verification_uri_complete: `${verificationUri}?user_code=${request.userCode}`,
    expires_in: deviceCodeSeconds,
    interval: deviceIntervalSeconds,
  };
}

export function findByUserCode(store: Store, code: string): DeviceRequest | undefined {
  const wanted = code.trim().toUpperCase();
  return [...store.deviceRequests.values()].find(
    (r) => r.userCode === wanted && r.status === 'pending' && Date.now() < r.expiresAt,
  );
}

export function decideDevice(store: Store, request: DeviceRequest, user: User | undefined): void {
  if (user) {
    request.status = 'approved';
    request.userKey = user.key;
    request.scopes = recordConsent(store, request.appId, user, request.scopes);
  } else {
    request.status = 'denied';
  }
}

/** One poll of the device_code grant: the RFC 8628 states, then a consumed request like a used code. */
export function pollDevice(
  store: Store,
  app: App,
  deviceCode: string | undefined,
): { request: DeviceRequest; user: User | undefined } {
  if (!deviceCode) throw oauth.missingParam('device_code');
  const request = store.deviceRequests.get(deviceCode);
  if (!request) throw oauth.codeNotFound();
  if (request.appId !== app.appId) throw oauth.wrongClient();
  const now = Date.now();
  if (now >= request.expiresAt) throw oauth.expiredToken();
  if (request.status === 'denied') throw oauth.accessDenied();
  if (request.status === 'consumed') throw oauth.codeUsed();
  if (request.status === 'pending') {
    const tooFast =
      request.lastPollAt !== undefined && now - request.lastPollAt < request.intervalSeconds * 1000;
    request.lastPollAt = now;
    if (tooFast) {
      request.intervalSeconds += 5;
      throw oauth.slowDown();
    }
    throw oauth.authorizationPending();
  }
  request.status = 'consumed';
  return { request, user: request.userKey === undefined ? undefined : store.user(request.userKey) };
}
