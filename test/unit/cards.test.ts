import { describe, expect, it } from 'vitest';
import { buildCard, type CardView } from '../../lib/cards/build.ts';

interface Element {
  tag: string;
  content?: string;
  i18n_content?: { zh_cn: string; en_us: string };
  text?: { content: string; i18n_content: { en_us: string } };
  behaviors?: { type: string; default_url?: string; value?: Record<string, string> }[];
}
interface Card {
  schema: string;
  config: { update_multi: boolean };
  header: { title: { content: string; i18n_content: { en_us: string } }; template: string };
  body: { elements: Element[] };
}

const base = { openId: 'ou_1', attemptId: 'a-1' };
const card = (view: CardView) => buildCard(view) as Card;
const buttons = (c: Card) => c.body.elements.filter((e) => e.tag === 'button');
const text = (c: Card) => JSON.stringify(c);

describe('authorization cards', () => {
  const pending = card({
    ...base,
    state: 'pending',
    authorizeUrl: 'https://accounts.example/authorize?state=s',
    scopes: ['offline_access', 'calendar:calendar:readonly', 'custom:scope'],
    expiresAt: 1_800_000_000_000,
  });

  it('are JSON 2.0 shared cards (update_multi), as PATCH requires', () => {
    for (const state of [
      'denied',
      'expired',
      'cancelled',
      'superseded',
      'revoked',
      'identity_mismatch',
    ] as const) {
      const c = card({ ...base, state });
      expect(c.schema).toBe('2.0');
      expect(c.config.update_multi).toBe(true);
    }
    expect(pending.config.update_multi).toBe(true);
  });

  it('pending: an Authorize link to the authorize URL, a Cancel callback, the scopes in words, the expiry', () => {
    const [authorize, cancel] = buttons(pending);
    expect(authorize!.behaviors![0]).toEqual({
      type: 'open_url',
      default_url: 'https://accounts.example/authorize?state=s',
    });
    expect(authorize!.text!.i18n_content.en_us).toBe('Authorize');
    expect(cancel!.behaviors![0]!.value).toEqual({ action: 'cancel', open_id: 'ou_1', attempt_id: 'a-1' });
    expect(text(pending)).toContain('View your calendars');
    expect(text(pending)).toContain('查看你的日历');
    expect(text(pending)).toContain('custom:scope');
    expect(text(pending)).toContain("millisecond='1800000000000'");
  });

  it('pending, device flow: the link opens the verification page, and the card shows the code to confirm', () => {
    const device = card({
      ...base,
      state: 'pending',
      authorizeUrl: 'https://accounts.example/verify?user_code=BCDF-GHJK',
      scopes: ['offline_access'],
      expiresAt: 1_800_000_000_000,
      device: { userCode: 'BCDF-GHJK', verificationUri: 'https://accounts.example/verify' },
    });
    const [authorize, cancel] = buttons(device);
    expect(authorize!.behaviors![0]!.default_url).toBe('https://accounts.example/verify?user_code=BCDF-GHJK');
    expect(cancel!.behaviors![0]!.value!.action).toBe('cancel');
    const steps = device.body.elements.find((e) => e.content?.includes('BCDF-GHJK'))!;
    expect(steps.i18n_content!.en_us).toContain('**BCDF-GHJK**');
    expect(steps.i18n_content!.en_us).toContain('(https://accounts.example/verify)');
    expect(text(pending)).not.toContain('user_code');
  });

  it('speak Chinese by default and English through i18n_content', () => {
    expect(pending.header.title.content).toBe('授权请求');
    expect(pending.header.title.i18n_content.en_us).toBe('Authorization request');
  });

  it('authorized: the user, the granted scopes and a Revoke button', () => {
    const c = card({ ...base, state: 'authorized', userName: '张三', scopes: ['offline_access'] });
    expect(text(c)).toContain('张三');
    expect(c.body.elements.some((e) => e.tag === 'person')).toBe(true);
    expect(buttons(c).map((b) => b.behaviors![0]!.value!.action)).toEqual(['revoke']);
  });

  it('failed: the reason in words and a Retry button', () => {
    const c = card({ ...base, state: 'failed', reason: 'user_not_allowed' });
    expect(c.header.template).toBe('red');
    expect(text(c)).toContain('cannot use this app');
    expect(buttons(c).map((b) => b.behaviors![0]!.value!.action)).toEqual(['retry']);
  });

  it('a superseded card offers nothing to press; the other ended states offer Retry', () => {
    expect(buttons(card({ ...base, state: 'superseded' }))).toHaveLength(0);
    for (const state of ['denied', 'expired', 'cancelled', 'identity_mismatch', 'revoked'] as const) {
      expect(buttons(card({ ...base, state })).map((b) => b.behaviors![0]!.value!.action)).toEqual(['retry']);
    }
  });

  it('stay far below the 30 KB card limit even with many scopes', () => {
    const many = card({
      ...base,
      state: 'pending',
      authorizeUrl: 'https://x/'.padEnd(2000, 'x'),
      scopes: Array.from({ length: 50 }, (_, i) => `scope:${i}`),
      expiresAt: 0,
    });
    expect(Buffer.byteLength(JSON.stringify(many))).toBeLessThan(30 * 1024);
  });
});
