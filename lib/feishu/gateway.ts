import type { Profile } from '../grant-types.ts';
import * as lark from '@larksuiteoapi/node-sdk';
import { feishuApiRequests } from '../metrics.ts';
import type { Logger } from '../logger.ts';
import { FeishuApiError } from './errors.ts';
import { feishuHttp, inCallScope, type CallScope } from './http.ts';
import { sdkLogger } from './sdk-logger.ts';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  expiresInSeconds: number;
  refreshExpiresInSeconds?: number;
  scopes: string[];
}

export type UserProfile = Profile & { openId: string };

/** A device authorization (RFC 8628): what the user is shown, and the code we poll with. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  expiresInSeconds: number;
  intervalSeconds: number;
}

/** The RFC 8628 answers a device-code poll can get instead of tokens. */
export const DEVICE_POLL_STATES = [
  'authorization_pending',
  'slow_down',
  'access_denied',
  'expired_token',
] as const;
export type DevicePollState = (typeof DEVICE_POLL_STATES)[number];

export type DevicePoll = { kind: 'tokens'; tokens: TokenSet } | { kind: DevicePollState };

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export interface FeishuAppSettings {
  appId: string;
  appSecret: string;
  domain: string;
  oauthDomain: string;
  tokenEndpoint: 'v3' | 'v2';
  /** Per request; FEISHU_HTTP_TIMEOUT_MS when omitted. */
  httpTimeoutMs?: number;
}

/**
 * Well inside the 30 s start-to-close of the activities that call Feishu, so a request Feishu
 * never answers fails as a transient error the activity can still report (and Temporal retry),
 * instead of running on after Temporal gave up on the attempt.
 */
export const FEISHU_HTTP_TIMEOUT_MS = 10_000;

interface HttpFailure {
  response?: { status?: number; data?: { code?: number; error?: string } };
}

interface DeviceAuthorizationBody {
  code?: number;
  device_code?: string;
  user_code?: string;
  verification_uri?: string;
  verification_uri_complete?: string;
  expires_in?: number;
  interval?: number;
}

/** A poll refused with one of the RFC 8628 states, which Feishu names without a numeric code. */
function devicePollState(err: unknown): DevicePollState | undefined {
  const error = (err as HttpFailure).response?.data?.error;
  return DEVICE_POLL_STATES.find((state) => state === error);
}

interface OAuthTokenBody {
  /** Set by pollDeviceToken when Feishu answered one of the RFC 8628 states instead of tokens. */
  device_state?: DevicePollState;
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  refresh_token_expires_in?: number;
  scope?: string;
  code?: number;
}

function splitScopes(scope: string | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter(Boolean);
}

/** Lifetimes are not fixed: always the values Feishu returned (docs/feishu-facts.md §2). */
function fromSdkTokens(result: lark.AccessTokenResponse): TokenSet {
  return {
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresInSeconds: Number(result.expiresIn ?? 7200),
    refreshExpiresInSeconds: result.refreshTokenExpiresIn ? Number(result.refreshTokenExpiresIn) : undefined,
    scopes: splitScopes(result.scope),
  };
}

/**
 * The only place that talks to Feishu. Every failure becomes a FeishuApiError carrying status and
 * code but no request data, and every call is counted by endpoint and code.
 */
export class FeishuGateway {
  readonly client: lark.Client;
  readonly httpTimeoutMs: number;

  constructor(
    readonly settings: FeishuAppSettings,
    logger: Logger,
  ) {
    this.httpTimeoutMs = settings.httpTimeoutMs ?? FEISHU_HTTP_TIMEOUT_MS;
    this.client = new lark.Client({
      appId: settings.appId,
      appSecret: settings.appSecret,
      domain: settings.domain,
      oauthBaseUrl: settings.oauthDomain,
      logger: sdkLogger(logger),
      loggerLevel: lark.LoggerLevel.warn,
      httpInstance: feishuHttp(this.httpTimeoutMs),
    });
  }

  /** `signal` aborts the call's requests; the call then fails as a network error. */
  private async call<T>(
    endpoint: string,
    fn: () => Promise<T & { code?: number }>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let result: T & { code?: number };
    const scope: CallScope = { signal };
    try {
      result = await inCallScope(scope, fn);
    } catch (err) {
      const failure = this.toApiError(endpoint, err, scope.retryAfterSeconds);
      feishuApiRequests.inc({ endpoint, code: failure.httpStatus === 0 ? 'network' : String(failure.code) });
      throw failure;
    }
    const code = result.code ?? 0;
    feishuApiRequests.inc({ endpoint, code: String(code) });
    if (code !== 0) throw new FeishuApiError(endpoint, 200, code);
    return result;
  }

