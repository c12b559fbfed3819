/**
 * Types shared by the grant workflow, its activities, the cards and the API. Only metadata lives
 * here: tokens, codes and OAuth state never enter workflow history.
 */

/** What the API and search attributes report for a grant. */
export const GRANT_STATUSES = [
  'pending',
  'authorized',
  'denied',
  'expired',
  'identity_mismatch',
  'failed',
  'cancelled',
  'needs_reauth',
  'revoked',
] as const;

export type GrantStatus = (typeof GRANT_STATUSES)[number];

/** Why an attempt failed, in a fixed vocabulary a card, a page and a metric label can all show. */
export type FailureReason =
  | 'invalid_code'
  | 'user_not_allowed'
  | 'config_error'
  | 'feishu_unavailable'
  | 'invalid_request'
  | 'internal';

/** How one authorization attempt ended. */
export type AttemptOutcome =
  | { kind: 'authorized'; userName: string; scopes: string[] }
  | { kind: 'denied' }
  | { kind: 'expired' }
  | { kind: 'cancelled' }
  | { kind: 'superseded' }
  | { kind: 'identity_mismatch'; consentedName: string }
  | { kind: 'failed'; reason: FailureReason; errorCode?: number };

/** Durations and policies, all inputs so tests run in seconds and operators can tune them. */
export interface GrantSettings {
  /** How long an authorization card stays usable. */
  attemptExpirySeconds: number;
  /** Refresh this long before the refresh token would expire. */
  refreshLeadSeconds: number;
  /** Up to this much random extra lead, so grants authorized together do not refresh together. */
  refreshJitterSeconds: number;
  /** An access token expiring within this margin is refreshed before it is handed out. */
  accessTokenMarginSeconds: number;
  /** keep_alive: refresh only to keep the refresh token alive; eager: also keep the access token fresh. */
  refreshPolicy: 'keep_alive' | 'eager';
  /** Continue-as-new after this many refreshes, so histories stay small. */
  refreshesPerRun: number;
  /** Ask the user to renew this long before the grant's hard limit. */
  renewNoticeSeconds: number;
  /** The grant's hard limit after authorization (Feishu: 365 days). */
  grantMaxAgeSeconds: number;
  /** Renewal cards sent after the first notice, each halving the time left, until the user acts. */
  renewalReminders: number;
  /** How long a re-authorize or renewal card stays usable: a user may be away for days. */
  reauthExpirySeconds: number;
}

export const DEFAULT_GRANT_SETTINGS: GrantSettings = {
  attemptExpirySeconds: 600,
  refreshLeadSeconds: 24 * 3600,
  refreshJitterSeconds: 6 * 3600,
  accessTokenMarginSeconds: 300,
  refreshPolicy: 'keep_alive',
  refreshesPerRun: 50,
  renewNoticeSeconds: 7 * 24 * 3600,
  grantMaxAgeSeconds: 365 * 24 * 3600,
  renewalReminders: 2,
  reauthExpirySeconds: 7 * 24 * 3600,
};

/** The token metadata a workflow may hold: times and scopes, never the tokens. */
export interface TokenMeta {
  scopes: string[];
  accessExpiresAt: number;
  refreshExpiresAt?: number;
  authorizedAt: number;
  tokenVersion: number;
  userName: string;
}

/** Why the grant itself asked the user: its token died, or its year is ending. */
export type CardNotice = 'reauth' | 'renewal';

/**
 * How the user consents: `code` sends them to Feishu's authorize page, which redirects back to
 * PUBLIC_BASE_URL; `device` (RFC 8628) shows a code they confirm on Feishu's own page while the
 * grant polls the token endpoint, so no public URL is needed.
 */
export const AUTH_FLOWS = ['code', 'device'] as const;
export type AuthFlow = (typeof AUTH_FLOWS)[number];

/** Where a device attempt's polling stands (RFC 8628 §3.5): slow_down lengthens the interval for good. */
export interface DevicePolling {
  intervalSeconds: number;
  nextPollAt: number;
}

export interface AttemptSummary {
  id: string;
  scopes: string[];
  notice?: CardNotice;
  messageId?: string;
  expiresAt: number;
  /** Epoch ms, workflow time; absent on attempts opened before it existed. */
  openedAt?: number;
  outcome?: AttemptOutcome;
  /** Device-flow attempts only; absent on code-flow attempts (and on every attempt before it existed). */
  polling?: DevicePolling;
}

/** What the `state` query returns and the API reports. */
export interface GrantState {
  appId: string;
  openId: string;
  status: GrantStatus;
  reason?: string;
  attempt?: AttemptSummary;
  token?: TokenMeta;
  refreshCount: number;
}

export type Locale = 'zh_cn' | 'en_us';

export type RequestSource = 'api' | 'bot_message' | 'card_retry' | 'reauth' | 'renewal';

export interface AuthorizationRequest {
  scopes: string[];
  expiresInSeconds?: number;
  locale?: Locale;
  source: RequestSource;
  /** Absent means the code flow (requests sent before the device flow existed). */
  flow?: AuthFlow;
}

/** The answer to a request: the attempt (new or re-used) or the grant that already covers it. */
export interface AuthorizationResponse {
  status: GrantStatus;
  attemptId?: string;
  scopes: string[];
  expiresAt?: number;
  reused: boolean;
}

/** Delivered by the OAuth redirect; the code itself stays in PostgreSQL, sealed. */
/**
 * Who revoked a grant, kept in its history and the audit stream: an API key by its name (never
 * its secret), or the user on the card's Revoke button.
 */
export type RevokedBy = { api_key: string } | { card_operator: string };

/** A revocation: `source` says where it came from (it names the grant's reason), `by` who. */
export interface RevokeRequest {
  source: 'api' | 'card';
  /** Absent in revocations sent before it existed, and when the workflow re-applies one. */
  by?: RevokedBy;
  /**
   * Epoch ms when the user pressed Revoke or the service asked. A revocation takes away what was
   * granted or asked for before then, never a request the user made after it (a Revoke whose
   * delivery was retried can land after the user's next request). Absent: it takes away everything.
   */
  requestedAt?: number;
}

export interface RedirectDelivery {
  attemptId: string;
  denied: boolean;
}

/** Who a grant belongs to, as Feishu's user_info describes them; kept beside the tokens. */
export interface Profile {
  unionId?: string;
  name: string;
  enName?: string;
  avatarUrl?: string;
}
