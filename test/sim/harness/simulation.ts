import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { GrantService } from '../../../api/grants.ts';
import { failureConverterPath } from '../../../lib/data-converter.ts';
import { DEFAULT_GRANT_SETTINGS, type GrantSettings, type GrantState } from '../../../lib/grant-types.ts';
import { grantState } from '../../../workflows/messages.ts';
import { workflowsPath as currentWorkflowsPath } from '../../../workers/worker.ts';
import { agreementFindings } from '../invariants/agreement.ts';
import { WorkflowWatch, failedTask } from '../invariants/workflow-checks.ts';
import { modelActivities } from '../model/activities.ts';
import { simDay } from '../model/log.ts';
import { createWorld, type World } from '../model/world.ts';
import { progressOf, type Progress } from './progress.ts';
import { SimTime, StuckError, type Poll } from './time.ts';
import { SimUser } from './user.ts';
import { SimWorkers } from './workers.ts';

/** How long a client call may take (in server time) before it counts as hanging. */
const STEP_LIMIT_MS = 60 * 60_000;
const DAY_MS = 24 * 3600_000;
/** How long a grant's workflow may keep working after a step before it counts as stuck. */
const SETTLE_LIMIT_MS = DAY_MS;
/** Checks of a grant whose history keeps moving under them before what they found is reported. */
const MAX_LOOKS = 5;

/** No payload codec: payloads never leave this process. The failure converter is the service's. */
const dataConverter: DataConverter = { failureConverterPath };

export interface SimulationOptions {
  env: TestWorkflowEnvironment;
  settings?: Partial<GrantSettings>;
  /**
   * Another build of the workflow, e.g. test/fixtures/deployed-0f8d4b2-workflow.ts to see what the
   * code deployed at 0f8d4b2 does; SIM_WORKFLOWS when unset, else the current workflows.
   */
  workflowsPath?: string;
  /** Worker restarts happen: no workflow cache (see SimWorkerOptions.cacheWorkflows). */
  restartsWorkers?: boolean;
  /** The settings the API passes to the runs it starts: an API older than the worker passes fewer. */
  apiSettings?: Partial<GrantSettings>;
}

/**
 * The real grant workflow on the time-skipping test server, its activities answered by the model,
 * driven through the API's GrantService. Each step is awaited while server time runs, then the
 * grant is left to settle and checked.
 */
export class Simulation {
  readonly time: SimTime;
  readonly watch: WorkflowWatch;
  /** Grants whose workflow failed or got stuck: ended, and left out from then on. */
  readonly broken = new Set<string>();
  private readonly lastState = new Map<
    string,
    { runId: string; historyLength: number; state: GrantState | undefined }
  >();

  private constructor(
    readonly env: TestWorkflowEnvironment,
    readonly world: World,
    readonly client: Client,
    readonly grants: GrantService,
    readonly workers: SimWorkers,
  ) {
    this.time = new SimTime(env);
    this.watch = new WorkflowWatch(client, world.log);
  }

