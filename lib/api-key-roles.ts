/**
 * What an API key may do, least to most; each role may also do everything the roles before it
 * may:
 * - `decode`: the codec server's /decode only, for the Temporal Web UI, whose endpoint URL (and
 *   so the key in it) anyone who can open the UI can read;
 * - `read`: grant status, the grant list and a user's history;
 * - `request`: ask users for authorization (sends them a card, rate-limited per key);
 * - `proxy`: call Feishu as a user through the proxy, which adds the user's token on the way out
 *   and never hands it back (within the key's allow-list, PROXY_ALLOW);
 * - `token`: read users' access tokens, revoke, and encode payloads through the codec server
 *   (an encoded payload can drive a grant workflow);
 * - `admin`: an operator's: also manage webhook subscribers (their URLs and signing secrets) and
 *   replay dead-lettered webhook deliveries.
 */
export const API_KEY_ROLES = ['decode', 'read', 'request', 'proxy', 'token', 'admin'] as const;

export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/**
 * Role names of earlier releases, still accepted: a `status` key requested authorizations and read
 * status, so it keeps exactly that. (A `token` key keeps its name and everything it could do.)
 */
const RENAMED: Readonly<Record<string, ApiKeyRole>> = { status: 'request' };

/** The role a configured name stands for, or undefined when it names none. */
export function apiKeyRole(name: string): ApiKeyRole | undefined {
  return (API_KEY_ROLES as readonly string[]).includes(name) ? (name as ApiKeyRole) : RENAMED[name];
}

export function roleAllows(role: ApiKeyRole, needed: ApiKeyRole): boolean {
  return API_KEY_ROLES.indexOf(role) >= API_KEY_ROLES.indexOf(needed);
}
