import { setTimeout as delay } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { grantStartOptions } from '../../api/grants.ts';
import { DEFAULT_GRANT_SETTINGS, type GrantSettings } from '../../lib/grant-types.ts';
import type { SettledView } from '../../workflows/card-views.ts';
import { grantWorkflow } from '../../workflows/grant.ts';
import { ensureFreshToken } from '../../workflows/messages.ts';
import { createTimeSkippingEnv } from '../helpers/time-skipping.ts';
import { installQuietRuntime } from './harness/runtime.ts';
import { Simulation, type SimulationOptions } from './harness/simulation.ts';
import type { SimUser } from './harness/user.ts';

const DAY_SECONDS = 24 * 3600;
const DAY = DAY_SECONDS * 1000;
const HOUR = 3600_000;
const CALENDAR = 'calendar:calendar:readonly';
const DOCS = 'docx:document:readonly';
const TIMEOUT_MS = 180_000;
/** Real time an update may take to reach the workflow on a loaded machine. */
const ACCEPT_WITHIN_MS = 20_000;

/**
 * A grant at the edges of its runs: an update that lands while the run is about to continue as
 * new or to end (the model holds one of the workflow's activities while the test sends the
 * update, test/sim/model/interleave.ts, so it lands in that window in every run), settings that
 * change between runs, and the wait after a refresh Feishu refused.
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

  async function start(
    settings: Partial<GrantSettings> = {},
    options: Pick<SimulationOptions, 'apiSettings'> = {},
  ): Promise<Simulation> {
    const started = await Simulation.start({ env, settings, ...options });
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
            expiresInSeconds: 2 * DAY_SECONDS,
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
  it(
    'leaves alone what the user asked for after pressing Revoke when that Revoke is delivered again late',
    async () => {
      const s = await start();
      const user = s.user('ou_edge_late_revoke', '冯十一');
      await authorize(user, [CALENDAR]);
      const pressedAt = await s.time.now();
      await user.revokeByCard(user.latestCard()!);
      await s.runTo(pressedAt + 60_000, [user.openId]);
      // The callback activity's retry (its first answer was lost to a killed worker) carries the press time.
      const deliveredAgain = () =>
        s.step(user.openId, 'the Revoke delivered again', () =>
          s.grants.revoke(user.openId, { source: 'card', requestedAt: pressedAt }),
        );

      await user.post([CALENDAR, DOCS]);
      const card = user.pendingCard()!;
      await deliveredAgain();
      expect(card.state).toBe('pending');
      expect(await user.consent(card)).toMatchObject({ kind: 'authorized' });
      await deliveredAgain();
      await s.runTo((await s.time.now()) + DAY, [user.openId]);
      expect(s.violations).toEqual([]);
      expect(card.state).toBe('authorized');
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'authorized' });
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    TIMEOUT_MS,
  );

  it(
    'keeps the card authorized when a Retry delivered again arrives while the consent is exchanged',
    async () => {
      const s = await start();
      const user = s.user('ou_edge_retry_again', '褚十二');
      await user.post([CALENDAR]);
      const cancelled = user.pendingCard()!;
      await user.cancel(cancelled);
      await s.waitFor(
        'the cancelled card',
        () => cancelled.state === 'cancelled' || undefined,
        (await s.time.now()) + HOUR,
        [user.openId],
      );
      await user.retry(cancelled);
      const card = user.pendingCard()!;
      expect(card.messageId).toBe(cancelled.messageId);

      // The Retry's callback activity lost its first answer (a killed worker) and asks again: the
      // copy reaches the workflow while the consent's code is being exchanged.
      let again: Promise<unknown> | undefined;
      s.world.interleave.inside('exchangeCode', user.openId, async () => {
        ({ result: again } = await placeUpdate(s, user, () =>
          s.grants.request(user.openId, {
            scopes: [CALENDAR],
            source: 'card_retry',
            reuseMessageId: card.messageId,
          }),
        ));
      });
      expect(await user.consent(card)).toMatchObject({ kind: 'authorized' });
      expect(await s.step(user.openId, 'the Retry delivered again', () => again!)).toMatchObject({
        status: 'authorized',
        reused: true,
      });
      await s.runTo((await s.time.now()) + DAY, [user.openId]);
      expect(s.violations).toEqual([]);
      expect(user.pendingCard()).toBeUndefined();
      expect(user.latestCard()).toMatchObject({ messageId: card.messageId, state: 'authorized' });
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'authorized' });
    },
    TIMEOUT_MS,
  );

  /** When the model rotated the user's tokens, in days from the simulation's start. */
  function rotationDays(s: Simulation, user: SimUser): number[] {
    return s.world.log.events
      .filter((e) => e.openId === user.openId && e.what.startsWith('store: tokens rotated'))
      .map((e) => (e.at - s.world.log.origin) / DAY);
  }

  /** The settings the workflow's current run was started with (continue-as-new's input). */
  async function runSettings(s: Simulation, user: SimUser): Promise<Partial<GrantSettings> | undefined> {
    const { events } = await s.client.workflow.getHandle(user.workflowId).fetchHistory();
    const [payload] = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    return payload?.data
      ? (JSON.parse(Buffer.from(payload.data).toString()) as { settings?: Partial<GrantSettings> }).settings
      : undefined;
  }

  it(
    'picks up a changed setting at the next run, not before',
    async () => {
      // No jitter, so each keep-alive refresh is due at a known time: the refresh token's 7 days
      // less the lead. Every refresh ends the run.
      const s = await start({ refreshesPerRun: 1, refreshJitterSeconds: 0 });
      const user = s.user('ou_edge_settings', '冯一');
      await authorize(user, [CALENDAR]);
      await s.runTo(s.at(1), [user.openId]);
      // A deploy changes REFRESH_LEAD_SECONDS from 1 day to 3: the worker's currentGrantSettings.
      const lead = 3 * DAY_SECONDS;
      s.world.settings = { ...s.world.settings, refreshLeadSeconds: lead };

      await s.runTo(s.at(13), [user.openId]);
      expect(s.violations).toEqual([]);
      const [first, second] = rotationDays(s, user);
      expect(first, 'the running run keeps its 1-day lead: refreshed on day 6').toBeCloseTo(6, 1);
      expect(second! - first!, 'the next run refreshes 3 days before the 7-day token expires').toBeCloseTo(
        4,
        1,
      );
      expect(await runSettings(s, user)).toMatchObject({ refreshLeadSeconds: lead });
    },
    TIMEOUT_MS,
  );

  it(
    'takes the settings a run was not started with from the deployment, never from code defaults',
    async () => {
      const s = await start({ refreshesPerRun: 1 });
      const user = s.user('ou_edge_defaults', '陈二');
      await authorize(user, [CALENDAR]);
      // This deployment ends grants after 20 days, with a first renewal card 4 days before.
      const deployed = {
        ...s.world.settings,
        grantMaxAgeSeconds: 20 * DAY_SECONDS,
        renewNoticeSeconds: 4 * DAY_SECONDS,
      };
      s.world.settings = deployed;
      // The grant's run is one a 0f8d4b2 run continued into after the deploy: it carries the grant
      // and the settings the 0f8d4b2 API passed (lib/config.ts then), without the renewal ones.
      const handle = s.client.workflow.getHandle(user.workflowId);
      const { runId: oldRun, taskQueue } = await handle.describe();
      const carried = {
        state: (await s.grants.state(user.openId))!,
        grantMessageId: user.latestCard()!.messageId,
      };
      const { attemptExpirySeconds, refreshPolicy, refreshLeadSeconds, refreshJitterSeconds } = deployed;
      const { accessTokenMarginSeconds, refreshesPerRun } = deployed;
      const settings = {
        attemptExpirySeconds,
        refreshPolicy,
        refreshLeadSeconds,
        refreshJitterSeconds,
        accessTokenMarginSeconds,
        refreshesPerRun,
      };
      await handle.terminate('stands in for a 0f8d4b2 run that continued as new');
      await s.client.workflow.start(grantWorkflow, {
        ...grantStartOptions(s.world.appId, user.openId, taskQueue, 'authorized'),
        args: [{ appId: s.world.appId, openId: user.openId, settings, carried }],
      });

      const renewal = await s.waitFor('a renewal card', () => user.noticeCards('renewal').at(0), s.at(21), [
        user.openId,
      ]);
      expect((renewal.attempt.created_at.getTime() - s.world.log.origin) / DAY).toBeCloseTo(16, 1);
      await s.runTo(s.at(21), [user.openId]);
      const terminated = (v: { invariant: string; detail: string }) =>
        v.invariant === 'workflow failed' && v.detail.includes(oldRun);
      expect(s.violations.filter((v) => !terminated(v))).toEqual([]);
      expect(await s.grants.state(user.openId)).toMatchObject({
        status: 'needs_reauth',
        reason: 'grant_max_age',
      });
      expect(user.noticeCards('reauth').length, 'a re-authorize card on day 20').toBeGreaterThanOrEqual(1);
      expect(await runSettings(s, user), 'later runs carry them in their input').toEqual(deployed);
    },
    TIMEOUT_MS,
  );
  it(
    'answers the first request of an API older than its worker, which passes fewer settings',
    async () => {
      // A rolling deploy that adds a setting: the API not yet replaced starts runs without it.
      const { refreshesPerRun: _addedByTheDeploy, ...olderApiSettings } = DEFAULT_GRANT_SETTINGS;
      const s = await start({ refreshesPerRun: 1 }, { apiSettings: olderApiSettings });
      const user = s.user('ou_edge_older_api', '郑三');
      await authorize(user, [CALENDAR]);
      await s.runTo(s.at(8), [user.openId]);
      expect(s.violations).toEqual([]);
      expect(rotationDays(s, user).length, 'refreshed, ending the run each time').toBeGreaterThanOrEqual(1);
      expect(await runSettings(s, user), "the next run carries the worker's settings").toEqual(
        s.world.settings,
      );
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    TIMEOUT_MS,
  );

  it(
    'waits at least an hour after Feishu refuses a refresh, and refreshes once the app is fixed',
    async () => {
      // Eager: the token is due for a refresh every two hours, so a refused one is due again at once.
      const s = await start({ refreshPolicy: 'eager' });
      const user = s.user('ou_edge_refused', '周九');
      await authorize(user, [CALENDAR]);
      // An operator deploys a wrong app secret for 6 hours: the token endpoint refuses us.
      s.world.faults.wrongAppSecret(s.at(0.5), 6 * 60);
      await s.runTo(s.at(1.5), [user.openId]);
      expect(s.violations).toEqual([]);

      const refused = s.world.log.events
        .filter((e) => e.openId === user.openId && e.what.startsWith('refresh refused'))
        .map((e) => e.at);
      expect(refused.length, 'refused, and tried again while the secret was wrong').toBeGreaterThanOrEqual(2);
      const gaps = refused.slice(1).map((at, i) => at - refused[i]!);
      expect(Math.min(...gaps), 'the shortest wait after a refusal (ms)').toBeGreaterThanOrEqual(HOUR);
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'authorized' });
      expect(rotationDays(s, user).at(-1), 'refreshed once the secret was fixed').toBeGreaterThan(0.75);
      expect(await user.readToken()).toMatchObject({ status: 200 });
    },
    TIMEOUT_MS,
  );
  it(
    "asks for a token read's refresh with priority key 1, ahead of the scheduled ones",
    async () => {
      const s = await start();
      const user = s.user('ou_edge_priority', '蒋三');
      await authorize(user, [CALENDAR]);
      await s.runTo(s.at(6.5), [user.openId]);
      expect(rotationDays(s, user), 'a scheduled refresh').toHaveLength(1);
      const validUntil = (await s.time.now()) + 3 * HOUR;
      await s.step(user.openId, 'GET token, valid for 3 hours', () =>
        s.grants.ensureFresh(user.openId, validUntil),
      );
      expect(rotationDays(s, user), 'and one for the read').toHaveLength(2);

      const { events } = await s.client.workflow.getHandle(user.workflowId).fetchHistory();
      const refreshes = (events ?? [])
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'refreshGrant');
      expect(refreshes.map((a) => a?.priority?.priorityKey ?? 0)).toEqual([0, 1]);
    },
    TIMEOUT_MS,
  );
  it(
    'continues as new after 400 updates that wake nothing (reads of a fresh token)',
    async () => {
      const s = await start();
      const user = s.user('ou_edge_reads', '沈四');
      await authorize(user, [CALENDAR]);
      const firstRun = await runIdOf(s, user);
      // Each read is an update the run accepts, and none refreshes. Sent without the API's 10 s
      // patience, which a loaded machine can exceed; a read that meets the run's end is asked again.
      const handle = s.client.workflow.getHandle(user.workflowId);
      const read = async () =>
        handle
          .executeUpdate(ensureFreshToken, { args: [{ validUntil: await s.time.now() }] })
          .then(() => true)
          .catch(() => false);
      for (let reads = 0; reads < 450; reads++) {
        expect((await read()) || (await read()), `read ${reads}`).toBe(true);
      }
      await s.settle(user.openId);
      expect(s.violations).toEqual([]);
      expect(await runIdOf(s, user), 'the run continued as new').not.toBe(firstRun);
      const { events } = await s.client.workflow.getHandle(user.workflowId, firstRun).fetchHistory();
      const accepted = (events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      expect(accepted.length, 'updates the first run accepted').toBeLessThanOrEqual(402);
      expect(await s.grants.state(user.openId)).toMatchObject({ status: 'authorized' });
      expect(rotationDays(s, user), 'no refresh').toHaveLength(0);
    },
    TIMEOUT_MS,
  );
});
