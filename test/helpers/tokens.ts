import type { Stack } from './stack.ts';

export const refreshEvents = (stack: Stack, openId: string) =>
  stack.sandbox.state.tokenEvents().filter((e) => e.grantType === 'refresh_token' && e.openId === openId);

export const successfulRefreshes = (stack: Stack, openId: string) =>
  refreshEvents(stack, openId).filter((e) => e.ok);

export async function getToken(stack: Stack, openId: string) {
  const res = await stack.api(`/v1/users/${openId}/token`);
  return {
    status: res.status,
    body: (await res.json()) as { access_token?: string; expires_at?: string; error?: { code: string } },
  };
}

/** The newest access token the sandbox issued to this user. */
export function latestIssuedAccessToken(stack: Stack, openId: string): string | undefined {
  const tokens = stack.sandbox.state
    .grants()
    .filter((g) => g.openId === openId)
    .flatMap((g) => g.accessTokens)
    .sort((a, b) => a.issuedAt - b.issuedAt);
  return tokens[tokens.length - 1]?.token;
}

export async function grantStatus(stack: Stack, openId: string): Promise<string | undefined> {
  const { rows } = await stack.db.query<{ status: string }>(
    'SELECT status FROM grants WHERE app_id = $1 AND open_id = $2',
    [stack.appId, openId],
  );
  return rows[0]?.status;
}
