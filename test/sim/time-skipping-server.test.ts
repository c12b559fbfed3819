import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WithStartWorkflowOperation } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FeishuAppId,
  FeishuAuthStatus,
  FeishuOpenId,
  FeishuTokenExpiresAt,
} from '../../lib/search-attributes.ts';
import { createTimeSkippingEnv } from '../helpers/time-skipping.ts';
import {
  lifetimeProbe,
  longHistory,
  prioritized,
  touch,
  type ProbeInput,
} from './fixtures/lifetime-probe.ts';

const DAY = 24 * 3600_000;
const taskQueue = 'time-skipping-probe';
const workflowsPath = fileURLToPath(new URL('./fixtures/lifetime-probe.ts', import.meta.url));

/**
 * What the lifetime simulations rely on from the Java test server, and where it differs from the
 * real server, so a surprise shows up here rather than as a puzzling simulation failure.
 */
describe('the Java time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath,
      activities: { echo: (text: string) => Promise.resolve(text) },
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const probeStart = (workflowId: string, input: ProbeInput) =>
    new WithStartWorkflowOperation(lifetimeProbe, {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [
        { key: FeishuOpenId, value: 'ou_probe' },
        { key: FeishuAppId, value: 'cli_probe' },
        { key: FeishuAuthStatus, value: 'pending' },
      ],
    });

  it('lives through 60 × 6 days in seconds, reached by update-with-start, across continue-as-new', async () => {
    const workflowId = `probe-${randomUUID()}`;
    const input = { sleeps: 60, sleepsPerRun: 25 };
    const wallStart = Date.now();
    const serverStart = await env.currentTimeMs();

    const start = probeStart(workflowId, input);
    const first = await env.client.workflow.executeUpdateWithStart(touch, { startWorkflowOperation: start });
    const again = await env.client.workflow.executeUpdateWithStart(touch, {
      startWorkflowOperation: probeStart(workflowId, input),
    });
    expect(again).toEqual({ touches: 2, runId: first.runId });

    const handle = await start.workflowHandle();
    expect(await handle.result()).toEqual({ sleeps: 60, runs: 3, continueAsNewSuggested: false });
    expect((await env.currentTimeMs()) - serverStart).toBeGreaterThanOrEqual(360 * DAY);
    expect(Date.now() - wallStart).toBeLessThan(20_000);
    expect((await handle.describe()).runId).not.toBe(first.runId);
  });

  it('takes the grant search attributes at start and by upsert once registered, but drops the start ones on continue-as-new', async () => {
    const workflowId = `probe-${randomUUID()}`;
    const start = probeStart(workflowId, { sleeps: 2, sleepsPerRun: 1 });
    const { runId } = await env.client.workflow.executeUpdateWithStart(touch, {
      startWorkflowOperation: start,
    });
    const handle = await start.workflowHandle();
    await handle.result();

    const firstRun = (await env.client.workflow.getHandle(workflowId, runId).describe())
      .typedSearchAttributes;
    expect(firstRun.get(FeishuOpenId)).toBe('ou_probe');
    expect(firstRun.get(FeishuAppId)).toBe('cli_probe');
    expect(firstRun.get(FeishuAuthStatus)).toBe('authorized');
    expect(firstRun.get(FeishuTokenExpiresAt)).toBeInstanceOf(Date);

    // The real server copies them into the new run; this one keeps only what the new run upserts.
    const lastRun = (await handle.describe()).typedSearchAttributes;
    expect(lastRun.get(FeishuAuthStatus)).toBe('authorized');
    expect(lastRun.get(FeishuOpenId)).toBeUndefined();
    expect(lastRun.get(FeishuAppId)).toBeUndefined();
  });

  it('never suggests continue-as-new, even past the real server’s 4,096 events', async () => {
    const handle = await env.client.workflow.start(longHistory, {
      workflowId: `history-${randomUUID()}`,
      taskQueue,
      args: [1_000],
    });
    expect(await handle.result()).toEqual({});
    expect((await handle.describe()).historyLength).toBeGreaterThan(4_096);
  });

  it('runs an activity scheduled with a priority and keeps the priority in history', async () => {
    const handle = await env.client.workflow.start(prioritized, {
      workflowId: `priority-${randomUUID()}`,
      taskQueue,
      args: ['hello'],
    });
    expect(await handle.result()).toBe('hello');
    const scheduled = (await handle.fetchHistory()).events?.find(
      (e) => e.activityTaskScheduledEventAttributes,
    );
    expect(scheduled?.activityTaskScheduledEventAttributes?.priority?.priorityKey).toBe(1);
  });
});
