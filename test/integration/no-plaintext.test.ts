import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeUrlOf, cardOf, eventually, onlyCardFor } from '../helpers/cards.ts';
import { openRedirect, pendingCard, requestAuthorization, waitForCardTitle } from '../helpers/flows.ts';
import { ADMIN_KEY, startStack, type Stack } from '../helpers/stack.ts';
import { databaseText, findPlaintext, historyText } from '../helpers/plaintext.ts';
import { getToken } from '../helpers/tokens.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../bench/webhook-receiver.ts';
import { newSigningSecret } from '../../lib/webhooks/signing.ts';
import { webhookDeliveryWorkflowId } from '../../workflows/task-queues.ts';

describe('no plaintext secret anywhere', () => {
  let stack: Stack;
  const logLines: string[] = [];
  // Signing secrets: one only in the environment, one sealed in the database (an API subscriber).
  const envSecret = newSigningSecret();
  let apiSecret = '';
  let envReceiver: WebhookReceiver;
  let apiReceiver: WebhookReceiver;
  beforeAll(async () => {
    envReceiver = await startWebhookReceiver(() => envSecret);
    apiReceiver = await startWebhookReceiver(() => apiSecret);
    stack = await startStack({
      webhooks: true,
      env: { LOG_LEVEL: 'trace', WEBHOOK_URLS: `billing=${envReceiver.url} ${envSecret}` },
      logSink: { write: (line: string) => void logLines.push(line) },
      // Short access tokens, so a refresh (and a second token pair) happens inside the test.
      sandbox: { lifetimes: { accessTokenSeconds: 2, refreshTokenSeconds: 600, deviceIntervalSeconds: 1 } },
      settings: { accessTokenMarginSeconds: 1.5 },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await Promise.all([envReceiver?.close(), apiReceiver?.close()]);
  });

  it('tokens, codes, device codes, state, signing secrets and the app secret stay out of logs, the database and workflow history', async () => {
    // A device-flow grant too: its device code is a bearer secret until it is spent.
    const deviceUser = stack.sandbox.openIdOf(stack.appId, 1);
    await requestAuthorization(stack, { open_id: deviceUser, flow: 'device' });
    const [deviceCard] = await onlyCardFor(stack.sandbox, deviceUser);
    const userCode = new URL(authorizeUrlOf(cardOf(stack.sandbox, deviceCard!.messageId))).searchParams.get(
      'user_code',
    )!;
    stack.sandbox.approveDevice(userCode, deviceUser);
    await waitForCardTitle(stack, deviceCard!.messageId, '已授权');
    const deviceCode = stack.sandbox.state.deviceRequests().find((r) => r.userCode === userCode)!.deviceCode;

    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const created = await stack.api('/v1/webhooks/subscribers', {
      key: ADMIN_KEY,
      method: 'POST',
      body: JSON.stringify({ name: 'crm', url: apiReceiver.url }),
    });
    const { subscriber, secret } = (await created.json()) as { subscriber: { id: string }; secret: string };
    apiSecret = secret;
    const { messageId, authorizeUrl } = await pendingCard(stack, openId);
    const redirect = new URL(stack.sandbox.approveAuthorization(authorizeUrl, openId));
    expect((await openRedirect(redirect.toString())).outcome).toBe('authorized');
    await waitForCardTitle(stack, messageId, '已授权');
    // Serve a token, wait out the margin, serve the refreshed one: both pairs were handled.
    expect((await getToken(stack, openId)).status).toBe(200);
    await eventually('the access token to be inside its margin', async () => {
      const { rows } = await stack.db.query<{ access_expires_at: Date }>(
        'SELECT access_expires_at FROM grants WHERE app_id = $1 AND open_id = $2',
        [stack.appId, openId],
      );
      return rows[0]!.access_expires_at.getTime() - Date.now() < 1500 ? true : undefined;
    });
    expect((await getToken(stack, openId)).status).toBe(200);
    // The proxy puts the token into a request to Feishu, and nowhere else.
    const proxied = await stack.api(`/v1/users/${openId}/proxy/open-apis/authen/v1/user_info`);
    expect(proxied.status).toBe(200);

    const grant = stack.sandbox.state.grants().find((g) => g.openId === openId)!;
    const deviceGrant = stack.sandbox.state.grants().find((g) => g.openId === deviceUser)!;
    const secrets = [
      ...[grant, deviceGrant].flatMap((g) => g.accessTokens.map((t) => t.token)),
      ...[grant, deviceGrant].flatMap((g) => g.refreshTokens.map((t) => t.token)),
      deviceCode,
      redirect.searchParams.get('code')!,
      redirect.searchParams.get('state')!,
      stack.config.FEISHU_APP_SECRET!,
      envSecret,
      apiSecret,
    ];
    // Both subscribers heard of the authorization, signed with their secrets.
    await eventually('the webhooks', () =>
      envReceiver.eventsFor(openId).length > 0 && apiReceiver.eventsFor(openId).length > 0 ? true : undefined,
    );
    expect(grant.accessTokens.length).toBeGreaterThanOrEqual(2);

    const logs = logLines.join('');
    expect(logs.length).toBeGreaterThan(0);

    const database = await databaseText(stack.db);
    expect(database).toContain(openId);

    const connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS });
    const raw = new Client({ connection, namespace: stack.config.TEMPORAL_NAMESPACE });
    const history = await raw.workflow.getHandle(stack.grants.workflowId(openId)).fetchHistory();
    const deviceHistory = await raw.workflow.getHandle(stack.grants.workflowId(deviceUser)).fetchHistory();
    const deliveryHistories = await Promise.all(
      [`env:${stack.appId}:billing`, subscriber.id].map((id) =>
        raw.workflow.getHandle(webhookDeliveryWorkflowId(id, stack.appId, openId)).fetchHistory(),
      ),
    );
    await connection.close();
    expect(history.events?.length).toBeGreaterThan(5);

    const found = findPlaintext(secrets, {
      logs,
      database,
      history: historyText(history),
      'device grant history': historyText(deviceHistory),
      ...Object.fromEntries(deliveryHistories.map((h, i) => [`webhook history ${i}`, historyText(h)])),
    });
    expect(found.map((f) => f.where)).toEqual([]);
    // The scanner finds what it is given to find.
    expect(
      findPlaintext(secrets, { planted: `x${Buffer.from(secrets[0]!).toString('base64')}x` }),
    ).toHaveLength(1);
  });
});
