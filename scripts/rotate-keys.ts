import { userInfo } from 'node:os';
import { loadConfig, requireFeishuApp } from '../lib/config.ts';
import { createDb } from '../lib/db.ts';
import { createLogger } from '../lib/logger.ts';
import { runMain } from '../lib/main-guard.ts';
import { reencryptGrants } from '../lib/store/key-rotation.ts';
import { reencryptWebhookSecrets } from '../lib/store/webhook-subscribers.ts';
import { TokenCipher, sodiumReady } from '../lib/token-crypto.ts';

/**
 * `npm run keys:rotate`: re-seals every stored token (and webhook signing secret) under the first key of
 * TOKEN_ENCRYPTION_KEYS while the service keeps running. Put the new key first in the ring
 * everywhere (keeping the old one after it), restart, run this, then drop the old key once
 * AUTH_EXPIRY_SECONDS have passed: pending authorization attempts keep their OAuth secrets sealed
 * under the key that was active when they started. Each run leaves one line in the audit stream
 * (docs/operations.md#the-audit-stream), by the operating-system user who ran it.
 */
runMain('keys:rotate', async () => {
  const config = loadConfig();
  await sodiumReady();
  const audit = createLogger('keys-rotate', config.LOG_LEVEL).child({ stream: 'audit' });
  const record = { action: 'keys.rotate', by: { operator: userInfo().username }, open_id: null };
  const db = createDb(config.DATABASE_URL, 2);
  try {
    const { appId } = requireFeishuApp(config);
    const cipher = new TokenCipher(config.TOKEN_ENCRYPTION_KEYS);
    const reencrypt = async () => ({
      ...(await reencryptGrants(db, cipher, appId)),
      webhookSecrets: await reencryptWebhookSecrets(db, cipher, appId),
    });
    const result = await reencrypt().catch((err: unknown) => {
      audit.info({ ...record, outcome: 'failed' }, record.action);
      throw err;
    });
    audit.info(
      {
        ...record,
        outcome: 'ok',
        key_id: result.activeKeyId,
        rotated: result.rotated,
        skipped: result.skipped,
      },
      record.action,
    );
    process.stdout.write(
      `re-encrypted ${result.rotated} grant(s) under key "${result.activeKeyId}"; ` +
        `${result.skipped} changed meanwhile and were already sealed with the active key; ` +
        `re-encrypted ${result.webhookSecrets} webhook subscriber(s)' signing secrets\n`,
    );
  } finally {
    await db.end();
  }
});
