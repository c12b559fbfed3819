import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { createTimeSkippingEnv } from '../helpers/time-skipping.ts';
import { installQuietRuntime } from './harness/runtime.ts';
import { Simulation } from './harness/simulation.ts';
import type { SimUser } from './harness/user.ts';
import { GRANT_CAP_MS } from './model/feishu.ts';

const DAY = 24 * 3600_000;
const CALENDAR = 'calendar:calendar:readonly';
const DOCS = 'docx:document:readonly';
/** A year of one grant takes tens of seconds; the margin is for a loaded machine. */
const LIFE_TIMEOUT_MS = 180_000;

/**
 * Whole lives of one grant on the real workflow code, a year in seconds: the Java test server
 * skips time, the model answers for Feishu and the store, and every step is checked against the
 * simulation's invariants as well as the life's own expectations.
 */
describe('a grant over a year of server time', () => {
  let env: TestWorkflowEnvironment;
  let sim: Simulation;

  beforeAll(async () => {
    installQuietRuntime();
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => env?.teardown());
  beforeEach(async () => {
    sim = await Simulation.start({ env });
    onTestFailed(() => {
      console.log(`violations:\n${sim.world.log.formatViolations()}\n\nevents:\n${sim.world.log.format()}`);
    });
  });
  afterEach(async () => sim?.close());

  async function authorize(user: SimUser, scopes: string[]) {
    await user.post(scopes);
    const outcome = await user.consent(user.pendingCard()!);
    expect(outcome).toMatchObject({ kind: 'authorized' });
  }

  const state = (user: SimUser) => sim.grants.state(user.openId);

  it(
    'stays alive idle for 400 days when the user renews a day after the renewal card',
    async () => {
      const user = sim.user('ou_renews', '张三');
      await authorize(user, [CALENDAR]);
      const capAt = sim.at(0) + GRANT_CAP_MS;

      const renewal = await sim.waitFor('a renewal card', () => user.noticeCards('renewal').at(0), capAt, [
        user.openId,
      ]);
      const noticeDays = (capAt - renewal.attempt.created_at.getTime()) / DAY;
      expect(noticeDays).toBeGreaterThanOrEqual(3);
      await sim.runTo((await sim.time.now()) + DAY, [user.openId]);
      // The user answers the newest renewal card (a reminder may have replaced the first).
      const outcome = await user.consent(user.noticeCards('renewal').at(-1)!.card);
      expect(outcome, 'a renewal card is still usable a day after it came').toMatchObject({
        kind: 'authorized',
      });

      await sim.runTo(sim.at(400), [user.openId]);
      expect(sim.violations).toEqual([]);
      const final = await state(user);
      expect(final).toMatchObject({ status: 'authorized' });
      expect(final?.token?.authorizedAt).toBeGreaterThan(sim.at(355));
      expect(final?.refreshCount).toBeGreaterThan(60);
      expect(sim.watch.runsOf(user.workflowId), 'continue-as-new over the year').toBeGreaterThan(1);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    LIFE_TIMEOUT_MS,
  );

  it(
    'reminds a user who never answers, and ends needs_reauth with a card that says so',
    async () => {
      const user = sim.user('ou_away', '李四');
      await authorize(user, [CALENDAR]);
      const capAt = sim.at(0) + GRANT_CAP_MS;

      await sim.runTo(sim.at(400), [user.openId]);
      expect(sim.violations).toEqual([]);
      const renewals = user.noticeCards('renewal');
      expect(renewals.length, 'a first renewal card and at least one reminder').toBeGreaterThanOrEqual(2);
      expect(renewals.every(({ attempt }) => attempt.created_at.getTime() < capAt)).toBe(true);
      const [first] = renewals;
      expect(first!.attempt.expires_at.getTime() - first!.attempt.created_at.getTime()).toBeGreaterThan(DAY);

      expect(await state(user)).toMatchObject({ status: 'needs_reauth' });
      expect(sim.world.store.getGrant(user.openId)).toMatchObject({
        status: 'needs_reauth',
        access_token_ct: null,
      });
      const told = user.noticeCards('reauth');
      expect(told.length, 'a re-authorize card after the year ended').toBeGreaterThanOrEqual(1);
      expect(told[0]!.attempt.created_at.getTime()).toBeGreaterThanOrEqual(capAt);
      expect(await user.readToken()).toEqual({ status: 410 });
    },
    LIFE_TIMEOUT_MS,
  );

  it(
    'comes back 30 days after needs_reauth and authorizes again',
    async () => {
      const user = sim.user('ou_returns', '王五');
      await authorize(user, [CALENDAR]);
      await sim.runTo(sim.at(3), [user.openId]);
      // The user withdraws the app in Feishu: the next keep-alive refresh is refused (20064).
      sim.world.feishu.revokeUserTokens(await sim.time.now(), user.openId);

      const reauth = await sim.waitFor(
        'a re-authorize card',
        () => user.noticeCards('reauth').at(0),
        sim.at(10),
        [user.openId],
      );
      expect(await state(user)).toMatchObject({ status: 'needs_reauth' });
      const lostAt = reauth.attempt.created_at.getTime();

      await sim.runTo(lostAt + 30 * DAY, [user.openId]);
      expect(reauth.card.state, 'the unanswered card ends as expired').toBe('expired');
      const refreshesBefore = sim.world.feishu.refreshesOf(user.openId);
      await user.dm();
      expect(await user.consent(user.pendingCard()!)).toMatchObject({ kind: 'authorized' });
      expect(await state(user)).toMatchObject({ status: 'authorized' });

      await sim.runTo((await sim.time.now()) + 20 * DAY, [user.openId]);
      expect(sim.violations).toEqual([]);
      expect(sim.world.feishu.refreshesOf(user.openId)).toBeGreaterThan(refreshesBefore + 1);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    LIFE_TIMEOUT_MS,
  );

  it(
    'takes new scopes on day 20 although the first card can no longer be changed',
    async () => {
      const user = sim.user('ou_scopes', '赵六');
      await authorize(user, [CALENDAR]);
      const firstCard = user.latestCard()!;

      await sim.runTo(sim.at(20), [user.openId]);
      const response = await user.post([CALENDAR, DOCS]);
      expect(response).toMatchObject({ status: 'pending', reused: false });
      expect(await user.consent(user.pendingCard()!)).toMatchObject({ kind: 'authorized' });
      expect(sim.violations).toEqual([]);

      // Feishu refuses to PATCH the 20-day-old card to "superseded": it keeps its state, the grant lives.
      expect(firstCard).toMatchObject({ state: 'authorized', lastPatchFailure: 'card_not_updatable' });
      expect(user.latestCard()).toMatchObject({ state: 'authorized' });
      await sim.runTo(sim.at(40), [user.openId]);
      expect(sim.violations).toEqual([]);
      const final = await state(user);
      expect(final).toMatchObject({ status: 'authorized' });
      expect(final?.token?.scopes).toContain(DOCS);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    LIFE_TIMEOUT_MS,
  );

  it(
    'settles an attempt that expires while PostgreSQL is down for 30 minutes, once it is back',
    async () => {
      const user = sim.user('ou_database_down', '钱五');
      // Set before the request: server time may skip to the attempt's expiry as soon as it is sent.
      const expiresAt = (await sim.time.now()) + sim.world.settings.attemptExpirySeconds * 1000;
      sim.world.faults.databaseOutage(expiresAt - 60_000, 31);
      await user.post([CALENDAR]);
      // The newest card, not the pending one: time may already be past the expiry.
      const card = user.latestCard()!;
      const attemptExpiresAt = sim.world.store.getSession(card.attemptId)!.expires_at.getTime();
      expect(attemptExpiresAt - expiresAt, 'the attempt expires inside the outage').toBeLessThan(60_000);

      await sim.runTo(expiresAt + 2 * 3600_000, [user.openId]);
      expect(
        sim.world.faults.refusedByDatabase,
        'the settle was refused while the database was down',
      ).toBeGreaterThan(0);
      expect(sim.violations).toEqual([]);
      expect(sim.world.store.getSession(card.attemptId)).toMatchObject({ status: 'expired' });
      expect(card.state).toBe('expired');
      // The user asks again after the outage and gets a working card.
      await authorize(user, [CALENDAR]);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    LIFE_TIMEOUT_MS,
  );

  it(
    'revokes at once during a Feishu outage, and for good',
    async () => {
      const user = sim.user('ou_revokes', '孙七');
      await authorize(user, [CALENDAR]);
      const card = user.latestCard()!;
      // Feishu is down for 12 hours around the first keep-alive refresh (due on day 5.75 to 6),
      // and the user revokes within a minute of its first refusal, while it is being retried.
      sim.world.faults.outage(sim.at(5.6), 12 * 60);
      await sim.runTo(sim.at(5.7), [user.openId]);
      await sim.waitFor(
        'a refresh refused by the outage',
        () => (sim.world.faults.refused.token > 0 ? true : undefined),
        sim.at(6.1),
        [user.openId],
        60_000,
      );

      const took = await user.revoke();
      expect(took, 'DELETE waits for nothing (server ms)').toBeLessThan(60_000);
      expect(sim.world.store.getGrant(user.openId)).toMatchObject({
        status: 'revoked',
        access_token_ct: null,
      });
      expect(await state(user)).toMatchObject({ status: 'revoked' });

      const refreshes = sim.world.feishu.refreshesOf(user.openId);
      await sim.runTo(sim.at(40), [user.openId]);
      expect(sim.violations).toEqual([]);
      expect(sim.world.feishu.refreshesOf(user.openId)).toBe(refreshes);
      expect(card.state === 'revoked' || card.lastPatchFailure !== undefined).toBe(true);
      expect(await state(user)).toMatchObject({ status: 'revoked' });
      expect(await user.readToken()).toEqual({ status: 410 });
    },
    LIFE_TIMEOUT_MS,
  );
});
