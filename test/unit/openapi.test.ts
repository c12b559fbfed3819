import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { GrantService } from '../../api/grants';
import { openApiPath } from '../../api/openapi';
import { loadConfig } from '../../lib/config';
import type { Db } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { TokenCipher, sodiumReady } from '../../lib/token-crypto';

const secret = () => randomBytes(24).toString('hex');
const key = () => randomBytes(32).toString('base64');

/** The app as configured for one callback mode, with inert stand-ins for what it would call. */
async function appFor(mode: 'ws' | 'http') {
  await sodiumReady();
  const config = loadConfig({
    FEISHU_APP_ID: 'cli_test',
    FEISHU_APP_SECRET: secret(),
    FEISHU_CALLBACK_MODE: mode,
    FEISHU_ENCRYPT_KEY: mode === 'http' ? secret() : undefined,
    FEISHU_VERIFICATION_TOKEN: mode === 'http' ? secret() : undefined,
    PUBLIC_BASE_URL: 'http://127.0.0.1:1',
    DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
    TOKEN_ENCRYPTION_KEYS: `k1:${key()}`,
    PAYLOAD_CODEC_KEYS: `c1:${key()}`,
    API_KEYS: `svc:token:${secret()}`,
    LOG_LEVEL: 'silent',
  });
  const db = { query: () => Promise.resolve({ rows: [], rowCount: 0 }) } as unknown as Db;
  return createApp({
    config,
    db,
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    temporal: {} as Client,
    grants: {} as GrantService,
    logger: createLogger('test', 'silent'),
    accessTokenMarginSeconds: 300,
  });
}

async function fetchDocument(app: Koa) {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    // No key: the document is public.
    const response = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    expect(response.status).toBe(200);
    return (await response.json()) as { paths: Record<string, Record<string, unknown>> };
  } finally {
    server.close();
  }
}

describe('the OpenAPI document', () => {
  for (const mode of ['ws', 'http'] as const) {
    it(`names exactly the routes the app registers (callbacks over ${mode})`, async () => {
      const api = await appFor(mode);
      try {
        const registered = new Set<string>();
        for (const middleware of api.app.middleware) {
          const router = (middleware as { router?: Router }).router;
          for (const layer of router?.stack ?? []) {
            for (const method of layer.methods) {
              // @koa/router answers HEAD with every GET route.
              if (method !== 'HEAD')
                registered.add(`${method.toLowerCase()} ${openApiPath(String(layer.path))}`);
            }
          }
        }
        const document = await fetchDocument(api.app);
        const documented = new Set(
          Object.entries(document.paths).flatMap(([path, methods]) =>
            Object.keys(methods).map((method) => `${method} ${path}`),
          ),
        );
        expect(registered.size).toBeGreaterThan(10);
        expect([...documented].sort()).toEqual([...registered].sort());
      } finally {
        await api.stop();
      }
    });
  }
});
