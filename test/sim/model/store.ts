import type { TokenSet, UserProfile } from '../../../lib/feishu/gateway.ts';
import type { StartAttemptInput } from '../../../activities/attempts.ts';
import type { CardNotice, GrantStatus } from '../../../lib/grant-types.ts';
import type { GrantRow, SealedTokens } from '../../../lib/store/grants.ts';
import type { SessionRow } from '../../../lib/store/sessions.ts';
import type { SimLog } from './log.ts';

/** The model keeps tokens readable: "sealing" is only the expiry arithmetic, in server time. */
function sealAt(now: number, tokens: TokenSet): SealedTokens {
  return {
    keyId: 'sim',
    accessTokenCt: Buffer.from(tokens.accessToken),
    refreshTokenCt: tokens.refreshToken ? Buffer.from(tokens.refreshToken) : null,
    accessExpiresAt: new Date(now + tokens.expiresInSeconds * 1000),
    refreshExpiresAt:
      tokens.refreshToken && tokens.refreshExpiresInSeconds
        ? new Date(now + tokens.refreshExpiresInSeconds * 1000)
        : null,
    scopes: tokens.scopes,
  };
}

/**
 * PostgreSQL's grants and user_auth_sessions tables in memory, with the real row types and the
 * guards of lib/store: token writes check version and status, dropping tokens moves the version,
 * a code is spent only on an open attempt.
 */
export class StoreModel {
  readonly grants = new Map<string, GrantRow>();
  readonly sessions = new Map<string, SessionRow>();
  /** What the real rows do not say but the checks need: why each card was sent, when a grant was revoked. */
  readonly notices = new Map<string, CardNotice>();
  readonly revokedAt = new Map<string, number>();
  readonly statusSince = new Map<string, number>();

  constructor(private readonly log: SimLog) {}

  getGrant(openId: string): GrantRow | undefined {
    return this.grants.get(openId);
  }

  private upsertGrant(now: number, appId: string, openId: string): GrantRow {
    let row = this.grants.get(openId);
    if (!row) {
      row = {
        app_id: appId,
        open_id: openId,
        status: 'pending',
        reason: null,
        scopes: [],
        union_id: null,
        user_name: null,
        user_en_name: null,
        avatar_url: null,
        key_id: null,
        access_token_ct: null,
        refresh_token_ct: null,
        access_expires_at: null,
        refresh_expires_at: null,
        authorized_at: null,
        token_version: 0,
        created_at: new Date(now),
        updated_at: new Date(now),
      };
      this.grants.set(openId, row);
    }
    return row;
  }

  private setStatus(now: number, row: GrantRow, status: GrantStatus, reason: string | null): void {
    if (row.status !== status) this.statusSince.set(row.open_id, now);
    row.status = status;
    row.reason = reason;
    row.updated_at = new Date(now);
    if (status === 'revoked') this.revokedAt.set(row.open_id, now);
    this.log.record(
      now,
      row.open_id,
      `store: grant ${status}${reason ? ` (${reason})` : ''} v${row.token_version}`,
    );
  }

  private dropTokens(row: GrantRow): void {
    row.access_token_ct = null;
    row.refresh_token_ct = null;
    row.token_version++;
  }

  private writeTokens(now: number, row: GrantRow, tokens: TokenSet): void {
    const sealed = sealAt(now, tokens);
    row.key_id = sealed.keyId;
    row.access_token_ct = sealed.accessTokenCt;
    row.refresh_token_ct = sealed.refreshTokenCt ?? row.refresh_token_ct;
    row.access_expires_at = sealed.accessExpiresAt;
    row.refresh_expires_at = sealed.refreshExpiresAt ?? row.refresh_expires_at;
    row.scopes = sealed.scopes;
    row.token_version++;
  }

  /** A fresh consent: new tokens, the 365-day clock restarts, whatever the grant's state. */
  saveAuthorizedGrant(
    now: number,
    appId: string,
    openId: string,
    tokens: TokenSet,
    profile: UserProfile,
  ): GrantRow {
    const row = this.upsertGrant(now, appId, openId);
    this.writeTokens(now, row, tokens);
    row.user_name = profile.name;
    row.authorized_at = new Date(now);
    this.revokedAt.delete(row.open_id);
    this.setStatus(now, row, 'authorized', null);
    return row;
  }