  private toApiError(endpoint: string, err: unknown, retryAfterSeconds: number | undefined): FeishuApiError {
    if (err instanceof FeishuApiError) return err;
    if (err instanceof lark.AccessTokenError) {
      return new FeishuApiError(endpoint, err.statusCode, err.code || err.statusCode, retryAfterSeconds);
    }
    const response = (err as HttpFailure).response;
    if (response?.status) {
      return new FeishuApiError(
        endpoint,
        response.status,
        response.data?.code ?? response.status,
        retryAfterSeconds,
      );
    }
    return new FeishuApiError(endpoint, 0, 0);
  }

  async exchangeCode(
    params: { code: string; redirectUri: string; codeVerifier: string },
    signal?: AbortSignal,
  ): Promise<TokenSet> {
    if (this.settings.tokenEndpoint === 'v2') {
      return this.v2Token(
        {
          grant_type: 'authorization_code',
          code: params.code,
          redirect_uri: params.redirectUri,
          code_verifier: params.codeVerifier,
        },
        signal,
      );
    }
    const result = await this.call(
      'oauth.token',
      () => this.client.accessToken.retrieveByAuthorizationCode(params),
      signal,
    );
    return fromSdkTokens(result);
  }

  async refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    if (this.settings.tokenEndpoint === 'v2') {
      return this.v2Token({ grant_type: 'refresh_token', refresh_token: refreshToken }, signal);
    }
    const result = await this.call(
      'oauth.token',
      () => this.client.accessToken.refresh({ refreshToken }),
      signal,
    );
    return fromSdkTokens(result);
  }

  /**
   * Starts the device flow (RFC 8628): no redirect URI, the user confirms a code on Feishu's own
   * page. Authenticated with HTTP Basic, as the endpoint requires; the SDK has no helper for it.
   */
  async startDeviceAuthorization(scopes: string[], signal?: AbortSignal): Promise<DeviceAuthorization> {
    const endpoint = 'oauth.device_authorization';
    const { appId, appSecret } = this.settings;
    const basic = Buffer.from(`${encodeURIComponent(appId)}:${encodeURIComponent(appSecret)}`).toString(
      'base64',
    );
    const body = await this.call<DeviceAuthorizationBody>(
      endpoint,
      () =>
        this.client.httpInstance.request<DeviceAuthorizationBody, DeviceAuthorizationBody>({
          method: 'post',
          url: `${this.settings.oauthDomain}/oauth/v1/device_authorization`,
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          data: new URLSearchParams({ client_id: appId, scope: scopes.join(' ') }).toString(),
        }),
      signal,
    );
    if (!body.device_code || !body.user_code || !body.verification_uri) {
      throw new FeishuApiError(endpoint, 200, body.code ?? -1);
    }
    return {
      deviceCode: body.device_code,
      userCode: body.user_code,
      verificationUri: body.verification_uri,
      verificationUriComplete: body.verification_uri_complete ?? body.verification_uri,
      expiresInSeconds: Number(body.expires_in ?? 240),
      intervalSeconds: Number(body.interval ?? 5),
    };
  }

  /** One poll of the device code at the v2 token endpoint: tokens, or where the user stands. */
  async pollDeviceToken(deviceCode: string, signal?: AbortSignal): Promise<DevicePoll> {
    const body = await this.v2TokenBody(
      'oauth.device_token',
      { grant_type: DEVICE_GRANT, device_code: deviceCode },
      signal,
    );
    return body.device_state ? { kind: body.device_state } : { kind: 'tokens', tokens: tokenSetOf(body) };
  }

  /** The deprecated v2 endpoint, for tenants where v3 is unavailable; the SDK has no helper for it. */
  private async v2Token(grant: Record<string, string>, signal: AbortSignal | undefined): Promise<TokenSet> {
    return tokenSetOf(await this.v2TokenBody('oauth.token.v2', grant, signal));
  }

  /** Tokens, or (device-code polls only) an RFC 8628 state; anything else is a FeishuApiError. */
  private async v2TokenBody(
    endpoint: 'oauth.token.v2' | 'oauth.device_token',
    grant: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<OAuthTokenBody> {
    const body = await this.call<OAuthTokenBody>(
      endpoint,
      async () => {
        try {
          return await this.client.httpInstance.request<OAuthTokenBody, OAuthTokenBody>({
            method: 'post',
            url: `${this.settings.domain}/open-apis/authen/v2/oauth/token`,
            data: { ...grant, client_id: this.settings.appId, client_secret: this.settings.appSecret },
          });
        } catch (err) {
          const state = endpoint === 'oauth.device_token' ? devicePollState(err) : undefined;
          if (state) return { device_state: state };
          throw err;
        }
      },
      signal,
    );
    if (!body.device_state && !body.access_token) throw new FeishuApiError(endpoint, 200, body.code ?? 0);
    return body;
  }

  async userInfo(accessToken: string, signal?: AbortSignal): Promise<UserProfile> {
    const result = await this.call(
      'authen.user_info',
      () => this.client.authen.v1.userInfo.get({}, lark.withUserAccessToken(accessToken)),
      signal,
    );
    const data = result.data;
    if (!data?.open_id) throw new FeishuApiError('authen.user_info', 200, -1);
    return {
      openId: data.open_id,
      unionId: data.union_id,
      name: data.name ?? data.en_name ?? data.open_id,
      enName: data.en_name,
      avatarUrl: data.avatar_middle ?? data.avatar_url,
    };
  }

  /** Sends an interactive card; `uuid` makes a retried send return the first message instead of a second. */
  sendCard(openId: string, card: object, uuid: string, signal?: AbortSignal): Promise<string> {
    return this.sendMessage(openId, 'interactive', card, uuid, signal);
  }

  /** Sends a plain text message; `uuid` as for sendCard. */
  sendText(openId: string, text: string, uuid: string, signal?: AbortSignal): Promise<string> {
    return this.sendMessage(openId, 'text', { text }, uuid, signal);
  }

  private async sendMessage(
    openId: string,
    msgType: 'interactive' | 'text',
    content: object,
    uuid: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const result = await this.call(
      'im.message.create',
      () =>
        this.client.im.v1.message.create({
          params: { receive_id_type: 'open_id' },
          data: { receive_id: openId, msg_type: msgType, content: JSON.stringify(content), uuid },
        }),
      signal,
    );
    const messageId = result.data?.message_id;
    if (!messageId) throw new FeishuApiError('im.message.create', 200, -1);
    return messageId;
  }

  async patchCard(messageId: string, card: object, signal?: AbortSignal): Promise<void> {
    await this.call(
      'im.message.patch',
      () =>
        this.client.im.v1.message.patch({
          path: { message_id: messageId },
          data: { content: JSON.stringify(card) },
        }),
      signal,
    );
  }

  /**
   * The user scopes enabled for the app in the developer console (those a user_access_token may
   * carry). Needs admin:app.info:readonly or application:application:self_manage: without either
   * Feishu refuses with 99991672, which the caller treats as "cannot tell".
   */
  async enabledUserScopes(signal?: AbortSignal): Promise<string[]> {
    const result = await this.call(
      'application.get',
      () =>
        this.client.application.v6.application.get({
          path: { app_id: this.settings.appId },
          params: { lang: 'zh_cn' },
        }),
      signal,
    );
    const scopes = result.data?.app?.scopes ?? [];
    return scopes.filter((s) => !s.token_types || s.token_types.includes('user')).map((s) => s.scope);
  }

  /** The open_ids of a group chat's members, every page of them (bots are not members here). */
  async chatMemberOpenIds(chatId: string, signal?: AbortSignal): Promise<string[]> {
    const openIds: string[] = [];
    let pageToken: string | undefined;
    do {
      const result = await this.call(
        'im.chat.members.get',
        () =>
          this.client.im.v1.chatMembers.get({
            path: { chat_id: chatId },
            params: { member_id_type: 'open_id', page_size: 100, page_token: pageToken },
          }),
        signal,
      );
      for (const item of result.data?.items ?? []) if (item.member_id) openIds.push(item.member_id);
      pageToken = result.data?.has_more ? result.data.page_token : undefined;
    } while (pageToken);
    return openIds;
  }
}

function tokenSetOf(body: OAuthTokenBody): TokenSet {
  return {
    accessToken: body.access_token!,
    refreshToken: body.refresh_token,
    expiresInSeconds: Number(body.expires_in ?? 7200),
    refreshExpiresInSeconds: body.refresh_token_expires_in,
    scopes: splitScopes(body.scope),
  };
}
