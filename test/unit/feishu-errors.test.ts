import { describe, expect, it } from 'vitest';
import { classifyFeishuError, FeishuApiError, isRetryable } from '../../lib/feishu/errors.ts';
import { localeFromAcceptLanguage } from '../../lib/i18n.ts';

describe('Feishu error classification (the table in lib/feishu/errors.ts)', () => {
  it.each([
    [400, 20003, 'invalid_code'],
    [400, 20065, 'invalid_code'],
    [400, 20004, 'invalid_code'],
    [400, 20049, 'invalid_code'],
    [400, 20024, 'invalid_code'],
    [400, 20002, 'config_error'],
    [400, 20071, 'config_error'],
    [400, 20009, 'config_error'],
    [400, 20008, 'user_not_allowed'],
    [400, 20010, 'user_not_allowed'],
    [400, 20026, 'needs_reauth'],
    [400, 20037, 'needs_reauth'],
    [400, 20074, 'needs_reauth'],
    [400, 20064, 'refresh_token_spent'],
    [400, 20073, 'refresh_token_spent'],
    [500, 20050, 'transient'],
    [503, 20072, 'transient'],
    [429, 99991400, 'rate_limited'],
    [502, 502, 'transient'],
    [0, 0, 'transient'],
    [400, 20001, 'bug'],
    [400, 20070, 'bug'],
    [400, 20067, 'invalid_request'],
  ] as const)('HTTP %i code %i is %s', (status, code, kind) => {
    expect(classifyFeishuError(status, code)).toBe(kind);
  });

  it('retries only transient and rate-limited failures', () => {
    expect(isRetryable('transient')).toBe(true);
    expect(isRetryable('rate_limited')).toBe(true);
    expect(isRetryable('invalid_code')).toBe(false);
    expect(isRetryable('refresh_token_spent')).toBe(false);
  });

  it('error messages carry codes, never request data', () => {
    const err = new FeishuApiError('oauth.token', 400, 20065);
    expect(err.message).toBe('Feishu oauth.token failed: HTTP 400, code 20065 (invalid_code)');
  });
});

describe('page language', () => {
  it.each([
    ['en-US,en;q=0.9', 'en_us'],
    ['zh-CN,zh;q=0.9,en;q=0.8', 'zh_cn'],
    ['fr-FR,en;q=0.5,zh;q=0.4', 'en_us'],
    ['de', 'zh_cn'],
    [undefined, 'zh_cn'],
  ] as const)('%s → %s', (header, locale) => {
    expect(localeFromAcceptLanguage(header)).toBe(locale);
  });
});
