import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureConverterPath } from '../../lib/data-converter.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize, openRedirect, pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CALENDAR = 'calendar:calendar:readonly';
const CONTACT = 'contact:user.base:readonly';

describe('a deploy moves a live grant on to the current code', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    await stack.stopWorker();
    await stack.startWorker(
      await bundleWorkflowCode({
        workflowsPath: path.join(here, '..', 'fixtures', 'deployed-0f8d4b2-workflow.ts'),
        failureConverterPath,
        logger: undefined,
      }),
    );
  });
  afterAll(() => stack?.close());

  it('a grant authorized under 0f8d4b2 continues as new at its first task after the upgrade and keeps working', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    const firstCard = await authorize(stack, openId, [CALENDAR]);
    const grant = stack.temporal.workflow.getHandle(stack.grants.workflowId(openId));
    const { runId: deployedRun } = await grant.describe();

    await stack.stopWorker();
    await stack.startWorker();
    // Handled by the run begun under 0f8d4b2, which then hands the grant to the current code.
    const { messageId, authorizeUrl } = await pendingCard(stack, openId, [CONTACT]);
    await eventually('the run to continue as new', async () =>
      (await grant.describe()).runId !== deployedRun ? true : undefined,
    );
    const oldHistory = await stack.temporal.workflow.getHandle(grant.workflowId, deployedRun).fetchHistory();
    const events = oldHistory.events ?? [];
    expect(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // The patch marker (its id is in the encrypted details) is what moved the run on.
    expect(events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toBe(true);

    const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
    expect(page.outcome).toBe('authorized');
    await waitForCardTitle(stack, messageId, '已授权');
    await waitForCardTitle(stack, firstCard, '授权请求已被替代');
    const token = await stack.api(`/v1/users/${openId}/token`);
    expect(token.status).toBe(200);
    expect(((await token.json()) as { scope: string }).scope.split(' ')).toEqual(
      expect.arrayContaining([CALENDAR, CONTACT]),
    );

    expect((await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' })).status).toBe(200);
    await waitForCardTitle(stack, messageId, '授权已撤销');
    expect((await stack.api(`/v1/users/${openId}/token`)).status).toBe(410);
  });
});