  static async start(options: SimulationOptions): Promise<Simulation> {
    const { env } = options;
    const settings = { ...DEFAULT_GRANT_SETTINGS, ...options.settings };
    const appId = `cli_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    const taskQueue = `sim-${randomUUID()}`;
    const world = createWorld({
      appId,
      settings,
      clock: () => env.currentTimeMs(),
      origin: await env.currentTimeMs(),
    });
    const client = new Client({ connection: env.connection, namespace: env.namespace, dataConverter });
    const workers = await SimWorkers.start({
      env,
      taskQueue,
      workflowsPath: options.workflowsPath ?? process.env.SIM_WORKFLOWS ?? currentWorkflowsPath,
      activities: modelActivities(world),
      dataConverter,
      cacheWorkflows: !options.restartsWorkers,
    });
    const grants = new GrantService(client, appId, taskQueue, options.apiSettings ?? settings);
    return new Simulation(env, world, client, grants, workers);
  }

  user(openId: string, name: string): SimUser {
    this.world.users.set(openId, name);
    return new SimUser(this, openId);
  }

  get violations() {
    return this.world.log.violations;
  }

  /** Server time `days` after the simulation began. */
  at(days: number): number {
    return this.world.log.origin + days * DAY_MS;
  }

  /** Lets server time run to `at`, settling and checking the given grants at least every `everyMs`. */
  async runTo(at: number, openIds: string[], everyMs = DAY_MS): Promise<void> {
    for (let now = await this.time.now(); now < at; now = await this.time.now()) {
      await this.time.advanceTo(Math.min(at, now + everyMs));
      for (const openId of openIds) await this.settle(openId);
    }
  }

  /**
   * Lets server time run until `found` returns something, looking every `lookEveryMs` (checking
   * the grants every day and when found); fails at `by`.
   */
  async waitFor<T>(
    what: string,
    found: () => T | undefined,
    by: number,
    openIds: string[],
    lookEveryMs = 3600_000,
  ): Promise<T> {
    let checkedAt = await this.time.now();
    for (;;) {
      const value = found();
      const now = await this.time.now();
      if (value !== undefined || now - checkedAt >= DAY_MS || now >= by) {
        for (const openId of openIds) await this.settle(openId);
        checkedAt = now;
      }
      if (value !== undefined) return value;
      if (now >= by) throw new Error(`${what}: none by ${simDay(by, this.world.log.origin)}`);
      await this.time.advanceTo(Math.min(by, now + lookEveryMs));
    }
  }

  async record(openId: string | undefined, what: string): Promise<void> {
    this.world.log.record(await this.time.now(), openId, what);
  }

  /**
   * One thing a user or service does: awaited while server time runs, then the grant's workflow
   * is left to finish what it started, and checked.
   */
  async step<T>(openId: string, what: string, act: () => Promise<T>): Promise<T> {
    await this.record(openId, `STEP ${what}`);
    let result: T;
    try {
      result = await this.time.during(act(), this.waitsOf(openId), STEP_LIMIT_MS, what);
    } catch (err) {
      if (err instanceof StuckError) await this.giveUp(openId, 'step hangs', err.message);
      throw err;
    }
    await this.settle(openId);
    return result;
  }

  /**
   * What a call to the grant's workflow may be waiting for: a retry, or a timer within the call's
   * budget (a lock held across a timeout). A timer counts only when the workflow was idle at two
   * looks in a row: between the client's request and the server's task it looks idle too.
   */
  private waitsOf(openId: string): () => Promise<Omit<Poll, 'done'>> {
    let idleBefore = false;
    return async () => {
      const now = await this.time.now();
      const { working, backingOff, timerAt } = await progressOf(this.client, this.grants.workflowId(openId));
      const timer =
        idleBefore && timerAt !== undefined && timerAt - now <= STEP_LIMIT_MS ? timerAt : undefined;
      const busy = working || backingOff;
      const nextAt = !busy && idleBefore ? timer : undefined;
      idleBefore = !busy;
      return { busy, nextAt, timerAt };
    };
  }

  /**
   * Waits until nothing is in flight for the grant (retries are sped through), then checks it.
   * The test server's clock runs at wall speed between looks, so a timer can fire while the
   * check reads the workflow and the store: what disagrees counts only when the grant's history
   * did not move meanwhile, else the grant is settled and checked again.
   */
  async settle(openId: string): Promise<void> {
    for (let look = 1; !this.broken.has(openId); look++) {
      const last = await this.quiesce(openId);
      if (!last) return;
      const now = await this.time.now();
      const health = await this.watch.check(now, openId, last.description, last.events);
      if (health === 'broken') return this.giveUp(openId);
      const state = last.description && health !== 'absent' ? await this.stateOf(last) : undefined;
      const findings = agreementFindings(this.world, now, openId, state, health === 'running');
      if (findings.length === 0) return;
      if (look < MAX_LOOKS && (await this.movedSince(openId, last))) continue;
      for (const { invariant, detail, once } of findings) {
        this.world.log.violation(now, openId, invariant, detail, once);
      }
      return;
    }
  }

  /** Lets server time run until the grant's workflow has nothing in flight; what it last read. */
  private async quiesce(openId: string): Promise<Progress | undefined> {
    let last: Progress = { working: false, backingOff: false };
    const quiet = await this.time.runUntil(async () => {
      last = await progressOf(this.client, this.grants.workflowId(openId));
      // A workflow task that failed is retried for ever: the check reports it.
      const failing = !!last.events && !!failedTask(last.events);
      const busy = last.working || last.backingOff;
      return { done: failing || !busy, busy, timerAt: last.timerAt };
    }, SETTLE_LIMIT_MS);
    if (quiet) return last;
    const detail = `the workflow of ${openId} is still busy a day after the last step`;
    const health = await this.watch.check(await this.time.now(), openId, last.description, last.events);
    if (health === 'broken') {
      await this.giveUp(openId);
      return undefined;
    }
    await this.giveUp(openId, 'workflow stuck', detail);
    throw new StuckError(detail);
  }

  private async movedSince(openId: string, seen: Progress): Promise<boolean> {
    const now = await progressOf(this.client, this.grants.workflowId(openId));
    return now.description?.runId !== seen.description?.runId || now.events?.length !== seen.events?.length;
  }

  /**
   * The grant state the workflow's query answers. A query changes no history, so the same run at
   * the same history answers the same: a query costs a workflow task, saved when nothing happened
   * to the workflow since the last one. The length is the history read (describe's historyLength
   * lags behind it on the test server); history only grows, so a query made after that read
   * matches the key only if the history had not moved by then.
   */
  private async stateOf({ description, events }: Progress): Promise<GrantState | undefined> {
    const { workflowId, runId } = description!;
    const historyLength = events?.length;
    const cached = this.lastState.get(workflowId);
    if (historyLength !== undefined && cached?.runId === runId && cached.historyLength === historyLength) {
      return cached.state;
    }
    const state = await this.client.workflow.getHandle(workflowId, runId).query(grantState);
    if (historyLength !== undefined) this.lastState.set(workflowId, { runId, historyLength, state });
    return state;
  }

  /**
   * Stops simulating a grant whose workflow is broken (the violation says how), ending it if it
   * still runs: a workflow task that keeps failing stops the shared test server from skipping time.
   */
  private async giveUp(openId: string, invariant?: string, detail?: string): Promise<void> {
    if (invariant && detail) this.world.log.violation(await this.time.now(), openId, invariant, detail);
    this.broken.add(openId);
    await this.terminate(openId, 'broken in the simulation');
  }

  private async terminate(openId: string, reason: string): Promise<void> {
    const handle = this.client.workflow.getHandle(this.grants.workflowId(openId));
    if ((await this.watch.describe(handle.workflowId))?.status.name === 'RUNNING')
      await handle.terminate(reason);
  }

  /**
   * Ends the simulation's workflows before its workers: a timer firing for a workflow without a
   * worker leaves a workflow task pending, which stops the shared test server from skipping time.
   */
  async close(): Promise<void> {
    for (const openId of this.world.users.keys()) await this.terminate(openId, 'simulation over');
    await this.workers.stop();
  }
}
