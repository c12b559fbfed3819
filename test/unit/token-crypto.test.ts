import { beforeAll, describe, expect, it } from 'vitest';
import { DecryptError, TokenCipher, sodiumReady } from '../../lib/token-crypto.ts';

const k = (fill: number) => new Uint8Array(32).fill(fill);
const ctx = { appId: 'cli_a', openId: 'ou_a', kind: 'access_token' } as const;

describe('token cipher', () => {
  beforeAll(() => sodiumReady());

  it('round-trips and never stores the plaintext', () => {
    const cipher = new TokenCipher([{ id: 'k1', key: k(1) }]);
    const sealed = cipher.seal('u-secret-token', ctx);
    expect(sealed.keyId).toBe('k1');
    expect(sealed.box.toString('latin1')).not.toContain('u-secret-token');
    expect(cipher.open(sealed, ctx)).toBe('u-secret-token');
  });

  it('binds the ciphertext to its app, user and kind', () => {
    const cipher = new TokenCipher([{ id: 'k1', key: k(1) }]);
    const sealed = cipher.seal('t', ctx);
    expect(() => cipher.open(sealed, { ...ctx, openId: 'ou_b' })).toThrow(DecryptError);
    expect(() => cipher.open(sealed, { ...ctx, kind: 'refresh_token' })).toThrow(DecryptError);
    expect(() => cipher.open(sealed, { ...ctx, appId: 'cli_b' })).toThrow(DecryptError);
  });

  it('seals with the first key and opens with any key of the ring', () => {
    const old = new TokenCipher([{ id: 'k1', key: k(1) }]).seal('t', ctx);
    const rotated = new TokenCipher([
      { id: 'k2', key: k(2) },
      { id: 'k1', key: k(1) },
    ]);
    expect(rotated.open(old, ctx)).toBe('t');
    expect(rotated.seal('t', ctx).keyId).toBe('k2');
    expect(() => new TokenCipher([{ id: 'k2', key: k(2) }]).open(old, ctx)).toThrow(/no key "k1"/);
  });
});
