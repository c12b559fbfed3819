import { setTimeout as delay } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { GrantSettings } from '../../lib/grant-types.ts';
import type { SettledView } from '../../workflows/card-views.ts';
import { createTimeSkippingEnv } from '../helpers/time-skipping.ts';
import { installQuietRuntime } from './harness/runtime.ts';
import { Simulation } from './harness/simulation.ts';
import type { SimUser } from './harness/user.ts';

const DAY = 24 * 3600_000;
const HOUR = 3600_000;
const CALENDAR = 'calendar:calendar:readonly';
const DOCS = 'docx:document:readonly';
const TIMEOUT_MS = 180_000;
/** Real time an update may take to reach the workflow on a loaded machine. */
const ACCEPT_WITHIN_MS = 20_000;

/**
 * A grant at the edges of its runs: an update that lands while the run is about to continue as
 * new or to end. The model holds one of the workflow's activities while the test sends the
 * update (test/sim/model/interleave.ts), so the update lands in that window in every run.
 */
describe('a grant at the edges of its runs', () => {
  let env: TestWorkflowEnvironment;
  let sim: Simulation | undefined;

  beforeAll(async () => {
    installQuietRuntime();
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => env?.teardown());
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  async function start(settings: Partial<GrantSettings> = {}): Promise<Simulation> {
    const started = await Simulation.start({ env, settings });
    sim = started;
    onTestFailed(() => {
      console.log(
        `violations:\n${started.world.log.formatViolations()}\n\nevents:\n${started.world.log.format()}`,
      );
    });
    return started;
  }

  async function authorize(user: SimUser, scopes: string[]) {
    await user.post(scopes);
    expect(await user.consent(user.pendingCard()!)).toMatchObject({ kind: 'authorized' });
  }

  async function runIdOf(s: Simulation, user: SimUser): Promise<string> {
    return (await s.client.workflow.getHandle(user.workflowId).describe()).runId;
  }

  /** Updates the workflow's current run has accepted: a handler that began, whatever it waits for. */
  async function acceptedUpdates(s: Simulation, user: SimUser): Promise<number> {
    const { events } = await s.client.workflow.getHandle(user.workflowId).fetchHistory();
    return (events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
  }

  /**
   * Sends an update and returns once the workflow has accepted it (its handler began), with the
   * update's own promise to await later; a rejection is kept for that await.
   */
  async function placeUpdate<T>(s: Simulation, user: SimUser, send: () => Promise<T>) {
    const before = await acceptedUpdates(s, user);
    const result = send();
    result.catch(() => undefined);
    const by = Date.now() + ACCEPT_WITHIN_MS;
    while ((await acceptedUpdates(s, user)) === before) {
      if (Date.now() > by) throw new Error('the update did not reach the workflow');
      await delay(20);
    }
    return { result };
  }

  it(
    'carries an attempt that a request with new scopes opened while the run continued as new, and settles it',
    async () => {
      // Every refresh ends the run: the first keep-alive refresh is the run's last act.
      const s = await start({ refreshesPerRun: 1 });
      const user = s.user('ou_edge_scopes', '周八');
      await authorize(user, [CALENDAR]);
      const firstRun = await runIdOf(s, user);

      let placed: { result: ReturnType<Simulation['grants']['request']> } | undefined;
      s.world.interleave.inside('refreshGrant', user.openId, async () => {
        placed = await placeUpdate(s, user, () =>
          s.grants.request(user.openId, {
            scopes: [CALENDAR, DOCS],
            source: 'api',
            expiresInSeconds: 2 * 24 * 3600,
          }),
        );
      });
      await s.waitFor('the refresh that ends the run', () => placed, s.at(8), [user.openId]);
      const response = await s.step(user.openId, 'POST new scopes, sent during the last refresh', () => {
        return placed!.result;
      });
      expect(response).toMatchObject({ status: 'pending', reused: false });
      const attemptId = (response as { attemptId: string }).attemptId;

      const carried = await s.grants.state(user.openId);
      expect(await runIdOf(s, user), 'the run continued as new').not.toBe(firstRun);
      expect(carried?.attempt, 'the new run carries the open attempt').toMatchObject({ id: attemptId });
      expect(carried?.attempt?.outcome).toBeUndefined();

      const card = user.pendingCard();
      expect(card?.attemptId).toBe(attemptId);
      expect(await user.consent(card!)).toMatchObject({ kind: 'authorized' });
      await s.runTo((await s.time.now()) + 10 * DAY, [user.openId]);
      expect(s.violations).toEqual([]);
      expect(s.world.store.getSession(attemptId)).toMatchObject({ status: 'authorized' });
      expect(card!.state).toBe('authorized');
      const final = await s.grants.state(user.openId);
      expect(final).toMatchObject({ status: 'authorized' });
      expect(final?.token?.scopes).toContain(DOCS);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    TIMEOUT_MS,
  );

  it(
    'tells the user with a card that ends when a token read finds the grant needs re-authorizing while the run continued as new',
    async () => {
      const s = await start({ refreshesPerRun: 1 });
      const user = s.user('ou_edge_reauth', '吴九');
      await authorize(user, [CALENDAR]);
      const firstRun = await runIdOf(s, user);

      let placed: { result: ReturnType<Simulation['grants']['ensureFresh']> } | undefined;
      // Inside the run's last keep-alive refresh, a service reads the token and wants it valid for
      // longer than the refreshed one will be: the read refreshes again once the lock is free …
      s.world.interleave.inside('refreshGrant', user.openId, async () => {
        const validUntil = (await s.time.now()) + 3 * HOUR;
        placed = await placeUpdate(s, user, () => s.grants.ensureFresh(user.openId, validUntil));
      });
      // … and by then the user has removed the app in Feishu: the read's refresh is refused.
      s.world.interleave.inside('refreshGrant', user.openId, async () => {
        s.world.feishu.revokeUserTokens(await s.time.now(), user.openId);
      });
      await s.waitFor('the refresh that ends the run', () => placed, s.at(8), [user.openId]);
      const token = await s.step(user.openId, 'GET token, sent during the last refresh', () => {
        return placed!.result;
      });
      expect(token, 'the read gets no token').toBeUndefined();
      expect(s.world.interleave.pending(), 'the read refreshed').toBe(0);

      const told = await s.waitFor(
        'a re-authorize card',
        () => user.noticeCards('reauth').at(0),
        (await s.time.now()) + DAY,
        [user.openId],
      );
      expect(await runIdOf(s, user), 'the run continued as new').not.toBe(firstRun);
      await s.runTo(told.attempt.expires_at.getTime() + 2 * DAY, [user.openId]);
      expect(s.violations).toEqual([]);
      expect(told.card.state, 'the unanswered re-authorize card ends as expired').toBe('expired');
      expect(s.world.store.getSession(told.attempt.id)).toMatchObject({ status: 'expired' });
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'needs_reauth' });
      expect(s.world.store.getGrant(user.openId)).toMatchObject({ status: 'needs_reauth' });
    },
    TIMEOUT_MS,
  );

  it(
    'answers a request that arrives while the revoked card is being updated, and leaves no card or grant behind',
    async () => {
      const s = await start();
      const user = s.user('ou_edge_revoke', '郑十');
      await authorize(user, [CALENDAR]);
      const grantCard = user.latestCard()!;

      let placed: { result: ReturnType<Simulation['grants']['request']> } | undefined;
      s.world.interleave.inside(
        'updateCard',
        user.openId,
        async () => {
          placed = await placeUpdate(s, user, () =>
            s.grants.request(user.openId, { scopes: [CALENDAR], source: 'bot_message', locale: 'zh_cn' }),
          );
        },
        (input) => (input as { view: SettledView }).view.state === 'revoked',
      );
      await user.revoke();
      await s.waitFor('the revoked card update', () => placed, (await s.time.now()) + HOUR, [user.openId]);
      const response = await s.step(user.openId, 'DM, sent during the revoked card update', () => {
        return placed!.result;
      });
      expect(response).toMatchObject({ status: 'pending', reused: false });
      expect(grantCard.state).toBe('revoked');

      // The new card belongs to a live workflow: the user can act on it, or it ends as expired.
      const card = user.pendingCard();
      expect(card?.attemptId).toBe((response as { attemptId: string }).attemptId);
      expect(await user.consent(card!)).toMatchObject({ kind: 'authorized' });
      await s.runTo((await s.time.now()) + 2 * DAY, [user.openId]);
      expect(s.violations).toEqual([]);
      expect(card!.state).toBe('authorized');
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'authorized' });
      expect(s.world.store.getGrant(user.openId)).toMatchObject({ status: 'authorized' });
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    TIMEOUT_MS,
  );
});
