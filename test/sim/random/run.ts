import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { GrantSettings } from '../../../lib/grant-types.ts';
import type { SimCard } from '../model/feishu.ts';
import type { Violation } from '../model/log.ts';
import { Simulation } from '../harness/simulation.ts';
import { StuckError } from '../harness/time.ts';
import { SimUser, type CardButton } from '../harness/user.ts';
import { describeEvent, planSimulation, userOpenId, type PlanOptions, type PlannedEvent } from './plan.ts';

/** Someone else in the tenant, who consents when a user forwards their card: the wrong account. */
const STRANGER = 'ou_sim_stranger';

export interface RunOptions extends PlanOptions {
  env: TestWorkflowEnvironment;
  workflowsPath?: string;
  settings?: Partial<GrantSettings>;
  /** Stop at the first violation (a test wants the shortest story); a long run goes on and counts. */
  stopAtFirstViolation?: boolean;
  /** Settle and check every grant this often, in days, besides the grant each step touches. */
  checkEveryDays?: number;
  onProgress?: (day: number) => void;
}

export interface RunReport {
  seed: number;
  grants: number;
  days: number;
  /** The plan up to where the run stopped. */
  ran: PlannedEvent[];
  violations: Violation[];
  wallMs: number;
  grantDaysPerSecond: number;
  refreshes: number;
  cards: number;
  workflowRuns: number;
  /** The model's event log of the users a violation concerns. */
  logs: string;
}

type UserEvent = Extract<PlannedEvent, { user: number }>;

/** Feishu's bad days and the operator's deploys: they change the world, nobody waits for them. */
async function applyAppEvent(sim: Simulation, event: Exclude<PlannedEvent, UserEvent>): Promise<void> {
  const { faults, log } = sim.world;
  const now = await sim.time.now();
  switch (event.kind) {
    case 'outage':
      faults.outage(now, event.minutes);
      return log.record(now, undefined, `Feishu down for ${event.minutes} minutes`);
    case 'throttle':
      faults.throttle(now, event.minutes, event.retryAfterSeconds);
      return log.record(now, undefined, `Feishu answers 429 for ${event.minutes} minutes`);
    case 'blips':
      faults.blip(event.count);
      return log.record(now, undefined, `the next ${event.count} Feishu calls answer 5xx`);
    case 'restart_worker':
      log.record(now, undefined, 'worker restart');
      return sim.workers.restart();
  }
}

/** What a user (or a service for them) does; a click finds nothing when no card has the button. */
async function actAs(sim: Simulation, user: SimUser, event: UserEvent): Promise<void> {
  const { world } = sim;
  const now = await sim.time.now();
  const click = async (button: CardButton, action: (card: SimCard) => Promise<unknown>) => {
    const card = user.cards().findLast((c) => SimUser.has(c, button));
    if (card) await action(card);
    else world.log.record(now, user.openId, `${event.kind}: no card with ${button}`);
  };
  switch (event.kind) {
    case 'request': {
      const scopes = event.scope ? [event.scope] : [];
      await (event.via === 'api' ? user.post(scopes) : user.dm(scopes));
      return;
    }
    case 'answer':
      return click('authorize', (card) => {
        switch (event.reaction) {
          case 'consent':
            return user.consent(card);
          case 'wrong_account':
            return user.consent(card, STRANGER);
          case 'deny':
            return user.deny(card);
          case 'cancel':
            return user.cancel(card);
        }
      });
    case 'retry':
      return click('retry', (card) => user.retry(card));
    case 'read_token':
      await user.readToken();
      return;
    case 'revoke':
      if (event.via === 'card') return click('revoke', (card) => user.revokeByCard(card));
      // DELETE answers 404 for a user who never had a grant, without asking the workflow.
      if (world.store.getGrant(user.openId)) await user.revoke();
      return;
    case 'lose_refresh_answer':
      world.faults.loseNextRefreshAnswer(user.openId);
      return world.log.record(now, user.openId, 'the next refresh answer will be lost');
    case 'withdraw':
      return world.feishu.revokeUserTokens(now, user.openId);
  }
}

/**
 * Runs a seeded plan against the real workflow: every step is awaited while server time runs and
 * the grant it touched is checked; every grant is checked every few days and at the end.
 */
