import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRingEntry } from '../../lib/config.ts';
import { TokenCipher } from '../../lib/token-crypto.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize, waitForCardTitle } from '../helpers/flows.ts';
import { appClient } from '../helpers/feishu-client.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken, grantStatus, successfulRefreshes } from '../helpers/tokens.ts';

/** The re-authorize card the grant sends when it dies: a second card, with the reauth notice. */
async function reauthCard(stack: Stack, openId: string) {
  const cards = await eventually('a re-authorize card', () => {
    const found = stack.sandbox.state.messages({ openId });
    return found.length >= 2 ? found : undefined;
  });
  const latest = cards[cards.length - 1]!;
  expect(JSON.stringify(latest.card)).toContain('授权已失效');
  return latest.messageId;
}

/** Replaces the stored refresh token (sealed as the service would) with one Feishu never issued. */
async function storeRefreshToken(stack: Stack, openId: string, token: string): Promise<void> {
  const sealed = new TokenCipher(stack.config.TOKEN_ENCRYPTION_KEYS).seal(token, {
    appId: stack.appId,
    openId,
    kind: 'refresh_token',
  });
  await stack.db.query(
    'UPDATE grants SET refresh_token_ct = $3, key_id = $4 WHERE app_id = $1 AND open_id = $2',
    [stack.appId, openId, sealed.box, sealed.keyId],
  );
}

