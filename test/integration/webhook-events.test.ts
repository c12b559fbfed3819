import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '../../lib/db.ts';
import {
  markGrantPending,
  markNeedsReauth,
  recordGrantEvent,
  revokeStoredGrant,
  saveAuthorizedGrant,
  saveRotatedTokens,
  setGrantStatus,
  type SealedTokens,
} from '../../lib/store/grants.ts';
import { insertSession } from '../../lib/store/sessions.ts';

/**
 * The outbox: each change the activities make to a grant writes its event in the same statement's
 * transaction (db/migrations/…_webhooks.sql), whichever store function made it.
 */
describe('grant changes write webhook events', () => {
  const db = createDb(inject('databaseUrl'));
  const appId = `cli_${randomBytes(8).toString('hex')}`;
  afterAll(() => db.end());

  const sealed = (scopes: string[]): SealedTokens => ({
    keyId: 'k1',
    accessTokenCt: randomBytes(40),
    refreshTokenCt: randomBytes(40),
    accessExpiresAt: new Date(Date.now() + 7_200_000),
    refreshExpiresAt: new Date(Date.now() + 86_400_000),
    scopes,
  });
  const profile = { name: '张三' };

  async function eventsOf(openId: string) {
    const { rows } = await db.query<{
      type: string;
      status: string;
      scopes: string[];
      reason: string | null;
    }>(
      'SELECT type, status, scopes, reason FROM webhook_events WHERE app_id = $1 AND open_id = $2 ORDER BY seq',
      [appId, openId],
    );
    return rows;
  }

  it('authorized, scopes_changed, recovered, renewal_due, re-authorized, needs_reauth and revoked', async () => {
    const openId = 'ou_events_life';
    await markGrantPending(db, appId, openId);
    const first = await saveAuthorizedGrant(db, appId, openId, sealed(['a']), profile);
    const rotated = await saveRotatedTokens(db, appId, openId, first.token_version, sealed(['a', 'b']));
    // A refresh with the same scopes is no event; one that succeeds after failed tries is.
    await saveRotatedTokens(db, appId, openId, rotated!.token_version, sealed(['b', 'a']));
    await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'success' });
    await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'retrying', errorCode: '20050' });
    await recordGrantEvent(db, { appId, openId, kind: 'refresh', outcome: 'success' });
    await insertSession(db, {
      id: `a-${randomBytes(6).toString('hex')}`,
      appId,
      openId,
      workflowId: 'wf',
      scopes: ['a', 'b'],
      locale: 'zh_cn',
      stateHash: randomBytes(32),
      keyId: 'k1',
      stateCt: randomBytes(40),
      verifierCt: randomBytes(40),
      expiresAt: new Date(Date.now() + 600_000),
      notice: 'renewal',
    });
    const renewed = await saveAuthorizedGrant(db, appId, openId, sealed(['a', 'b']), profile);
    expect(await markNeedsReauth(db, appId, openId, renewed.token_version, 'feishu_20037')).toBe(true);
    await revokeStoredGrant(db, appId, openId, { source: 'api', by: { api_key: 'svc' } });

    expect(await eventsOf(openId)).toEqual([
      { type: 'grant.authorized', status: 'authorized', scopes: ['a'], reason: null },
      { type: 'grant.scopes_changed', status: 'authorized', scopes: ['a', 'b'], reason: null },
      { type: 'grant.recovered', status: 'authorized', scopes: ['b', 'a'], reason: null },
      { type: 'grant.renewal_due', status: 'authorized', scopes: ['b', 'a'], reason: null },
      { type: 'grant.authorized', status: 'authorized', scopes: ['a', 'b'], reason: null },
      { type: 'grant.needs_reauth', status: 'needs_reauth', scopes: ['a', 'b'], reason: 'feishu_20037' },
      { type: 'grant.revoked', status: 'revoked', scopes: ['a', 'b'], reason: 'revoked_by_api' },
    ]);
  });

  it('denied and expired attempts, each time; a card going out is no event', async () => {
    const openId = 'ou_events_denied';
    await markGrantPending(db, appId, openId);
    await setGrantStatus(db, appId, openId, 'denied', 'denied', { dropTokens: true });
    await setGrantStatus(db, appId, openId, 'denied', 'denied', { dropTokens: true });
    await markGrantPending(db, appId, openId);
    await setGrantStatus(db, appId, openId, 'expired', null, { dropTokens: true });
    await markGrantPending(db, appId, openId);
    await setGrantStatus(db, appId, openId, 'cancelled', null, { dropTokens: true });
    expect((await eventsOf(openId)).map((e) => e.type)).toEqual(['grant.denied', 'grant.expired']);
  });

  it('a change that rolls back leaves no event', async () => {
    const openId = 'ou_events_rollback';
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO grants (app_id, open_id, status) VALUES ($1, $2, 'denied')`, [
        appId,
        openId,
      ]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await eventsOf(openId)).toEqual([]);
  });
});
