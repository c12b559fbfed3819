import {
  ApplicationFailure,
  Client,
  Connection,
  WithStartWorkflowOperation,
  WorkflowFailedError,
} from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantStartOptions } from '../../api/grants.ts';
import { UNENCRYPTED_FAILURE_TYPE } from '../../lib/payload-converter.cjs';
import { cancelAttempt, requestAuthorization, revoke } from '../../workflows/messages.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize, pendingCard } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const CALENDAR = 'calendar:calendar:readonly';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/**
 * Someone who reaches the Temporal frontend but lacks PAYLOAD_CODEC_KEYS: a client without the
 * codec, sending plain JSON.
 */
describe('a client without the codec key cannot drive a grant', () => {
  let stack: Stack;
  let plain: Client;
  beforeAll(async () => {
    stack = await startStack();
    const connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS });
    plain = new Client({ connection, namespace: stack.config.TEMPORAL_NAMESPACE });
  });
  afterAll(async () => {
    await plain?.connection.close();
    await stack?.close();
  });

  const status = async (openId: string) =>
    ((await (await stack.api(`/v1/authorizations/${openId}`)).json()) as { status: string }).status;

  it('a plain revoke update is rejected and the grant stays authorized', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId, [CALENDAR]);
    const grant = plain.workflow.getHandle(stack.grants.workflowId(openId));

    await expect(grant.executeUpdate(revoke, { args: [{ source: 'api' }] })).rejects.toThrow();

    expect(await status(openId)).toBe('authorized');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(200);
    const events = (await grant.fetchHistory()).events ?? [];
    // Rejected, not accepted and then failed: the update never entered the history.
    const accepted = events.map(
      (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name,
    );
    expect(accepted).not.toContain('revoke');
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toHaveLength(0);
  });

  it('a plain signal is dropped without failing the workflow task', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 1);
    await pendingCard(stack, openId, [CALENDAR]);
    const view = (await (await stack.api(`/v1/authorizations/${openId}`)).json()) as {
      attempt: { id: string };
    };
    const grant = plain.workflow.getHandle(stack.grants.workflowId(openId));

    await grant.signal(cancelAttempt, { attemptId: view.attempt.id });

    const events = await eventually('a workflow task after the signal', async () => {
      const all = (await grant.fetchHistory()).events ?? [];
      const signalled = all.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
      const after = all.slice(signalled + 1);
      return signalled >= 0 &&
        after.some((e) => e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes)
        ? all
        : undefined;
    });
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toHaveLength(0);
    expect((await grant.describe()).status.name).toBe('RUNNING');
    expect(await status(openId)).toBe('pending');
  });

  it('a plain update-with-start fails the start before any card is sent', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 2);
    const startWorkflowOperation = new WithStartWorkflowOperation('grantWorkflow', {
      ...grantStartOptions(stack.appId, openId, stack.config.TEMPORAL_TASK_QUEUE, 'pending'),
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ appId: stack.appId, openId }],
    });

    await expect(
      plain.workflow.executeUpdateWithStart(requestAuthorization, {
        args: [{ scopes: ['mail:mail'], source: 'api' }],
        startWorkflowOperation,
      }),
    ).rejects.toThrow();

    // Read with the codec: the failure's message is encrypted like every payload.
    const failure = await rejection(
      stack.temporal.workflow.getHandle(stack.grants.workflowId(openId)).result(),
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe(UNENCRYPTED_FAILURE_TYPE);
    expect(cause?.message).toMatch(/not encrypted with PAYLOAD_CODEC_KEYS/);
    // The run is closed, so nothing can send a card later.
    expect(stack.sandbox.state.messages({ openId })).toHaveLength(0);
    const events =
      (await stack.temporal.workflow.getHandle(stack.grants.workflowId(openId)).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
  });

  it('a plain start with a memo fails the workflow instead of its workflow task', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 3);
    const grant = await plain.workflow.start('grantWorkflow', {
      ...grantStartOptions(stack.appId, openId, stack.config.TEMPORAL_TASK_QUEUE, 'pending'),
      args: [{ appId: stack.appId, openId }],
      // The SDK converts a memo before any interceptor runs.
      memo: { note: 'plain' },
    });

    const failure = await rejection(stack.temporal.workflow.getHandle(grant.workflowId).result());
    expect((failure as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
    const events = (await grant.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toHaveLength(0);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
  });
});
