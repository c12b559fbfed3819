import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken } from '../helpers/tokens.ts';

/** Past the workflow's bound of 400 updates per run, far below Temporal's 2,000. */
const REQUESTS = 420;
const UPDATES_PER_RUN_CEILING = 500;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

/**
 * Requests for scopes a grant already has change nothing and refresh nothing, so they never woke
 * the loop that decides to continue as new: a grant DMed a few times a day reached Temporal's
 * update limit within its life, after which every update (a revocation too) was rejected.
 */
it('a grant asked hundreds of times for what it already has continues as new before its update bound, and keeps serving', async () => {
  const openId = stack.sandbox.openIdOf(stack.appId, 0);
  await authorize(stack, openId);
  const handle = stack.temporal.workflow.getHandle(stack.grants.workflowId(openId));
  const firstRun = (await handle.describe()).runId;

  for (let i = 0; i < REQUESTS; i++) {
    const answer = await stack.grants.request(openId, { scopes: [], source: 'api' });
    expect(answer).toMatchObject({ status: 'authorized' });
  }

  const secondRun = await eventually('a second run', async () => {
    const { runId } = await handle.describe();
    return runId !== firstRun ? runId : undefined;
  });
  const history = await stack.temporal.workflow.getHandle(handle.workflowId, firstRun).fetchHistory();
  const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  expect(accepted.length).toBeLessThan(UPDATES_PER_RUN_CEILING);
  expect((history.events ?? []).at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();

  expect((await getToken(stack, openId)).status).toBe(200);
  expect((await handle.describe()).runId).toBe(secondRun);
  expect(await stack.grants.request(openId, { scopes: [], source: 'api' })).toMatchObject({
    status: 'authorized',
  });
}, 180_000);
