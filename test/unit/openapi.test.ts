import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import type { GrantService } from '../../api/grants.ts';
import { openApiPath } from '../../api/openapi.ts';
import { loadConfig } from '../../lib/config.ts';
import type { Db } from '../../lib/db.ts';
import type { FeishuGateway } from '../../lib/feishu/gateway.ts';
import { createLogger } from '../../lib/logger.ts';
import { TokenCipher, sodiumReady } from '../../lib/token-crypto.ts';

const secret = () => randomBytes(24).toString('hex');
const key = () => randomBytes(32).toString('base64');
const KEY = secret();

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
    API_KEYS: `svc:token:${KEY}`,
    LOG_LEVEL: 'silent',
  });
  const db = { query: () => Promise.resolve({ rows: [], rowCount: 0 }) } as unknown as Db;
  return createApp({
    config,
    db,
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    temporal: {} as Client,
    grants: {} as GrantService,
    feishu: {} as FeishuGateway,
    logger: createLogger('test', 'silent'),
    accessTokenMarginSeconds: 300,
  });
}

/** Runs `use` against the app on an ephemeral port. */
async function served<T>(app: Koa, use: (url: string) => Promise<T>): Promise<T> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
}

async function fetchDocument(app: Koa) {
  return served(app, async (url) => {
    // No key: the document is public.
    const response = await fetch(`${url}/openapi.json`);
    expect(response.status).toBe(200);
    return (await response.json()) as { paths: Record<string, Record<string, unknown>> };
  });
}

/** A raw request: fetch refuses methods such as TRACE. */
function send(url: string, method: string): Promise<{ status: number; allow?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }));
    });
    req.on('error', reject);
    req.end();
  });
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

  // The fuzzer's TRACE got 501, a server error, from @koa/router.
  it('answers a method no route takes 405 with Allow, or 404 where no route is', async () => {
    const api = await appFor('ws');
    try {
      await served(api.app, async (url) => {
        for (const method of ['TRACE', 'PROPFIND', 'PUT']) {
          const answer = await send(`${url}/v1/users/ou_x/token`, method);
          expect(answer).toMatchObject({ status: 405, allow: 'HEAD, GET' });
          expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'method_not_allowed' } });
        }
        expect(await send(`${url}/nowhere`, 'TRACE')).toMatchObject({ status: 404 });
      });
    } finally {
      await api.stop();
    }
  });

  // The fuzzer's cursor with a NUL byte reached PostgreSQL, which refused it: a 500; and
  // Number() took '0x10' and '1e1' for the integers the contract promises.
  it('refuses query values the contract does not allow before they reach the database', async () => {
    const api = await appFor('ws');
    try {
      await served(api.app, async (url) => {
        for (const query of ['cursor=%00x', 'limit=0x10', 'limit=1e1', 'limit=%2010']) {
          const answer = await fetch(`${url}/v1/authorizations?${query}`, {
            headers: { authorization: `Bearer ${KEY}` },
          });
          expect({ query, status: answer.status }).toEqual({ query, status: 400 });
          expect(await answer.json()).toMatchObject({ error: { code: 'invalid_request' } });
        }
      });
    } finally {
      await api.stop();
    }
  });
});
