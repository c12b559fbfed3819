import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import type { ApiKey, ApiKeyRole } from '../lib/config';
import { HttpError } from './errors';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer API keys: a `status` key reads and requests authorizations; a `token` key may also read
 * tokens and revoke. The key's name (never its secret) is left on ctx.state for logs.
 */
export function requireApiKey(keys: ApiKey[], role: ApiKeyRole): Middleware {
  const hashed = keys.map((k) => ({ ...k, hash: digest(k.secret) }));
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer (.+)$/i.exec(header);
    if (!match)
      throw new HttpError(401, 'unauthorized', 'an API key is required: Authorization: Bearer <key>');
    const presented = digest(match[1]!.trim());
    const key = hashed.find((k) => timingSafeEqual(k.hash, presented));
    if (!key) throw new HttpError(401, 'unauthorized', 'the API key is not valid');
    if (role === 'token' && key.role !== 'token') {
      throw new HttpError(403, 'forbidden', `the API key "${key.name}" may not read tokens or revoke`);
    }
    ctx.state.apiKey = key.name;
    await next();
  };
}
