import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { registry } from '../../lib/metrics.ts';
import { newSigningSecret } from '../../lib/webhooks/signing.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { ADMIN_KEY, STATUS_KEY, startStack, type Stack } from '../helpers/stack.ts';
import { getToken } from '../helpers/tokens.ts';
import {
  startWebhookReceiver,
  type ReceivedWebhook,
  type WebhookReceiver,
} from '../../bench/webhook-receiver.ts';

interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  open_id: string;
  status: string;
  attempts: number;
  subscriber_name: string;
}

async function deliveries(stack: Stack, query: string): Promise<Delivery[]> {
  const res = await stack.api(`/v1/webhooks/deliveries?${query}`, { key: STATUS_KEY });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: Delivery[] }).items;
}

const revoke = (stack: Stack, openId: string) =>
  stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });

const typesFor = (receiver: WebhookReceiver, openId: string) => receiver.eventsFor(openId).map((e) => e.type);

// Fast back-off, so a subscriber's outage of a few seconds sees several failed tries.
const FAST_RETRY = { WEBHOOK_RETRY_INITIAL_SECONDS: '0.2', WEBHOOK_RETRY_MAX_INTERVAL_SECONDS: '1' };

describe('signed webhooks', () => {
  const secret = newSigningSecret();
  let receiver: WebhookReceiver;
  let stack: Stack;
  beforeAll(async () => {
    receiver = await startWebhookReceiver(() => secret);
    stack = await startStack({
      webhooks: true,
      env: { WEBHOOK_URLS: `billing=${receiver.url} ${secret}`, ...FAST_RETRY },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('tells a subscriber of an authorization and a revocation, signed, with the grant and never its token', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId, ['calendar:calendar:readonly']);
    const token = (await getToken(stack, openId)).body.access_token!;
    expect((await revoke(stack, openId)).status).toBe(200);
    await eventually('both events', () => (receiver.eventsFor(openId).length >= 2 ? true : undefined));

    const [authorized, revoked] = receiver.received.filter((r) => r.body.open_id === openId);
    expect(authorized!.body).toMatchObject({
      type: 'grant.authorized',
      app_id: stack.appId,
      open_id: openId,
      status: 'authorized',
      reason: null,
    });
    expect(authorized!.body.scopes).toContain('calendar:calendar:readonly');
    expect(authorized!.headers['webhook-id']).toBe(authorized!.body.id);
    expect(Date.parse(authorized!.body.occurred_at)).not.toBeNaN();
    expect(revoked!.body).toMatchObject({
      type: 'grant.revoked',
      status: 'revoked',
      reason: 'revoked_by_api',
    });
    for (const r of receiver.received) expect(r.raw).not.toContain(token);

    const [delivery] = await deliveries(stack, `event_id=${authorized!.body.id}`);
    expect(delivery).toMatchObject({
      status: 'delivered',
      attempts: 1,
      subscriber_name: 'billing',
      open_id: openId,
    });
    expect(await deliveries(stack, `event_id=${authorized!.body.id}&status=dead`)).toEqual([]);
    const history = (await (await stack.api(`/v1/users/${openId}/history`)).json()) as {
      items: { kind: string; outcome: string; detail: string }[];
    };
    const webhookEntries = history.items.filter((i) => i.kind === 'webhook');
    expect(
      webhookEntries.some((i) => i.outcome === 'delivered' && i.detail.includes('grant.revoked to billing')),
    ).toBe(true);
  });

  it('a subscriber down for a while gets every event afterwards, once each, in order per grant', async () => {
    const [first, second] = [1, 2].map((i) => stack.sandbox.openIdOf(stack.appId, i)) as [string, string];
    receiver.setDown(true);
    // The grants' own work goes on while their subscriber is down.
    await authorize(stack, first);
    await authorize(stack, second);
    expect((await revoke(stack, first)).status).toBe(200);
    await eventually('failed tries while the subscriber is down', async () => {
      const pending = await deliveries(stack, 'status=pending');
      const tried = pending.filter((d) => [first, second].includes(d.open_id) && d.attempts >= 2);
      return tried.length >= 2 ? true : undefined;
    });
    expect(receiver.eventsFor(first)).toEqual([]);
    receiver.setDown(false);

    await eventually(
      'every event after the outage',
      () =>
        typesFor(receiver, first).length >= 2 && typesFor(receiver, second).length >= 1 ? true : undefined,
      60_000,
    );
    expect(typesFor(receiver, first)).toEqual(['grant.authorized', 'grant.revoked']);
    expect(typesFor(receiver, second)).toEqual(['grant.authorized']);
    const ids = receiver.received.map((r) => r.body.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The receiver's 204 is recorded just after it answered.
    await eventually('the deliveries recorded as delivered', async () => {
      const ours = (await deliveries(stack, 'limit=500')).filter((d) => [first, second].includes(d.open_id));
      return ours.length === 3 && ours.every((d) => d.status === 'delivered') ? true : undefined;
    });
    expect(receiver.rejected).toEqual([]);
  });

  it("the verifier rejects a forged body, another secret's signature and a stale timestamp", () => {
    const genuine: ReceivedWebhook = receiver.received[0]!;
    const verify =
      (raw: string, headers: Record<string, string>, key = secret) =>
      () =>
        new Webhook(key).verify(raw, headers);
    expect(verify(genuine.raw, genuine.headers)).not.toThrow();
    const forged = genuine.raw.replace('"authorized"', '"revoked"');
    expect(forged).not.toBe(genuine.raw);
    expect(verify(forged, genuine.headers)).toThrow(/No matching signature/);
    expect(verify(genuine.raw, genuine.headers, newSigningSecret())).toThrow(/No matching signature/);
    // Re-signed correctly, but ten minutes old: a replayed request.
    const stale = new Date(Date.now() - 600_000);
    const staleHeaders = {
      'webhook-id': genuine.headers['webhook-id']!,
      'webhook-timestamp': String(Math.floor(stale.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(genuine.headers['webhook-id']!, stale, genuine.raw),
    };
    expect(verify(genuine.raw, staleHeaders)).toThrow(/too old/);
  });

  it('an operator adds a subscriber through the API and rotates its secret with both valid meanwhile', async () => {
    let current = '';
    const second = await startWebhookReceiver(() => current);
    try {
      const create = (key: string) =>
        stack.api('/v1/webhooks/subscribers', {
          key,
          method: 'POST',
          body: JSON.stringify({
            name: 'crm',
            url: second.url,
            event_types: ['grant.authorized', 'grant.revoked'],
          }),
        });
      expect((await create(STATUS_KEY)).status).toBe(403);
      // The fuzz run's 500: an empty URL reached the credentials check, which parsed it.
      for (const url of ['', 'not a url', 'https://user:pw@example.com/hook']) {
        const refused = await stack.api('/v1/webhooks/subscribers', {
          key: ADMIN_KEY,
          method: 'POST',
          body: JSON.stringify({ name: 'bad-url', url }),
        });
        expect(refused.status, url).toBe(400);
      }
      const created = await create(ADMIN_KEY);
      expect(created.status).toBe(201);
      const { subscriber, secret: first } = (await created.json()) as {
        subscriber: { id: string };
        secret: string;
      };
      expect((await create(ADMIN_KEY)).status).toBe(409);
      current = first;

      const openId = stack.sandbox.openIdOf(stack.appId, 3);
      await authorize(stack, openId);
      await eventually('the first event', () => (second.eventsFor(openId).length === 1 ? true : undefined));

      const rotated = await stack.api(`/v1/webhooks/subscribers/${subscriber.id}/rotate-secret`, {
        key: ADMIN_KEY,
        method: 'POST',
        body: JSON.stringify({ previous_valid_for_seconds: 3600 }),
      });
      expect(rotated.status).toBe(200);
      current = ((await rotated.json()) as { secret: string }).secret;
      expect((await revoke(stack, openId)).status).toBe(200);
      await eventually('the event after rotation', () =>
        second.eventsFor(openId).length === 2 ? true : undefined,
      );
      const after = second.received.at(-1)!;
      expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(() => new Webhook(first).verify(after.raw, after.headers)).not.toThrow();
      expect(second.rejected).toEqual([]);

      const list = await stack.api('/v1/webhooks/subscribers', { key: ADMIN_KEY });
      const listed = JSON.stringify(await list.json());
      expect(listed).toContain('crm');
      expect(listed).not.toContain(first.slice(6));
      expect(
        (await stack.api(`/v1/webhooks/subscribers/${subscriber.id}`, { key: ADMIN_KEY, method: 'DELETE' }))
          .status,
      ).toBe(200);
    } finally {
      await second.close();
    }
  });
});

describe('dead-lettered webhooks', () => {
  const secret = newSigningSecret();
  let receiver: WebhookReceiver;
  let stack: Stack;
  beforeAll(async () => {
    receiver = await startWebhookReceiver(() => secret);
    stack = await startStack({
      webhooks: true,
      env: {
        WEBHOOK_URLS: `audit=${receiver.url} ${secret}`,
        WEBHOOK_RETRY_WINDOW_SECONDS: '3',
        ...FAST_RETRY,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('are given up after their window, counted, and sent again by a replay', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    receiver.setDown(true);
    await authorize(stack, openId);
    const [dead] = await eventually('the dead-lettered delivery', async () => {
      const found = (await deliveries(stack, 'status=dead')).filter((d) => d.open_id === openId);
      return found.length > 0 ? found : undefined;
    });
    expect(dead!.attempts).toBeGreaterThanOrEqual(2);
    const metric = await registry.getSingleMetricAsString('webhook_deliveries_dead_lettered_total');
    expect(metric).toMatch(/^webhook_deliveries_dead_lettered_total [1-9]/m);
    expect(receiver.eventsFor(openId)).toEqual([]);

    receiver.setDown(false);
    const replay = (key: string) =>
      stack.api(`/v1/webhooks/events/${dead!.event_id}/replay`, { key, method: 'POST' });
    expect((await replay(STATUS_KEY)).status).toBe(403);
    const replayed = await replay(ADMIN_KEY);
    expect(replayed.status).toBe(200);
    await eventually('the replayed event', () => (receiver.eventsFor(openId).length > 0 ? true : undefined));
    expect(typesFor(receiver, openId)).toEqual(['grant.authorized']);
    expect((await deliveries(stack, `event_id=${dead!.event_id}`))[0]!.status).toBe('delivered');
    expect((await replay(ADMIN_KEY)).status).toBe(409);
    expect(
      (
        await stack.api(`/v1/webhooks/events/00000000-0000-4000-8000-000000000000/replay`, {
          key: ADMIN_KEY,
          method: 'POST',
        })
      ).status,
    ).toBe(404);
  });
});
