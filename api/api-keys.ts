import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { roleAllows, type ApiKeyRole } from '../lib/api-key-roles.ts';
import type { ApiKey } from '../lib/config.ts';
import { HttpError } from './errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer API keys, checked for a role (lib/api-key-roles.ts). The key's name (never its secret) is
 * left on ctx.state.apiKey, for the audit stream and the rate limit, also when its role falls short.
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
    ctx.state.apiKey = key.name;
    if (!roleAllows(key.role, role)) {
      throw new HttpError(
        403,
        'forbidden',
        `the API key "${key.name}" has the role ${key.role}; this needs ${role} or above`,
      );
    }
    await next();
  };
}
