import { describe, expect, it } from 'vitest';
import { DEFAULT_GRANT_SETTINGS, type GrantSettings, type TokenMeta } from '../../lib/grant-types.ts';
import { grantEndsAt, refreshDueAt, refreshRetryDelayMs, renewalNoticesAt } from '../../workflows/timing.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const settings: GrantSettings = DEFAULT_GRANT_SETTINGS;
const token = (over: Partial<TokenMeta> = {}): TokenMeta => ({
  scopes: ['calendar:calendar:readonly'],
  accessExpiresAt: 2 * HOUR,
  refreshExpiresAt: 7 * DAY,
  authorizedAt: 0,
  tokenVersion: 1,
  userName: 'u',
  ...over,
});

describe('grant timing', () => {
  it('ends a grant a year after the user authorized', () => {
    expect(grantEndsAt(token({ authorizedAt: 5 * DAY }), settings)).toBe(370 * DAY);
  });

  it('sends the first renewal card a week before the end, then reminders halving the time left', () => {
    expect(renewalNoticesAt(token(), settings)).toEqual([358 * DAY, 361.5 * DAY, 363.25 * DAY]);
    expect(renewalNoticesAt(token(), { ...settings, renewalReminders: 0 })).toEqual([358 * DAY]);
  });

  it('keeps the refresh token alive a lead (plus jitter) before it expires', () => {
    expect(refreshDueAt(token(), settings, 0, 0)).toBe(6 * DAY);
    expect(refreshDueAt(token(), settings, 0, 1)).toBe(6 * DAY - 6 * HOUR);
  });

  it('never refreshes sooner than half the refresh token’s remaining life', () => {
    const shortLived = token({ refreshExpiresAt: 2 * HOUR });
    expect(refreshDueAt(shortLived, settings, 0, 0)).toBe(HOUR);
  });

  it('refreshes ahead of the access token under the eager policy', () => {
    const eager: GrantSettings = { ...settings, refreshPolicy: 'eager' };
    expect(refreshDueAt(token(), eager, 0, 0)).toBe(2 * HOUR - 300_000);
  });

  it('refreshes at the access token’s expiry when there is no refresh token', () => {
    expect(refreshDueAt(token({ refreshExpiresAt: undefined }), settings, 0, 0)).toBe(2 * HOUR);
  });

  it('backs off failed refreshes from 10 minutes to at most 6 hours', () => {
    expect([1, 2, 3, 6, 7, 20].map((n) => refreshRetryDelayMs(n))).toEqual([
      10 * 60_000,
      20 * 60_000,
      40 * 60_000,
      320 * 60_000,
      6 * HOUR,
      6 * HOUR,
    ]);
  });

  it('waits at least an hour after a refusal only an operator can fix', () => {
    expect(refreshRetryDelayMs(1, true)).toBe(HOUR);
    expect(refreshRetryDelayMs(7, true)).toBe(6 * HOUR);
  });
});
