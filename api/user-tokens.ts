import type { Db } from '../lib/db.ts';
import { countDbErrors } from '../lib/metrics.ts';
import { getServableToken, type ServableToken } from '../lib/store/grants.ts';
import type { TokenCipher } from '../lib/token-crypto.ts';
import { HttpError } from './errors.ts';
import type { GrantService } from './grants.ts';

const GONE: ReadonlySet<string> = new Set(['needs_reauth', 'revoked']);

/** A user's access token, opened for one use. */
export interface UserAccessToken {
  accessToken: string;
  expiresAt: Date;
  scopes: string[];
}

function assertLive(grant: ServableToken | undefined): asserts grant is ServableToken {
  if (!grant || (!grant.access_token_ct && !GONE.has(grant.status))) {
    throw new HttpError(404, 'no_grant', 'this user has not authorized the app');
  }
  if (GONE.has(grant.status) || !grant.access_token_ct) {
    throw new HttpError(
      410,
      grant.status,
      `the grant is ${grant.status}${grant.reason ? ` (${grant.reason})` : ''}`,
    );
  }
}

const refreshUnavailable = () =>
  new HttpError(503, 'refresh_unavailable', 'the token could not be refreshed right now; try again shortly');

/**
 * Users' access tokens as the API hands them out (GET /token) or uses them (the proxy). Refreshing
 * is the grant workflow's job: it is the grant's only writer, so rotations never race.
 */
export class UserTokens {
  private readonly db: Db;

  constructor(
    db: Db,
    private readonly cipher: TokenCipher,
    private readonly grants: GrantService,
    /** An access token closer than this to expiry is refreshed before it is used. */
    private readonly marginMs: number,
  ) {
    this.db = countDbErrors(db, () => 'token_read');
  }

  /** The stored token, refreshed first when it is within the margin; 404/410/503 otherwise. */
  async current(openId: string): Promise<UserAccessToken> {
    let grant = await this.read(openId);
    if (!grant.access_expires_at || grant.access_expires_at.getTime() - Date.now() < this.marginMs) {
      await this.grants.ensureFresh(openId, Date.now() + this.marginMs);
      grant = await this.read(openId);
      if (grant.access_expires_at!.getTime() <= Date.now()) throw refreshUnavailable();
    }
    return this.open(openId, grant);
  }

  /**
   * A token to use instead of one Feishu refused as expired or invalid. The workflow is asked for
   * a token valid past the refused one's expiry: it refreshes when its token is still that one,
   * and answers at once when another caller's refresh already replaced it.
   */
  async replacing(openId: string, refused: UserAccessToken): Promise<UserAccessToken> {
    await this.grants.ensureFresh(openId, refused.expiresAt.getTime() + 1);
    const grant = await this.read(openId);
    if (grant.access_expires_at!.getTime() <= refused.expiresAt.getTime()) throw refreshUnavailable();
    return this.open(openId, grant);
  }

  private async read(openId: string): Promise<ServableToken> {
    const grant = await getServableToken(this.db, this.grants.appId, openId);
    assertLive(grant);
    return grant;
  }

  private open(openId: string, grant: ServableToken): UserAccessToken {
    const accessToken = this.cipher.open(
      { keyId: grant.key_id!, box: grant.access_token_ct! },
      { appId: this.grants.appId, openId, kind: 'access_token' },
    );
    return { accessToken, expiresAt: grant.access_expires_at!, scopes: grant.scopes };
  }
}
