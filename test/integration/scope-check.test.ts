import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, onlyCardFor } from '../helpers/cards.ts';
import { requestAuthorization } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const ENABLED = ['offline_access', 'calendar:calendar:readonly', 'docx:document:readonly'];

function collectLogs() {
  const lines: string[] = [];
  return {
    lines,
    sink: { write: (line: string) => void lines.push(line) },
    matching: (text: string) => lines.filter((l) => l.includes(text)),
  };
}

describe('scope pre-check: the app may read its own scopes', () => {
  let stack: Stack;
  const logs = collectLogs();
  beforeAll(async () => {
    stack = await startStack({
      app: { scopes: ENABLED, tenantScopes: ['admin:app.info:readonly'] },
      env: { APP_SCOPES_CACHE_SECONDS: '1', LOG_LEVEL: 'warn' },
      logSink: logs.sink,
    });
  });
  afterAll(() => stack?.close());

  it('a request for scopes the app has not enabled is 422 naming them, and no card is sent', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const res = await requestAuthorization(stack, {
      open_id: openId,
      scopes: ['calendar:calendar:readonly', 'mail:mail', 'drive:drive'],
    });
    expect(res.status).toBe(422);
    const error = (res.body as unknown as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('scope_not_enabled');
    expect(error.message).toContain('drive:drive, mail:mail');
    expect(error.message).not.toContain('calendar:calendar:readonly');
    expect(error.message).toContain('developer console');
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(0);
    const { rows } = await stack.db.query('SELECT 1 FROM user_auth_sessions WHERE open_id = $1', [openId]);
    expect(rows).toHaveLength(0);
  });

  it('enabled scopes go through; a scope enabled later goes through once the cached list expires', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    expect((await requestAuthorization(stack, { open_id: openId, scopes: ENABLED })).status).toBe(202);
    await onlyCardFor(stack.sandbox, openId);

    const other = stack.sandbox.openIdOf(stack.appId, 2);
    expect((await requestAuthorization(stack, { open_id: other, scopes: ['mail:mail'] })).status).toBe(422);
    stack.sandbox.updateApp(stack.appId, { scopes: [...ENABLED, 'mail:mail'] });
    await eventually('the newly enabled scope to be accepted', async () => {
      const res = await requestAuthorization(stack, { open_id: other, scopes: ['mail:mail'] });
      return res.status === 202 ? true : undefined;
    });
  });

  it('a DM asking for a disabled scope sends no card and says why in the log', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    await stack.sandbox.sendUserMessage(stack.appId, openId, '/auth contact:contact');
    await eventually('the refusal in the log', () =>
      logs.matching('DM request refused').some((l) => l.includes('contact:contact')) ? true : undefined,
    );
    expect(stack.sandbox.state.messages({ openId }).filter((m) => m.sender === 'bot')).toHaveLength(0);

    await stack.sandbox.sendUserMessage(stack.appId, openId, '/auth calendar:calendar:readonly');
    await onlyCardFor(stack.sandbox, openId);
  });
});

describe('scope pre-check: the app may not read its own scopes', () => {
  let stack: Stack;
  const logs = collectLogs();
  beforeAll(async () => {
    stack = await startStack({
      app: { scopes: ENABLED },
      env: { APP_SCOPES_CACHE_SECONDS: '0', LOG_LEVEL: 'warn' },
      logSink: logs.sink,
    });
  });
  afterAll(() => stack?.close());

  it('nothing is checked, and the log says so once', async () => {
    for (const [i, scope] of ['mail:mail', 'drive:drive'].entries()) {
      const openId = stack.sandbox.openIdOf(stack.appId, i);
      expect((await requestAuthorization(stack, { open_id: openId, scopes: [scope] })).status).toBe(202);
      await onlyCardFor(stack.sandbox, openId);
    }
    expect(logs.matching('scope pre-check off')).toHaveLength(1);
    expect(logs.matching('scope pre-check off')[0]).toContain('admin:app.info:readonly');
    // Asked each time (a TTL of 0), refused each time with Feishu's missing-permission code.
    const refusals = stack.sandbox.state.counters()['GET /open-apis/application/v6/applications/:app_id'];
    expect(refusals?.['99991672']).toBeGreaterThanOrEqual(2);
  });
});
