import type { GrantSettings, TokenMeta } from '../lib/grant-types.ts';

/**
 * When a grant's work falls due. Pure: the workflow passes its clock and its (replay-safe) random
 * number, so each rule is unit-tested on its own.
 */

/** Feishu ends every grant a fixed time after the user authorized; only a new consent extends it. */
export function grantEndsAt(token: TokenMeta, settings: GrantSettings): number {
  return token.authorizedAt + settings.grantMaxAgeSeconds * 1000;
}

/**
 * The renewal cards' times: the first notice renewNoticeSeconds before the end, then each
 * reminder halves the time left, so a user away for days still hears of it in time.
 */
export function renewalNoticesAt(token: TokenMeta, settings: GrantSettings): number[] {
  const end = grantEndsAt(token, settings);
  return Array.from(
    { length: settings.renewalReminders + 1 },
    (_, i) => end - (settings.renewNoticeSeconds * 1000) / 2 ** i,
  );
}

/**
 * When to refresh a token: ahead of its refresh token's expiry by the lead plus jitter (so grants
 * authorized together do not refresh together), never sooner than half the refresh token's
 * remaining life (a short-lived refresh token must not turn into back-to-back refreshes), and for
 * the eager policy also ahead of the access token's expiry.
 */
export function refreshDueAt(token: TokenMeta, settings: GrantSettings, now: number, random: number): number {
  let due = token.refreshExpiresAt
    ? Math.max(
        token.refreshExpiresAt -
          (settings.refreshLeadSeconds + random * settings.refreshJitterSeconds) * 1000,
        now + (token.refreshExpiresAt - now) / 2,
      )
    : token.accessExpiresAt;
  if (settings.refreshPolicy === 'eager') {
    due = Math.min(due, token.accessExpiresAt - settings.accessTokenMarginSeconds * 1000);
  }
  return due;
}

const FIRST_RETRY_MS = 10 * 60 * 1000;
const LONGEST_RETRY_MS = 6 * 3600 * 1000;

const REFUSED_RETRY_MS = 3600 * 1000;

/**
 * How long to wait after the n-th refresh in a row failed (each failure already spent its
 * activity's retries): 10 minutes, doubling to 6 hours, so an outage costs a few calls a day rather
 * than one every 10 minutes. A refusal only an operator can fix (a wrong app secret) waits at least
 * an hour from the start.
 */
export function refreshRetryDelayMs(failuresInARow: number, refused = false): number {
  const delay = Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, failuresInARow - 1), LONGEST_RETRY_MS);
  return refused ? Math.max(delay, REFUSED_RETRY_MS) : delay;
}
