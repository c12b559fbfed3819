import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '../../lib/db.ts';
import {
  getSubscriber,
  insertApiSubscriber,
  reencryptWebhookSecrets,
  rotateSubscriberSecret,
} from '../../lib/store/webhook-subscribers.ts';
import { TokenCipher, sodiumReady } from '../../lib/token-crypto.ts';
import { newSigningSecret } from '../../lib/webhooks/signing.ts';

const ringKey = (id: string) => ({ id, key: new Uint8Array(randomBytes(32)) });

describe('signing secrets of API subscribers', () => {
  const db = createDb(inject('databaseUrl'));
  const appId = `cli_${randomBytes(8).toString('hex')}`;
  const [k1, k2] = [ringKey('k1'), ringKey('k2')];
  beforeAll(() => sodiumReady());
  afterAll(() => db.end());

  it('are stored sealed, and keys:rotate re-seals both of a rotation so the old key can go', async () => {
    const before = new TokenCipher([k1]);
    const [first, second] = [newSigningSecret(), newSigningSecret()];
    const seal = (secret: string, cipher: TokenCipher) => (id: string) =>
      cipher.seal(secret, { appId, openId: id, kind: 'webhook_secret' });
    const created = await insertApiSubscriber(db, {
      appId,
      name: 'crm',
      url: 'https://crm.internal/hooks',
      eventTypes: null,
      sealed: seal(first, before),
    });
    await rotateSubscriberSecret(
      db,
      appId,
      created!.id,
      seal(second, before)(created!.id),
      new Date(Date.now() + 60_000),
    );
    const { rows } = await db.query<{ row: string }>(
      'SELECT row_to_json(s)::text AS row FROM webhook_subscribers s WHERE id = $1',
      [created!.id],
    );
    for (const secret of [first, second]) {
      expect(rows[0]!.row).not.toContain(secret.slice(6));
      expect(rows[0]!.row).not.toContain(Buffer.from(secret).toString('hex'));
    }

    expect(await reencryptWebhookSecrets(db, new TokenCipher([k2, k1]), appId)).toBe(1);
    expect(await reencryptWebhookSecrets(db, new TokenCipher([k2, k1]), appId)).toBe(0);
    const after = new TokenCipher([k2]);
    const row = (await getSubscriber(db, created!.id))!;
    const ctx = { appId, openId: row.id, kind: 'webhook_secret' } as const;
    expect(after.open({ keyId: row.key_id!, box: row.secret_ct! }, ctx)).toBe(second);
    expect(after.open({ keyId: row.previous_key_id!, box: row.previous_secret_ct! }, ctx)).toBe(first);
    // Bound to its subscriber: the same ciphertext does not open as another's.
    expect(() =>
      after.open({ keyId: row.key_id!, box: row.secret_ct! }, { ...ctx, openId: 'whs_other' }),
    ).toThrow();
  });
});