describe('token lifecycle: keep-alive, terminal errors, revocation, rotation', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Refresh tokens die after 3 s idle: only the keep-alive loop keeps a grant alive.
    stack = await startStack({
      sandbox: { lifetimes: { accessTokenSeconds: 2, refreshTokenSeconds: 3, accessTokenGraceSeconds: 1 } },
      settings: {
        refreshLeadSeconds: 1.5,
        refreshJitterSeconds: 0.2,
        accessTokenMarginSeconds: 0.5,
        refreshesPerRun: 3,
      },
    });
  });
  afterAll(() => stack?.close());

  it('an idle grant survives several refresh-token lifetimes, across continue-as-new, and serves the rotated token', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId);
    const handle = stack.temporal.workflow.getHandle(stack.grants.workflowId(openId));
    const firstRun = (await handle.describe()).runId;
    await eventually(
      'five refreshes recorded by the grant',
      async () => (((await stack.grants.state(openId))?.refreshCount ?? 0) >= 5 ? true : undefined),
      // Seconds-long tokens: a loaded 2-core machine can stretch each rotation well past its lifetime.
      60_000,
    );
    const now = await handle.describe();
    expect(now.runId).not.toBe(firstRun);
    expect(now.historyLength).toBeLessThan(120);
    expect((await stack.grants.state(openId))?.status).toBe('authorized');
    expect(successfulRefreshes(stack, openId).length).toBeGreaterThanOrEqual(5);
    const token = await getToken(stack, openId);
    expect(token.status).toBe(200);
    // The loop keeps rotating while we look: the token served is the newest or the one before it.
    const issued = stack.sandbox.state
      .grants()
      .filter((g) => g.openId === openId)
      .flatMap((g) => g.accessTokens)
      .sort((a, b) => a.issuedAt - b.issuedAt)
      .map((t) => t.token);
    expect(issued.slice(-2)).toContain(token.body.access_token);
  }, 90_000);

  it.each([
    ['20064 (revoked at Feishu)', (s: Stack, o: string) => void s.sandbox.revokeGrant(s.appId, o)],
    [
      '20037 (expired)',
      (s: Stack, o: string) => void s.sandbox.expireTokens({ appId: s.appId, openId: o, kinds: ['refresh'] }),
    ],
    ['20074 (refresh switched off)', (s: Stack) => s.sandbox.updateApp(s.appId, { refreshEnabled: false })],
    [
      '20026 (refresh token invalid)',
      (s: Stack, o: string) => storeRefreshToken(s, o, 'not-a-refresh-token'),
    ],
  ])(
    '%s makes the grant needs_reauth, sends a re-authorize card, and the token API answers 410',
    async (_name, breakIt) => {
      const index = { '20064': 1, '20037': 2, '20074': 3, '20026': 7 }[_name.slice(0, 5)]!;
      const openId = stack.sandbox.openIdOf(stack.appId, index);
      await authorize(stack, openId);
      await breakIt(stack, openId);
      try {
        await eventually('needs_reauth', async () =>
          (await grantStatus(stack, openId)) === 'needs_reauth' ? true : undefined,
        );
        await reauthCard(stack, openId);
        const token = await getToken(stack, openId);
        expect(token.status).toBe(410);
        expect(token.body.error?.code).toBe('needs_reauth');
        // The grant keeps saying why while its re-authorize card is out.
        expect((await stack.grants.state(openId))?.status).toBe('needs_reauth');
      } finally {
        stack.sandbox.updateApp(stack.appId, { refreshEnabled: true });
      }
    },
  );

  it('a refresh token spent outside the workflow (the crash window) ends in needs_reauth with a card, never silently', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 4);
    await authorize(stack, openId);
    const { rows } = await stack.db.query<{ key_id: string; refresh_token_ct: Buffer }>(
      'SELECT key_id, refresh_token_ct FROM grants WHERE app_id = $1 AND open_id = $2',
      [stack.appId, openId],
    );
    const refreshToken = new TokenCipher(stack.config.TOKEN_ENCRYPTION_KEYS).open(
      { keyId: rows[0]!.key_id, box: rows[0]!.refresh_token_ct },
      { appId: stack.appId, openId, kind: 'refresh_token' },
    );
    // As if a worker rotated at Feishu and died before writing the new pair.
    const client = appClient(stack);
    await client.accessToken.refresh({ refreshToken });
    await eventually('needs_reauth', async () =>
      (await grantStatus(stack, openId)) === 'needs_reauth' ? true : undefined,
    );
    await reauthCard(stack, openId);
  });

  it('revocation deletes the tokens, ends the loop, and history and listing show it', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 5);
    const messageId = await authorize(stack, openId);
    await eventually('a refresh', () => (successfulRefreshes(stack, openId).length >= 1 ? true : undefined));
    const res = await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await waitForCardTitle(stack, messageId, '授权已撤销');
    const handle = stack.temporal.workflow.getHandle(stack.grants.workflowId(openId));
    await eventually('the workflow to end', async () =>
      (await handle.describe()).status.name === 'COMPLETED' ? true : undefined,
    );
    const refreshesAfter = successfulRefreshes(stack, openId).length;
    expect((await getToken(stack, openId)).status).toBe(410);

    const history = (await (await stack.api(`/v1/users/${openId}/history`)).json()) as {
      items: { kind: string; outcome: string }[];
    };
    expect(history.items.map((i) => `${i.kind}:${i.outcome}`)).toEqual(
      expect.arrayContaining(['revoke:revoked', 'refresh:success', 'authorization:authorized']),
    );
    const listed = (await (await stack.api('/v1/authorizations?status=revoked&limit=1')).json()) as {
      items: { open_id: string }[];
      next_cursor: string | null;
    };
    expect(listed.items).toHaveLength(1);
    expect(successfulRefreshes(stack, openId).length).toBe(refreshesAfter);
  });

  it('npm run keys:rotate re-seals every token under the new key, every token stays readable, and the run is audited', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 6);
    await authorize(stack, openId);
    const [oldKey] = stack.config.TOKEN_ENCRYPTION_KEYS;
    const ring: KeyRingEntry[] = [{ id: 'k2', key: randomBytes(32) }, oldKey!];
    const ringEnv = ring.map(({ id, key }) => `${id}:${Buffer.from(key).toString('base64')}`).join(',');
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'keys:rotate'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: stack.config.DATABASE_URL,
        FEISHU_APP_ID: stack.appId,
        FEISHU_APP_SECRET: randomBytes(16).toString('hex'),
        TOKEN_ENCRYPTION_KEYS: ringEnv,
        PAYLOAD_CODEC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
        LOG_LEVEL: 'info',
      },
    });
    const audit = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.stream === 'audit');
    expect(audit).toEqual([
      expect.objectContaining({ action: 'keys.rotate', outcome: 'ok', key_id: 'k2', open_id: null }),
    ]);
    expect(audit[0]!.rotated).toBeGreaterThanOrEqual(1);
    expect(Object.keys(audit[0]!.by as object)).toEqual(['operator']);
    expect(typeof (audit[0]!.by as { operator: unknown }).operator).toBe('string');
    for (const { key } of ring) expect(stdout).not.toContain(Buffer.from(key).toString('base64'));
    // Services run with the new ring (new key first, old key kept) before the rotation starts.
    const { rows } = await stack.db.query<{ open_id: string; key_id: string; access_token_ct: Buffer }>(
      `SELECT open_id, key_id, access_token_ct FROM grants WHERE app_id = $1 AND access_token_ct IS NOT NULL`,
      [stack.appId],
    );
    const cipher = new TokenCipher(ring);
    for (const row of rows) {
      expect(row.key_id).toBe('k2');
      const token = cipher.open(
        { keyId: row.key_id, box: row.access_token_ct },
        { appId: stack.appId, openId: row.open_id, kind: 'access_token' },
      );
      expect(token.length).toBeGreaterThan(100);
    }
    expect(rows.map((r) => r.open_id)).toContain(openId);
  });
});
