import type { Context } from 'koa';
import type { App } from '../config.ts';
import { oauth } from '../errors.ts';
import type { Store } from '../store.ts';

function basicCredentials(ctx: Context): { id: string; secret: string } | undefined {
  const header = ctx.get('authorization');
  if (!/^basic\s+/i.test(header)) return undefined;
  const decoded = Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  if (sep < 0) throw oauth.malformed('the Basic credentials are not client_id:client_secret');
  // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, sep)),
      secret: decodeURIComponent(decoded.slice(sep + 1)),
    };
  } catch {
    throw oauth.malformed('the Basic credentials are not form-urlencoded');
  }
}

/** Client authentication by HTTP Basic or body credentials — never both (20070). */
export function authenticateClient(store: Store, ctx: Context, params: Record<string, string>): App {
  const basic = basicCredentials(ctx);
  if (basic && params.client_secret !== undefined) throw oauth.bothClientAuth();
  const clientId = basic?.id ?? params.client_id;
  if (!clientId) throw oauth.missingParam('client_id');
  if (basic && params.client_id !== undefined && params.client_id !== basic.id) throw oauth.badClientSecret();
  const secret = basic?.secret ?? params.client_secret;
  if (!secret) throw oauth.missingParam('client_secret');
  const app = store.app(clientId);
  if (!app) throw oauth.appMissing();
  if (secret !== app.appSecret) throw oauth.badClientSecret();
  return app;
}