  /** Lands only on the grant as the refresh read it: same version, still authorized. */
  saveRotatedTokens(
    now: number,
    openId: string,
    expectedVersion: number,
    tokens: TokenSet,
  ): GrantRow | undefined {
    const row = this.grants.get(openId);
    if (!row || row.token_version !== expectedVersion || row.status !== 'authorized') return undefined;
    this.writeTokens(now, row, tokens);
    this.log.record(now, openId, `store: tokens rotated v${row.token_version}`);
    return row;
  }

  setGrantStatus(
    now: number,
    appId: string,
    openId: string,
    status: GrantStatus,
    reason: string | null,
    dropTokens: boolean,
  ): void {
    const row = this.upsertGrant(now, appId, openId);
    if (dropTokens) this.dropTokens(row);
    this.setStatus(now, row, status, reason);
  }

  markNeedsReauth(now: number, openId: string, expectedVersion: number, reason: string): boolean {
    const row = this.grants.get(openId);
    if (!row || row.token_version !== expectedVersion || row.status !== 'authorized') return false;
    this.dropTokens(row);
    this.setStatus(now, row, 'needs_reauth', reason);
    return true;
  }

  markGrantPending(
    now: number,
    appId: string,
    openId: string,
  ): { status: GrantStatus; reason: string | null } {
    const row = this.upsertGrant(now, appId, openId);
    if (row.status !== 'authorized' && row.status !== 'needs_reauth')
      this.setStatus(now, row, 'pending', null);
    return { status: row.status, reason: row.reason };
  }

  /** Inserts the attempt once; a retried activity gets the row it inserted before. */
  insertSession(now: number, attempt: StartAttemptInput): SessionRow {
    const existing = this.sessions.get(attempt.attemptId);
    if (existing) return existing;
    const row: SessionRow = {
      id: attempt.attemptId,
      app_id: attempt.appId,
      open_id: attempt.openId,
      workflow_id: attempt.workflowId,
      status: 'pending',
      scopes: attempt.scopes,
      message_id: null,
      locale: attempt.locale,
      key_id: 'sim',
      state_ct: Buffer.from(`state-${attempt.attemptId}`),
      verifier_ct: Buffer.from(`verifier-${attempt.attemptId}`),
      code_ct: null,
      code_key_id: null,
      code_spent_at: null,
      error_code: null,
      reason: null,
      created_at: new Date(now),
      expires_at: new Date(attempt.expiresAt),
      settled_at: null,
    };
    this.sessions.set(row.id, row);
    if (attempt.notice) this.notices.set(row.id, attempt.notice);
    return row;
  }

  getSession(id: string): SessionRow | undefined {
    return this.sessions.get(id);
  }

  sessionsOf(openId: string): SessionRow[] {
    return [...this.sessions.values()].filter((s) => s.open_id === openId);
  }

  /** Keeps the first code delivered for a pending attempt, as the OAuth callback does. */
  storeCodeOnce(id: string, code: string): boolean {
    const row = this.sessions.get(id);
    if (!row || row.status !== 'pending' || row.code_ct || row.code_spent_at) return false;
    row.code_ct = Buffer.from(code);
    row.code_key_id = 'sim';
    return true;
  }

  /** Spends the code only while the attempt is open: a late exchange stores nothing. */
  spendCode(now: number, id: string): boolean {
    const row = this.sessions.get(id);
    if (!row || row.settled_at || row.code_spent_at) return false;
    row.code_spent_at = new Date(now);
    row.code_ct = null;
    row.code_key_id = null;
    return true;
  }

  settleSession(
    now: number,
    id: string,
    outcome: { status: SessionRow['status']; errorCode?: string; reason?: string },
  ): void {
    const row = this.sessions.get(id);
    if (!row) return;
    row.status = outcome.status;
    row.error_code = outcome.errorCode ?? null;
    row.reason = outcome.reason ?? null;
    row.settled_at ??= new Date(now);
    row.state_ct = null;
    row.verifier_ct = null;
    row.code_ct = null;
    row.code_key_id = null;
    this.log.record(now, row.open_id, `store: attempt ${id} settled ${outcome.status}`);
  }
}
