import type { GrantState } from '../lib/grant-types.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The grant as the Web UI's "Current Details" shows it (Temporal markdown). Metadata only: no
 * tokens, codes or user names; the open_id is already in the workflow id.
 */
export function describeGrant(state: GrantState): string {
  const lines = [`**${state.status}**${state.reason ? ` (${state.reason})` : ''}`];
  const { token, attempt } = state;
  if (token) {
    lines.push(
      `scopes: ${token.scopes.join(' ') || '—'}`,
      `access token expires ${iso(token.accessExpiresAt)}`,
      token.refreshExpiresAt ? `refresh token expires ${iso(token.refreshExpiresAt)}` : 'no refresh token',
      `authorized ${iso(token.authorizedAt)}, token version ${token.tokenVersion}`,
    );
  }
  lines.push(`refreshes: ${state.refreshCount}`);
  if (attempt) {
    const outcome = attempt.outcome ? attempt.outcome.kind : `waiting until ${iso(attempt.expiresAt)}`;
    lines.push(`last attempt ${attempt.id}: ${outcome}`);
  }
  return lines.join('\n\n');
}