export async function runSimulation(options: RunOptions): Promise<RunReport> {
  const { seed, grants, days, stopAtFirstViolation = false, checkEveryDays = 10 } = options;
  const plan = planSimulation(options);
  const started = Date.now();
  const sim = await Simulation.start({
    env: options.env,
    workflowsPath: options.workflowsPath,
    settings: options.settings,
    restartsWorkers: plan.some((event) => event.kind === 'restart_worker'),
  });
  const users = Array.from({ length: grants }, (_, i) => sim.user(userOpenId(i), `用户${i}`));
  sim.world.users.set(STRANGER, '陌生人');
  const ran: PlannedEvent[] = [];
  const checkAll = async () => {
    for (const user of users) await sim.settle(user.openId).catch(ignoreStuck);
  };
  try {
    let nextCheck = checkEveryDays;
    for (const event of plan) {
      for (; nextCheck <= event.day; nextCheck += checkEveryDays) {
        await sim.time.advanceTo(sim.at(nextCheck));
        await checkAll();
        options.onProgress?.(nextCheck);
      }
      if (stopAtFirstViolation && sim.violations.length > 0) break;
      await sim.time.advanceTo(sim.at(event.day));
      ran.push(event);
      await perform(sim, users, event);
    }
    if (!stopAtFirstViolation || sim.violations.length === 0) {
      await sim.time.advanceTo(sim.at(days));
      await checkAll();
    }
  } finally {
    await sim.close();
  }
  const wallMs = Date.now() - started;
  const concerned = new Set(sim.violations.map((v) => v.openId));
  return {
    seed,
    grants,
    days,
    ran,
    violations: sim.violations,
    wallMs,
    grantDaysPerSecond: (grants * days) / (wallMs / 1000),
    refreshes: users.reduce((sum, u) => sum + sim.world.feishu.refreshesOf(u.openId), 0),
    cards: sim.world.feishu.cards.size,
    workflowRuns: users.reduce((sum, u) => sum + sim.watch.runsOf(u.workflowId), 0),
    logs: [...concerned].map((openId) => sim.world.log.format(openId, 400)).join('\n\n'),
  };
}

/** Runs an event; a call that throws is what the API would answer with a 500, which nothing may cause. */
async function perform(sim: Simulation, users: SimUser[], event: PlannedEvent): Promise<void> {
  const openId = 'user' in event ? userOpenId(event.user) : undefined;
  if (openId && sim.broken.has(openId)) return;
  try {
    await ('user' in event ? actAs(sim, users[event.user]!, event) : applyAppEvent(sim, event));
  } catch (err) {
    if (err instanceof StuckError) return;
    const now = await sim.time.now();
    if (isTestServerFault(err)) return sim.world.log.record(now, openId, `test server fault: ${String(err)}`);
    sim.world.log.violation(now, openId, 'API error', String(err));
  }
}

/** gRPC codes the Java test server answers with when one of its handlers throws. */
const UNKNOWN = 2;
const INTERNAL = 13;

/**
 * The Java test server's own defects, not the service's: on a busy machine its update-with-start
 * sometimes throws a NullPointerException while waiting for the update's answer (after the update
 * was delivered), which reaches the client as an UNKNOWN or INTERNAL status. A real server never
 * answers so; the model checks what the update did.
 */
function isTestServerFault(err: unknown): boolean {
  for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) {
    const { code } = cause as { code?: unknown };
    if (code === UNKNOWN || code === INTERNAL) return true;
  }
  return false;
}

function ignoreStuck(err: unknown): void {
  if (!(err instanceof StuckError)) throw err;
}

/** The seed, the violations, the event list that led to them and what the model saw. */
export function formatFailure(report: RunReport): string {
  const concerned = new Set(report.violations.map((v) => v.openId));
  return [
    `seed ${report.seed}: ${report.grants} grants × ${report.days} days, ${report.violations.length} violation(s)`,
    ...report.violations.map((v) => `  ${v.openId ?? '*'} ${v.invariant}: ${v.detail}`),
    `again: npm run simulate -- --grants ${report.grants} --days ${report.days} --seed ${report.seed} --shards 1`,
    '',
    'events of the grants concerned and of the app (planned from the seed):',
    ...report.ran
      .filter(
        (event) => !('user' in event) || concerned.has(undefined) || concerned.has(userOpenId(event.user)),
      )
      .map(describeEvent),
    '',
    'what the model saw:',
    report.logs,
  ].join('\n');
}
