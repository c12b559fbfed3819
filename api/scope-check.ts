import type { EnabledScopes } from '../lib/feishu/enabled-scopes.ts';
import { normalizeScopes } from '../lib/feishu/oauth.ts';
import { HttpError } from './errors.ts';

/**
 * Refuses scopes the app has not enabled, before any card is sent: Feishu's consent page would
 * show the user an error (20027) that only an admin of the app can fix.
 */
export async function assertScopesEnabled(
  enabledScopes: EnabledScopes,
  appId: string,
  requested: string[],
): Promise<void> {
  const missing = await enabledScopes.missing(normalizeScopes(requested));
  if (missing.length === 0) return;
  throw new HttpError(
    422,
    'scope_not_enabled',
    `the app ${appId} has not enabled ${missing.join(', ')}; an admin of the app enables ` +
      `${missing.length === 1 ? 'it' : 'them'} in the Feishu developer console (the app → ` +
      'Permissions & Scopes / 权限管理, as user scopes) and publishes a new version',
  );
}
