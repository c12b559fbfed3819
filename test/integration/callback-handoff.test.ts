import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRequest } from '../../sandbox/callbacks/http.ts';
import type { App } from '../../sandbox/config.ts';
import type { CallbackWork } from '../../workflows/callback.ts';
import { callbackWorkflowId } from '../../workflows/task-queues.ts';
import { eventually } from '../helpers/cards.ts';
import { startCuttableProxy, type CuttableProxy } from '../helpers/cuttable-proxy.ts';
import { pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

/** What buildRequest needs to encrypt and sign a body as Feishu does for the stack's HTTP callbacks. */
const SIGNING_APP = { callback: { encryptKey: 'test-encrypt-key' } } as App;

/** A DM "授权" exactly as Feishu POSTs it; the same event id on every (re-)delivery. */
function dmEvent(openId: string, eventId: string) {
  return buildRequest(SIGNING_APP, {
    schema: '2.0',
    header: {
      event_id: eventId,
      token: 'test-verification-token',
      create_time: String(Date.now()),
      event_type: 'im.message.receive_v1',
      tenant_key: 'tenant',
      app_id: 'app',
    },
    event: {
      sender: { sender_id: { open_id: openId } },
      message: { chat_type: 'p2p', message_type: 'text', content: JSON.stringify({ text: '授权' }) },
    },
  });
}

const cards = (stack: Stack, openId: string) =>
  stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive');

/**
 * A callback's work is handed to Temporal before Feishu is answered: when that fails Feishu hears
 * so (and re-delivers an event), and once it succeeded the work happens exactly once, whatever
 * becomes of the API and however often the event arrives.
 */
describe('Feishu callbacks are handed to Temporal before they are answered', () => {
  let stack: Stack;
  let temporal: CuttableProxy;
  beforeAll(async () => {
    temporal = await startCuttableProxy(inject('temporalAddress'));
    stack = await startStack({
      callbackMode: 'http',
      infra: { databaseUrl: inject('databaseUrl'), temporalAddress: temporal.address },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await temporal?.close();
  });

  const deliver = (openId: string, eventId: string) =>
    fetch(`${stack.apiUrl}/feishu/events`, { method: 'POST', ...dmEvent(openId, eventId) });

  /** Waits for the event's workflow to finish its work. */
  const handled = (eventId: string) =>
    stack.temporal.workflow.getHandle(callbackWorkflowId(stack.appId, eventId)).result();

  it('a DM that cannot reach Temporal is answered 503; its re-deliveries make one card', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const eventId = `ev_${randomBytes(8).toString('hex')}`;
    temporal.cut();
    try {
      const refused = await deliver(openId, eventId);
      expect(refused.status).toBe(503);
    } finally {
      temporal.restore();
    }
    expect(cards(stack, openId)).toHaveLength(0);
    // Feishu re-delivers the event it got no 200 for, possibly more than once.
    const again = await eventually('a re-delivery Temporal takes', async () => {
      const res = await deliver(openId, eventId);
      return res.status === 200 ? res : undefined;
    });
    expect(again.status).toBe(200);
    expect((await deliver(openId, eventId)).status).toBe(200);
    await handled(eventId);
    await eventually('the card', () => (cards(stack, openId).length > 0 ? true : undefined));
    expect(cards(stack, openId)).toHaveLength(1);
  }, 120_000);

  it('a DM acknowledged while no worker runs is acted on once a worker is back, exactly once', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    const eventId = `ev_${randomBytes(8).toString('hex')}`;
    await stack.stopWorker();
    try {
      // Nothing but Temporal's word is needed for the answer: the API keeps nothing to do afterwards.
      expect((await deliver(openId, eventId)).status).toBe(200);
      expect((await deliver(openId, eventId)).status).toBe(200);
      expect(cards(stack, openId)).toHaveLength(0);
    } finally {
      await stack.startWorker();
    }
    await handled(eventId);
    await eventually('the card', () => (cards(stack, openId).length > 0 ? true : undefined));
    expect(cards(stack, openId)).toHaveLength(1);
  }, 120_000);

  it('a DM whose work is done again after its card was cancelled opens no card; a later DM does', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const work: CallbackWork = { action: 'request', openId, scopes: [], locale: 'zh_cn' };
    /** The work as the API hands it over: a new event id, received at `receivedAt`. */
    const handOver = async (receivedAt: number) => {
      const eventId = `ev_${randomBytes(8).toString('hex')}`;
      await stack.grants.handOff(
        eventId,
        { work, notBefore: receivedAt, receivedAt },
        AbortSignal.timeout(10_000),
      );
      await handled(eventId);
    };
    const receivedAt = Date.now();
    await handOver(receivedAt);
    const [card] = cards(stack, openId);
    const status = async () =>
      (
        (await (await stack.api(`/v1/authorizations/${openId}`)).json()) as {
          attempt: { id: string; status: string };
        }
      ).attempt;
    await stack.grants.cancel(openId, (await status()).id);
    await waitForCardTitle(stack, card!.messageId, '授权请求已取消');

    // The activity's retry after a killed worker lost its first answer: the same DM, done again.
    await handOver(receivedAt);
    expect(cards(stack, openId)).toHaveLength(1);
    expect((await status()).status).toBe('cancelled');

    await handOver(Date.now());
    await eventually("the later DM's card", () => (cards(stack, openId).length === 2 ? true : undefined));
  }, 120_000);

  it('a Cancel that cannot reach Temporal says so on the toast and changes nothing; pressed again, it cancels', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    const { messageId } = await pendingCard(stack, openId);
    temporal.cut();
    try {
      const click = await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      // Answered with an error toast, or (on a machine too slow for Feishu's 3 s) not at all.
      expect(click.ok ? click.toast?.type : 'no answer').toMatch(/^(error|no answer)$/);
    } finally {
      temporal.restore();
    }
    const status = async () =>
      ((await (await stack.api(`/v1/authorizations/${openId}`)).json()) as { attempt: { status: string } })
        .attempt.status;
    expect(await status()).toBe('pending');
    const pressed = await eventually('a Cancel that goes through', async () => {
      const click = await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      return click.toast?.type === 'info' ? click : undefined;
    });
    expect(pressed.ok).toBe(true);
    // The worker's pollers, reset by the cut, come back on the SDK's retry backoff (seconds, more
    // under a loaded full suite): the cancel lands when they do.
    await waitForCardTitle(stack, messageId, '授权请求已取消', 90_000);
    expect(await status()).toBe('cancelled');
    // The card changed only after the answer: nothing the client had to undo.
    expect(stack.sandbox.state.message(messageId)!.versions.filter((v) => v.revertedAt)).toHaveLength(0);
  }, 120_000);
});
