import { describe, expect, it } from 'vitest';
import { failureReasonOf } from '../../lib/feishu/errors.ts';
import { settledView } from '../../workflows/card-views.ts';

describe('what a settled attempt shows on its card', () => {
  it('shows who authorized and what', () => {
    expect(settledView('ou_1', 'a-1', { kind: 'authorized', userName: 'Li', scopes: ['s'] })).toEqual({
      state: 'authorized',
      openId: 'ou_1',
      attemptId: 'a-1',
      userName: 'Li',
      scopes: ['s'],
    });
  });

  it('shows a failure with its reason, never a Feishu message', () => {
    expect(settledView('ou_1', 'a-1', { kind: 'failed', reason: 'config_error', errorCode: 20029 })).toEqual({
      state: 'failed',
      openId: 'ou_1',
      attemptId: 'a-1',
      reason: 'config_error',
    });
  });

  it.each(['denied', 'expired', 'cancelled', 'superseded'] as const)('shows %s as such', (kind) => {
    expect(settledView('ou_1', 'a-1', { kind })).toEqual({ state: kind, openId: 'ou_1', attemptId: 'a-1' });
  });
});

describe('one table from a Feishu error kind to the reason users see', () => {
  it.each([
    ['transient', 'feishu_unavailable'],
    ['rate_limited', 'feishu_unavailable'],
    ['user_not_allowed', 'user_not_allowed'],
    ['config_error', 'config_error'],
    ['needs_reauth', 'config_error'],
    ['invalid_code', 'invalid_code'],
    ['invalid_request', 'invalid_request'],
    ['card_not_updatable', 'internal'],
    ['something new', 'internal'],
  ])('%s -> %s', (kind, reason) => {
    expect(failureReasonOf(kind)).toBe(reason);
  });
});
