import Router from '@koa/router';
import Koa from 'koa';
import { loadConfig, requireFeishuApp } from '../../lib/config.ts';
import { createDb } from '../../lib/db.ts';
import { getServableToken } from '../../lib/store/grants.ts';
import { TokenCipher, sodiumReady } from '../../lib/token-crypto.ts';

/**
 * GET /v1/users/:openId/token with nothing but the work it cannot skip: the same prepared read and
 * the same decryption as the API, on the same pool size. No API key, audit, metrics, schema or
 * freshness check: what the real route spends beyond this is ours.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const { appId } = requireFeishuApp(config);
  await sodiumReady();
  const db = createDb(config.DATABASE_URL, 20);
  const cipher = new TokenCipher(config.TOKEN_ENCRYPTION_KEYS);
  const router = new Router();
  router.get('/v1/users/:openId/token', async (ctx) => {
    const openId = ctx.params.openId!;
    const grant = await getServableToken(db, appId, openId);
    if (!grant?.access_token_ct) {
      ctx.status = 404;
      return;
    }
    ctx.body = {
      access_token: cipher.open(
        { keyId: grant.key_id!, box: grant.access_token_ct },
        { appId, openId, kind: 'access_token' },
      ),
      expires_at: grant.access_expires_at!.toISOString(),
      scope: grant.scopes.join(' '),
    };
  });
  router.get('/readyz', (ctx) => {
    ctx.body = 'ok';
  });
  const app = new Koa().use(router.routes());
  app.listen(config.PORT, '127.0.0.1');
}

main().catch((err: unknown) => {
  process.stderr.write(`bare token server failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
