/**
 * The two error dialects Feishu speaks. Open APIs answer `{code, msg, error}` (the SDK reads
 * `code`); the OAuth token endpoints answer RFC 6749 style `{code, error, error_description}`
 * at the top level (the SDK's AccessTokenError reads all three).
 */

export class OpenApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(logId: string): Record<string, unknown> {
    return { code: this.code, msg: this.message, error: { log_id: logId, ...this.extra } };
  }
}

export const openApi = {
  missingToken: () =>
    new OpenApiError(
      400,
      99991661,
      'Missing access token for authorization. Please make a request with token attached.',
    ),
  badTokenFormat: () =>
    new OpenApiError(
      400,
      99991671,
      'Invalid token format: the Authorization header must be "Bearer <token>".',
    ),
  invalidTenantToken: () =>
    new OpenApiError(
      400,
      99991663,
      'Invalid access token for authorization. Please make a request with token attached.',
    ),
  invalidUserToken: () =>
    new OpenApiError(
      400,
      99991668,
      'Invalid access token for authorization. Please make a request with token attached.',
    ),
  expiredUserToken: () => new OpenApiError(400, 99991677, 'Authentication token expired.'),
  scopeNotGranted: (scopes: string[]) =>
    new OpenApiError(
      400,
      99991679,
      'Unauthorized. You do not have permission to perform the requested operation on the resource. Please request user re-authorization and try again.',
      { permission_violations: scopes.map((subject) => ({ type: 'action_scope_required', subject })) },
    ),
  rateLimited: (resetSeconds: number) =>
    new OpenApiError(
      429,
      99991400,
      'request trigger frequency limit',
      {},
      // The window's size comes with the reset; 50 a second is the per-app limit most APIs have.
      { 'x-ogw-ratelimit-limit': '50', 'x-ogw-ratelimit-reset': String(resetSeconds) },
    ),
  fieldValidation: (field: string, description: string) =>
    new OpenApiError(400, 99992402, 'field validation failed', {
      field_violations: [{ field, description }],
    }),
  invalidParam: (ext: string) =>
    new OpenApiError(400, 230001, `Your request contains an invalid request parameter, ext=${ext}`),
  botCannotReachUser: () => new OpenApiError(400, 230013, 'Bot has NO availability to this user.'),
  // Per-message update limit: Feishu reports it as an im error, not the gateway's 99991400.
  messageRateLimited: () =>
    new OpenApiError(
      400,
      230020,
      'This operation triggers the frequency limit.',
      {},
      { 'x-ogw-ratelimit-reset': '1' },
    ),
  contentTooLong: () => new OpenApiError(400, 230025, 'The length of the message content reaches its limit.'),
  badCard: (ext: string) => new OpenApiError(400, 230099, `Failed to create card content, ext=${ext}`),
  notFound: () => new OpenApiError(404, 404, '404 page not found'),
  internal: () => new OpenApiError(500, 1500, 'internal error'),
};

export type OAuthErrorName =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'authorization_pending'
  | 'slow_down'
  | 'access_denied'
  | 'expired_token';

export class OAuthError extends Error {
  constructor(
    readonly status: number,
    /** Absent for the RFC 8628 polling states, which Feishu reports by name only. */
    readonly code: number | undefined,
    readonly error: OAuthErrorName,
    description: string,
  ) {
    super(description);
  }

  body(): Record<string, unknown> {
    return {
      ...(this.code === undefined ? {} : { code: this.code }),
      error: this.error,
      error_description: this.message,
    };
  }
}

const grant = (code: number, description: string) => new OAuthError(400, code, 'invalid_grant', description);

/** Every row of the token endpoint's error table in docs/feishu-facts.md §2 (the table itself is lib/feishu/errors.ts). */
export const oauth = {
  missingParam: (name: string) =>
    new OAuthError(400, 20001, 'invalid_request', `The request is missing a required parameter: ${name}.`),
  badClientSecret: () =>
    new OAuthError(400, 20002, 'invalid_client', 'Client authentication failed: invalid client_secret.'),
  codeNotFound: () => grant(20003, 'The authorization code is not found.'),
  codeExpired: () => grant(20004, 'The authorization code has expired.'),
  userMissing: () => grant(20008, 'The user does not exist.'),
  appNotInstalled: () =>
    new OAuthError(400, 20009, 'unauthorized_client', 'The app is not installed in the tenant.'),
  noAppPermission: () => grant(20010, 'The user has no permission to use this app.'),
  wrongClient: () => grant(20024, 'The code or token does not belong to this client.'),
  refreshTokenInvalid: () => grant(20026, 'The refresh token is invalid.'),
  refreshTokenExpired: () => grant(20037, 'The refresh token has expired.'),
  scopeNotEnabled: (scope: string) =>
    new OAuthError(400, 20027, 'invalid_scope', `The scope ${scope} is not enabled for the app.`),
  appMissing: () => new OAuthError(400, 20048, 'invalid_client', 'The app does not exist.'),
  pkceFailed: () => grant(20049, 'PKCE verification failed.'),
  serverError: () => new OAuthError(500, 20050, 'server_error', 'Internal server error, please retry.'),
  malformed: (what: string) =>
    new OAuthError(400, 20063, 'invalid_request', `The request is malformed: ${what}.`),
  unsupportedGrant: (grantType: string) =>
    new OAuthError(400, 20063, 'unsupported_grant_type', `The grant_type ${grantType} is not supported.`),
  refreshTokenRevoked: () => grant(20064, 'The refresh token has been revoked.'),
  codeUsed: () => grant(20065, 'The authorization code has already been used.'),
  userInvalidStatus: () => grant(20066, 'The user status is invalid.'),
  duplicateScope: () => new OAuthError(400, 20067, 'invalid_scope', 'The scope contains duplicate entries.'),
  scopeNotGranted: (scope: string) =>
    new OAuthError(400, 20068, 'invalid_scope', `The scope ${scope} was not granted by the user.`),
  appDisabled: () => new OAuthError(400, 20069, 'unauthorized_client', 'The app is disabled.'),
  bothClientAuth: () =>
    new OAuthError(
      400,
      20070,
      'invalid_request',
      'Client credentials were sent both in the Authorization header and the body.',
    ),
  redirectUriMismatch: () =>
    grant(20071, 'The redirect_uri does not match the one of the authorization request.'),
  unavailable: () =>
    new OAuthError(
      503,
      20072,
      'temporarily_unavailable',
      'The service is temporarily unavailable, please retry.',
    ),
  refreshTokenUsed: () => grant(20073, 'The refresh token has already been used.'),
  refreshNotAllowed: () =>
    new OAuthError(400, 20074, 'unauthorized_client', 'The app is not allowed to refresh user_access_token.'),
  // RFC 8628 polling states.
  authorizationPending: () =>
    new OAuthError(400, undefined, 'authorization_pending', 'The user has not yet approved the request.'),
  slowDown: () =>
    new OAuthError(400, undefined, 'slow_down', 'Polling too fast: increase the interval by 5 seconds.'),
  accessDenied: () => new OAuthError(400, undefined, 'access_denied', 'The user denied the request.'),
  expiredToken: () => new OAuthError(400, undefined, 'expired_token', 'The device_code has expired.'),
};

/** Errors the authorize page shows instead of redirecting (Feishu renders these itself). */
export class AuthorizePageError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
