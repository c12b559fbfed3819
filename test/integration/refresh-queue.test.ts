import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { failureConverterPath, grantDataConverter } from '../../lib/data-converter.ts';
import type { FeishuGateway } from '../../lib/feishu/gateway.ts';
import { refreshTaskQueue } from '../../workflows/task-queues.ts';
import { createRefreshWorker } from '../../workers/worker.ts';
import { seedGrant, startRefreshEnv, storedGrant, type RefreshEnv } from './support/refresh-env.ts';
import { cancelRefresh, refreshBehindBacklog, refreshOnce } from './support/refresh-workflows.ts';

const payloadCodecKeys = [{ id: 'c1', key: new Uint8Array(randomBytes(32)) }];
const dataConverter = grantDataConverter(payloadCodecKeys);

/** Resolves when the gateway sends its next refresh to Feishu. */
function nextRefreshSent(feishu: FeishuGateway): Promise<void> {
  const refresh = feishu.refresh.bind(feishu);
  return new Promise((resolve) => {
    feishu.refresh = (...args) => {
      resolve();
      return refresh(...args);
    };
  });
}

describe('the refresh queue on a real Temporal server', () => {
  let env: RefreshEnv;
  let connection: NativeConnection;
  let client: Client;
  let bundle: WorkflowBundleWithSourceMap;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: { logging: { forward: {}, filter: 'WARN' } },
    });
    env = await startRefreshEnv();
    connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    client = new Client({
      connection: await Connection.connect({ address: inject('temporalAddress') }),
      dataConverter,
    });
    bundle = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./support/refresh-workflows.ts', import.meta.url)),
      failureConverterPath,
      logger: undefined,
    });
  });
  afterEach(() => env.sandbox.faults.reset());
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await client?.connection.close();
    await connection?.close();
    await env?.close();
  });

  /** The service's refresh worker and a worker for the driving workflows, each on this test's queues. */
  async function workers(options: { feishu?: FeishuGateway; refreshesPerSecond?: number } = {}) {
    const taskQueue = `refresh-test-${randomBytes(6).toString('hex')}`;
    const refresh = await createRefreshWorker({
      connection,
      namespace: 'default',
      taskQueue,
      deps: env.deps(options.feishu),
      payloadCodecKeys,
      refreshesPerSecond: options.refreshesPerSecond ?? 50,
    });
    const driver = await Worker.create({
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle: bundle,
      dataConverter,
    });
    const refreshRun = refresh.run();
    const driverRun = driver.run();
    stops.push(async () => {
      for (const w of [refresh, driver]) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all([refreshRun, driverRun]);
    });
    return { taskQueue, refreshQueue: refreshTaskQueue(taskQueue), refresh, refreshRun };
  }

  it('a refresh the workflow cancels while Feishu is slow stops waiting and stores nothing', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 0);
    const expectedVersion = await seedGrant(env, openId);
    const feishu = env.gateway();
    const sent = nextRefreshSent(feishu);
    const { taskQueue, refreshQueue } = await workers({ feishu });
    env.sandbox.faults.set({ latencyMs: 8_000, pathPrefix: '/oauth/v3/token' });

    const handle = await client.workflow.start(refreshOnce, {
      taskQueue,
      workflowId: `refresh-cancel-${openId}`,
      args: [{ refreshQueue, appId: env.appId, openId, expectedVersion, heartbeatTimeout: '2s' }],
    });
    await sent;
    const cancelledAt = Date.now();
    await handle.signal(cancelRefresh);

    expect(await handle.result()).toEqual({ ended: 'cancelled' });
    // Feishu would have answered after 8 s: the activity stopped waiting long before.
    expect(Date.now() - cancelledAt).toBeLessThan(6_000);
    expect((await storedGrant(env, openId))?.token_version).toBe(expectedVersion);
  });

  it('a worker told to stop lets the refresh in flight finish, and its result is recorded', async () => {
    const openId = env.sandbox.openIdOf(env.appId, 1);
    const expectedVersion = await seedGrant(env, openId);
    const feishu = env.gateway();
    const sent = nextRefreshSent(feishu);
    const { taskQueue, refreshQueue, refresh, refreshRun } = await workers({ feishu });
    env.sandbox.faults.set({ latencyMs: 1_500, pathPrefix: '/oauth/v3/token' });

    const handle = await client.workflow.start(refreshOnce, {
      taskQueue,
      workflowId: `refresh-drain-${openId}`,
      args: [{ refreshQueue, appId: env.appId, openId, expectedVersion }],
    });
    await sent;
    refresh.shutdown();
    await refreshRun;

    const end = await handle.result();
    expect(end).toMatchObject({ ended: 'completed', result: { kind: 'refreshed' } });
    expect((await storedGrant(env, openId))?.token_version).toBe(expectedVersion + 1);
  });

  it('a refresh with priority key 1 runs ahead of a rate-limited backlog of scheduled ones', async () => {
    const { taskQueue, refreshQueue } = await workers({ refreshesPerSecond: 6 });
    const size = 60;
    const handle = await client.workflow.start(refreshBehindBacklog, {
      taskQueue,
      workflowId: `refresh-priority-${taskQueue}`,
      args: [{ refreshQueue, appId: env.appId, size, urgentAfter: 2, urgentPriorityKey: 1 }],
    });

    const { doneWhenUrgentScheduled, doneWhenUrgentFinished } = await handle.result();

    // At 3 a second the backlog takes 10 s to drain; in arrival order the urgent refresh would
    // come after most of it (18 to 28 here without priority). Priority holds per partition (the
    // dev server has 4), so the others may each hand out a few tasks before it on a loaded machine.
    expect(size - doneWhenUrgentScheduled).toBeGreaterThanOrEqual(24);
    expect(doneWhenUrgentFinished - doneWhenUrgentScheduled).toBeLessThanOrEqual(12);
  }, 60_000);
});
