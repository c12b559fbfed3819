import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { GrantService } from '../api/grants.ts';
import { migrate } from '../db/migrate.ts';
import { grantSettingsFrom } from '../lib/config.ts';
import { decodeHistoryJSON } from '../lib/history-payloads.ts';
import { SodiumPayloadCodec } from '../lib/payload-codec.ts';
import { authorizeUrlOf, cardOf, eventually, onlyCardFor } from '../test/helpers/cards.ts';
import { authorize, deviceCard, openRedirect, pendingCard, waitForCardTitle } from '../test/helpers/flows.ts';
import {
  addToManifest,
  historiesDir,
  readManifest,
  sha256Of,
  type ManifestEntry,
} from '../test/helpers/history-fixtures.ts';
import { startStack, type Stack, type StackOptions } from '../test/helpers/stack.ts';
import { getToken } from '../test/helpers/tokens.ts';
import { requestAuthorization, revoke } from '../workflows/messages.ts';
import { batchWorkflowId, callbackWorkflowId } from '../workflows/task-queues.ts';
import { step } from './stack/progress.ts';
import { ensureLocalPostgres } from './stack/postgres.ts';
import { findOrBuildTemporalCli } from './stack/temporal-cli.ts';
import { ensureDevServer } from './stack/temporal-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Its own database and port, so recording runs beside `npm start` (7233) and `npm test` (a free port of its own). */
const DATABASE = 'feishu_user_auth_histories';
const TEMPORAL_PORT = 37233;

const USAGE = `usage: npm run histories:record -- --workflow-version <folder> [scenario …]
       npm run histories:record -- --list

Drives one user's grant down each path (every scenario, or the ones named) against a real stack:
the Feishu sandbox, the API and a worker running this checkout's workflow code, PostgreSQL (database
${DATABASE}) and a Temporal dev server of its own (port ${TEMPORAL_PORT}). Saves each history decoded
as test/histories/<folder>/<scenario>.json (a path that continues as new: one file per run,
<scenario>.run1.json, …) and lists it in test/histories/manifest.json.

Fixtures are append-only: a scenario whose file exists is refused before anything runs. Record
new workflow code into a new folder, named after its patch (for example grant-v2).`;

/** Lifetimes and settings that make refreshes due within seconds, driven by token reads only. */
const SHORT_ACCESS_TOKENS: StackOptions = {
  sandbox: { lifetimes: { accessTokenSeconds: 3, refreshTokenSeconds: 600 } },
  settings: { refreshLeadSeconds: 60, refreshJitterSeconds: 0, accessTokenMarginSeconds: 1 },
};

/** Lifetimes and settings under which the grant's own loop refreshes a few seconds after authorizing. */
const SOON_SCHEDULED_REFRESH: StackOptions = {
  sandbox: { lifetimes: { accessTokenSeconds: 4, refreshTokenSeconds: 8 } },
  settings: { refreshLeadSeconds: 6, refreshJitterSeconds: 0 },
};

const TOKEN_ENDPOINT = '/oauth/v3/token';

/** Device-flow grants, polled every second. */
const DEVICE_FLOW: StackOptions = {
  env: { FEISHU_AUTH_FLOW: 'device' },
  sandbox: { lifetimes: { deviceIntervalSeconds: 1 } },
};

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** How many device-code polls Feishu has answered with `error` (the sandbox counts them all). */
const devicePollAnswers = (stack: Stack, error: string) =>
  stack.sandbox.state.tokenEvents().filter((e) => e.grantType === DEVICE_GRANT && e.error === error).length;

interface Scenario {
  name: string;
  /** What the history shows (`--list`). */
  about: string;
  options?: StackOptions;
  /** Drives one user's grant down the path; the history is saved when it returns. */
  run(stack: Stack, openId: string): Promise<void>;
  /** The workflow whose history is saved: the user's grant unless the scenario names another. */
  workflowId?(stack: Stack, openId: string): string;
}

const handleOf = (stack: Stack, openId: string) =>
  stack.temporal.workflow.getHandle(stack.grants.workflowId(openId));

const settled = (stack: Stack, openId: string) => handleOf(stack, openId).result();

async function statusOf(stack: Stack, openId: string): Promise<string | undefined> {
  const res = await stack.api(`/v1/authorizations/${openId}`);
  return res.ok ? ((await res.json()) as { status: string }).status : undefined;
}

async function untilStatus(stack: Stack, openId: string, status: string): Promise<void> {
  await eventually(`the grant to be ${status}`, async () =>
    (await statusOf(stack, openId)) === status ? true : undefined,
  );
}

/** The user's n-th card from the bot (1-based), once it has arrived. */
async function nthCard(stack: Stack, openId: string, n: number): Promise<string> {
  const message = await eventually(`card ${n} for the user`, () => {
    const cards = stack.sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive');
    return cards[n - 1];
  });
  return message.messageId;
}

async function approveCard(stack: Stack, openId: string, messageId: string): Promise<void> {
  const url = authorizeUrlOf(cardOf(stack.sandbox, messageId));
  const page = await openRedirect(stack.sandbox.approveAuthorization(url, openId));
  if (page.outcome !== 'authorized') throw new Error(`expected authorized, got ${page.outcome}`);
}

async function requestScopes(stack: Stack, openId: string, scopes: string[]): Promise<void> {
  const res = await stack.api('/v1/authorizations', {
    method: 'POST',
    body: JSON.stringify({ open_id: openId, scopes }),
  });
  if (res.status !== 202) throw new Error(`POST /v1/authorizations answered ${res.status}`);
}

/** Until the workflow itself says authorized: the settle is over and its status published. */
async function untilWorkflowAuthorized(stack: Stack, openId: string): Promise<void> {
  await eventually('the workflow to be authorized', async () =>
    (await stack.grants.state(openId))?.status === 'authorized' ? true : undefined,
  );
}

/** Waits (on the clock) until the stored access token is inside the 1 s margin of SHORT_ACCESS_TOKENS. */
async function untilAccessTokenDue(stack: Stack, openId: string): Promise<void> {
  const { rows } = await stack.db.query<{ access_expires_at: Date }>(
    'SELECT access_expires_at FROM grants WHERE app_id = $1 AND open_id = $2',
    [stack.appId, openId],
  );
  await eventually('the access token to be inside its margin', () =>
    rows[0]!.access_expires_at.getTime() - Date.now() < 1000 ? true : undefined,
  );
}

/** Answers of the sandbox's token endpoint with this Feishu code (faults included). */
const tokenEndpointAnswers = (stack: Stack, code: number) =>
  stack.sandbox.state.counters()[`POST ${TOKEN_ENDPOINT}`]?.[String(code)] ?? 0;

/** The batch the batch scenarios submit: a fixed id, so the scenario knows which workflow to save. */
const FIXTURE_BATCH = 'fixture';

/** Three users a batch, two a run: the batch continues as new once. */
const SMALL_BATCH_RUNS: StackOptions = { env: { BATCH_USERS_PER_RUN: '2' } };

async function runBatch(stack: Stack, path: string, openIds: string[]): Promise<void> {
  const res = await stack.api(path, {
    method: 'POST',
    body: JSON.stringify({ batch_id: FIXTURE_BATCH, open_ids: openIds }),
  });
  if (res.status !== 202) throw new Error(`POST ${path} answered ${res.status}`);
  await eventually('the batch to finish', async () => {
    const status = await stack.api(`/v1/authorizations:batch/${FIXTURE_BATCH}`);
    return ((await status.json()) as { status: string }).status === 'finished' ? true : undefined;
  });
}

const batchWorkflow = (stack: Stack) => batchWorkflowId(stack.appId, FIXTURE_BATCH);

/** The Feishu-callback workflow of the latest DM or click Feishu (the sandbox) delivered, by its event id. */
function latestCallback(stack: Stack): string {
  const delivery = stack.sandbox.state
    .deliveries()
    .findLast(
      (d) =>
        d.appId === stack.appId &&
        (d.eventType === 'im.message.receive_v1' || d.eventType === 'card.action.trigger'),
    );
  if (!delivery) throw new Error('no DM or click was delivered');
  return callbackWorkflowId(stack.appId, delivery.eventId);
}

const scenarios: Scenario[] = [
  {
    name: 'authorized',
    about: 'card, consent, code exchange, card shows authorized',
    run: async (stack, openId) => {
      await authorize(stack, openId, ['calendar:calendar:readonly']);
    },
  },
  {
    name: 'older-api-authorized',
    about: 'started by an API that passes fewer settings than the worker knows, then authorized',
    run: async (stack, openId) => {
      const { refreshesPerRun: _addedByTheDeploy, ...olderApiSettings } = grantSettingsFrom(stack.config);
      const olderApi = new GrantService(
        stack.temporal,
        stack.appId,
        stack.config.TEMPORAL_TASK_QUEUE,
        olderApiSettings,
      );
      await olderApi.request(openId, { scopes: ['calendar:calendar:readonly'], source: 'api' });
      const messageId = await nthCard(stack, openId, 1);
      await approveCard(stack, openId, messageId);
      await waitForCardTitle(stack, messageId, '已授权');
    },
  },
  {
    name: 'denied',
    about: 'the user declines on the consent page; the run ends',
    run: async (stack, openId) => {
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl));
      await waitForCardTitle(stack, messageId, '已拒绝授权');
      await settled(stack, openId);
    },
  },
  {
    name: 'expired',
    about: 'nobody answers the card before it expires; the run ends',
    options: { settings: { attemptExpirySeconds: 2 } },
    run: async (stack, openId) => {
      const { messageId } = await pendingCard(stack, openId);
      await waitForCardTitle(stack, messageId, '授权请求已过期');
      await settled(stack, openId);
    },
  },
  {
    name: 'refreshed',
    about: 'an authorized grant refreshes on its own schedule',
    options: {
      sandbox: { lifetimes: { accessTokenSeconds: 5, refreshTokenSeconds: 30 } },
      settings: { refreshLeadSeconds: 25, refreshJitterSeconds: 0 },
    },
    run: async (stack, openId) => {
      await authorize(stack, openId);
      await eventually(
        'a scheduled refresh',
        async () => ((await stack.grants.state(openId))?.refreshCount ?? 0) >= 1 || undefined,
        30_000,
      );
    },
  },
  {
    name: 'revoked',
    about: 'DELETE /v1/users/:openId/authorization on an authorized grant; the run ends',
    run: async (stack, openId) => {
      const messageId = await authorize(stack, openId);
      const res = await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });
      if (!res.ok) throw new Error(`revoke answered ${res.status}`);
      await waitForCardTitle(stack, messageId, '授权已撤销');
      await settled(stack, openId);
    },
  },
  {
    name: 'late-card-revoke',
    about:
      "a card Revoke delivered again after the user's next request: that request's card is left alone and approved",
    run: async (stack, openId) => {
      const messageId = await authorize(stack, openId);
      const pressedAt = Date.now();
      await stack.sandbox.clickCardButton(messageId, { action: 'revoke' }, openId);
      await waitForCardTitle(stack, messageId, '授权已撤销');
      await settled(stack, openId);
      await requestScopes(stack, openId, ['calendar:calendar:readonly']);
      const next = await nthCard(stack, openId, 2);
      await handleOf(stack, openId).executeUpdate(revoke, {
        args: [{ source: 'card', by: { card_operator: openId }, requestedAt: pressedAt }],
      });
      await approveCard(stack, openId, next);
      await untilWorkflowAuthorized(stack, openId);
    },
  },
  {
    name: 'request-during-exchange',
    about:
      'a request arrives while the consent is exchanged (a Retry delivered again): it finds the grant authorized, the card stays so',
    run: async (stack, openId) => {
      const scopes = ['calendar:calendar:readonly'];
      await requestScopes(stack, openId, scopes);
      const messageId = await nthCard(stack, openId, 1);
      // Feishu slow to answer the code exchange: the second request lands while it is in flight.
      stack.sandbox.faults.set({ latencyMs: 2_000, pathPrefix: TOKEN_ENDPOINT });
      try {
        const consent = approveCard(stack, openId, messageId);
        await eventually('the code exchange in flight', async () => {
          const { raw } = await handleOf(stack, openId).describe();
          return raw.pendingActivities?.some((a) => a.activityType?.name === 'exchangeCode') || undefined;
        });
        const again = await handleOf(stack, openId).executeUpdate(requestAuthorization, {
          args: [{ scopes, source: 'card_retry', reuseMessageId: messageId }],
        });
        await consent;
        if (again.status !== 'authorized') throw new Error(`the second request answered ${again.status}`);
      } finally {
        stack.sandbox.faults.reset();
      }
      await untilWorkflowAuthorized(stack, openId);
    },
  },
  {
    name: 'continued-as-new',
    about: 'refreshes until refreshesPerRun, then continues as new (run1 ends so, run2 starts from it)',
    options: {
      ...SOON_SCHEDULED_REFRESH,
      settings: { ...SOON_SCHEDULED_REFRESH.settings, refreshesPerRun: 2 },
    },
    run: async (stack, openId) => {
      await authorize(stack, openId);
      const firstRun = (await handleOf(stack, openId).describe()).runId;
      await eventually(
        'continue-as-new',
        async () => ((await handleOf(stack, openId).describe()).runId !== firstRun ? true : undefined),
        30_000,
      );
    },
  },
  {
    name: 'needs-reauth-reauthorized',
    about:
      'Feishu revoked the grant: a token read refreshes into needs_reauth, the re-authorize card is approved',
    options: SHORT_ACCESS_TOKENS,
    run: async (stack, openId) => {
      await authorize(stack, openId);
      stack.sandbox.revokeGrant(stack.appId, openId);
      await untilAccessTokenDue(stack, openId);
      const read = await getToken(stack, openId);
      if (read.status !== 410) throw new Error(`the token read answered ${read.status}, not 410`);
      await untilStatus(stack, openId, 'needs_reauth');
      await approveCard(stack, openId, await nthCard(stack, openId, 2));
      await untilStatus(stack, openId, 'authorized');
    },
  },
  {
    name: 'renewal',
    about: 'the renewal card before the grant cap is approved; the clock restarts',
    options: {
      // A "year" of 8 s with the notice 6 s ahead: the renewal card comes 2 s after authorizing.
      sandbox: { lifetimes: { grantMaxSeconds: 8 } },
      settings: {
        grantMaxAgeSeconds: 8,
        renewNoticeSeconds: 6,
        refreshLeadSeconds: 60,
        refreshJitterSeconds: 0,
      },
    },
    run: async (stack, openId) => {
      await authorize(stack, openId);
      const renewal = await nthCard(stack, openId, 2);
      await approveCard(stack, openId, renewal);
      await waitForCardTitle(stack, renewal, '已授权');
    },
  },
  {
    name: 'token-read-refreshes',
    about: 'GET /v1/users/:openId/token inside the margin: ensureFreshToken refreshes',
    options: SHORT_ACCESS_TOKENS,
    run: async (stack, openId) => {
      await authorize(stack, openId);
      await untilAccessTokenDue(stack, openId);
      const read = await getToken(stack, openId);
      if (read.status !== 200) throw new Error(`the token read answered ${read.status}`);
    },
  },
  {
    name: 'token-read-fresh',
    about: 'ensureFreshToken finds the token fresh (a read that queued behind another read’s refresh)',
    run: async (stack, openId) => {
      await authorize(stack, openId);
      // What the API sends; a read outside the margin never reaches the workflow at all.
      if (!(await stack.grants.ensureFresh(openId, Date.now() + 1000)))
        throw new Error('ensureFreshToken did not answer with the token');
    },
  },
  {
    name: 'new-scopes-denied',
    about: 'an authorized grant is asked for a new scope; the user declines; the grant keeps its scopes',
    run: async (stack, openId) => {
      await authorize(stack, openId, ['calendar:calendar:readonly']);
      await requestScopes(stack, openId, ['docx:document:readonly']);
      const second = await nthCard(stack, openId, 2);
      await openRedirect(stack.sandbox.denyAuthorization(authorizeUrlOf(cardOf(stack.sandbox, second))));
      await waitForCardTitle(stack, second, '已拒绝授权');
      await untilStatus(stack, openId, 'authorized');
    },
  },
  {
    name: 'superseded',
    about: 'an authorized grant is asked for a new scope and the user approves: the first card is superseded',
    run: async (stack, openId) => {
      const first = await authorize(stack, openId, ['calendar:calendar:readonly']);
      await requestScopes(stack, openId, ['docx:document:readonly']);
      const second = await nthCard(stack, openId, 2);
      await approveCard(stack, openId, second);
      await waitForCardTitle(stack, second, '已授权');
      await waitForCardTitle(stack, first, '授权请求已被替代');
    },
  },
  {
    name: 'cancelled',
    about: 'the user presses Cancel on the pending card; the run ends',
    run: async (stack, openId) => {
      const { messageId } = await pendingCard(stack, openId);
      await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      await waitForCardTitle(stack, messageId, '授权请求已取消');
      await settled(stack, openId);
    },
  },
  {
    name: 'failed-exchange',
    about: 'Feishu’s token endpoint fails through every retry of the code exchange; the card offers Retry',
    run: async (stack, openId) => {
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      stack.sandbox.faults.set({ serverErrorRate: 1, pathPrefix: TOKEN_ENDPOINT });
      try {
        const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
        if (page.outcome !== 'failed') throw new Error(`expected failed, got ${page.outcome}`);
      } finally {
        stack.sandbox.faults.reset();
      }
      await waitForCardTitle(stack, messageId, '授权失败');
      await settled(stack, openId);
    },
  },
  {
    name: 'card-not-updatable',
    about: 'new scopes approved 15 days after the first card, which Feishu no longer lets anyone patch',
    run: async (stack, openId) => {
      const first = await authorize(stack, openId, ['calendar:calendar:readonly']);
      stack.sandbox.ageMessage(first, 15 * 86_400_000);
      await requestScopes(stack, openId, ['docx:document:readonly']);
      const second = await nthCard(stack, openId, 2);
      await approveCard(stack, openId, second);
      await waitForCardTitle(stack, second, '已授权');
      await untilStatus(stack, openId, 'authorized');
    },
  },
  {
    name: 'revoked-during-failed-refresh',
    about: 'DELETE while the scheduled refresh keeps failing (Feishu 5xx); the run ends revoked',
    options: SOON_SCHEDULED_REFRESH,
    run: async (stack, openId) => {
      const messageId = await authorize(stack, openId);
      stack.sandbox.faults.set({ serverErrorRate: 1, pathPrefix: TOKEN_ENDPOINT });
      try {
        await eventually('a failed refresh', () =>
          tokenEndpointAnswers(stack, 20050) >= 1 ? true : undefined,
        );
        const res = await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });
        if (!res.ok) throw new Error(`revoke answered ${res.status}`);
      } finally {
        stack.sandbox.faults.reset();
      }
      await waitForCardTitle(stack, messageId, '授权已撤销');
      await settled(stack, openId);
    },
  },
  {
    name: 'device-authorized',
    about: 'device flow: polls answered authorization_pending, then slow_down (interval +5 s), then approved',
    options: DEVICE_FLOW,
    run: async (stack, openId) => {
      const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
      await eventually('a pending poll', () =>
        devicePollAnswers(stack, 'authorization_pending') >= 1 ? true : undefined,
      );
      stack.sandbox.slowDownDevice(userCode, 2);
      await eventually('a slow_down', () => (devicePollAnswers(stack, 'slow_down') >= 1 ? true : undefined));
      stack.sandbox.approveDevice(userCode, openId);
      await waitForCardTitle(stack, messageId, '已授权');
    },
  },
  {
    name: 'device-denied',
    about: 'device flow: the user declines on the verification page (access_denied); the run ends',
    options: DEVICE_FLOW,
    run: async (stack, openId) => {
      const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
      stack.sandbox.denyDevice(userCode);
      await waitForCardTitle(stack, messageId, '已拒绝授权');
      await settled(stack, openId);
    },
  },
  {
    name: 'device-expired',
    about: 'device flow: the device code expires unused (expired_token); the run ends',
    options: DEVICE_FLOW,
    run: async (stack, openId) => {
      const { messageId, userCode } = await deviceCard(stack, { open_id: openId });
      stack.sandbox.expireDevice(userCode);
      await waitForCardTitle(stack, messageId, '授权请求已过期');
      await settled(stack, openId);
    },
  },
  {
    name: 'settled-card-refused',
    about:
      'the card is 15 days old when the user approves: the settle records that Feishu refused it, no retry',
    run: async (stack, openId) => {
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      stack.sandbox.ageMessage(messageId, 15 * 86_400_000);
      const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
      if (page.outcome !== 'authorized') throw new Error(`expected authorized, got ${page.outcome}`);
      await untilWorkflowAuthorized(stack, openId);
    },
  },
  {
    name: 'settled-card-unreached',
    about: 'Feishu answers the settle’s card update 502 once: updateCard shows the outcome',
    run: async (stack, openId) => {
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      stack.sandbox.faults.failNext('http5xx', { pathPrefix: `/open-apis/im/v1/messages/${messageId}` });
      const page = await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId));
      if (page.outcome !== 'authorized') throw new Error(`expected authorized, got ${page.outcome}`);
      await waitForCardTitle(stack, messageId, '已授权');
      await untilWorkflowAuthorized(stack, openId);
    },
  },
  {
    name: 'callback-dm',
    about: 'the Feishu-callback workflow of a DM "授权": one activity asks the grant, which sends a card',
    workflowId: latestCallback,
    run: async (stack, openId) => {
      await stack.sandbox.sendUserMessage(stack.appId, openId, '授权');
      const [card] = await onlyCardFor(stack.sandbox, openId);
      await waitForCardTitle(stack, card!.messageId, '授权请求');
      await stack.temporal.workflow.getHandle(latestCallback(stack)).result();
    },
  },
  {
    name: 'callback-cancel',
    about:
      "the Feishu-callback workflow of a Cancel click: a timer to the end of Feishu's 3 s, then the signal",
    workflowId: latestCallback,
    run: async (stack, openId) => {
      const { messageId } = await pendingCard(stack, openId);
      await stack.sandbox.clickCardButton(messageId, { action: 'cancel' }, openId);
      await waitForCardTitle(stack, messageId, '授权请求已取消');
      await stack.temporal.workflow.getHandle(latestCallback(stack)).result();
    },
  },
  {
    name: 'batch-request',
    about:
      'the batch workflow: three users asked (one authorized already), two a run, so one continue-as-new',
    options: SMALL_BATCH_RUNS,
    workflowId: batchWorkflow,
    run: async (stack, openId) => {
      await authorize(stack, openId);
      const others = [1, 2].map((i) => stack.sandbox.openIdOf(stack.appId, i));
      await runBatch(stack, '/v1/authorizations:batch', [openId, ...others]);
    },
  },
  {
    name: 'batch-revoke',
    about: 'the batch workflow revoking three users (two granted, one not), two a run',
    options: SMALL_BATCH_RUNS,
    workflowId: batchWorkflow,
    run: async (stack, openId) => {
      const second = stack.sandbox.openIdOf(stack.appId, 1);
      await authorize(stack, openId);
      await authorize(stack, second);
      await runBatch(stack, '/v1/authorizations:batchRevoke', [
        openId,
        second,
        stack.sandbox.openIdOf(stack.appId, 2),
      ]);
    },
  },
];

const { EventType } = proto.temporal.api.enums.v1;
const isInFlight = (type: proto.temporal.api.enums.v1.EventType | null | undefined) =>
  type === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED ||
  type === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED ||
  type === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;

/**
 * Every run of the workflow's current chain, oldest first, each between workflow tasks and not
 * waiting on an activity it just scheduled (an open run is never saved halfway through a step: a
 * card shown from inside an activity is seen before the activity's result is recorded). Runs
 * are linked by continue-as-new.
 */
async function runsOf(stack: Stack, workflowId: string): Promise<History[]> {
  const runs: History[] = [];
  let runId: string | undefined;
  do {
    const history = await eventually('the workflow to be between tasks', async () => {
      const fetched = await stack.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
      return isInFlight(fetched.events?.at(-1)?.eventType) ? undefined : fetched;
    });
    runs.unshift(history);
    runId =
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  } while (runId);
  return runs;
}

/** What a scenario's fixtures are called: taken if any exists or is listed, whatever its run count. */
function takenNames(folder: string, scenario: string): string[] {
  const ours = (file: string) => file === `${scenario}.json` || file.startsWith(`${scenario}.run`);
  const dir = path.join(historiesDir, folder);
  const onDisk = existsSync(dir) ? readdirSync(dir).filter(ours) : [];
  const listed = Object.keys(readManifest().fixtures)
    .filter((f) => f.startsWith(`${folder}/`))
    .map((f) => f.slice(folder.length + 1))
    .filter(ours);
  return [...new Set([...onDisk, ...listed])].map((f) => `${folder}/${f}`);
}

/** The commit whose workflow code runs, `-dirty` when what makes a history has uncommitted changes. */
function workflowCodeVersion(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'workflows', 'activities', 'lib') ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/**
 * Saves the histories decoded, so they are readable in review and replay without the (per-stack,
 * random) codec key they were recorded with. Never overwrites: the file must not exist.
 */
async function saveRuns(
  stack: Stack,
  workflowId: string,
  folder: string,
  scenario: string,
  recordedAt: string,
) {
  const runs = await runsOf(stack, workflowId);
  const codec = new SodiumPayloadCodec(stack.config.PAYLOAD_CODEC_KEYS);
  mkdirSync(path.join(historiesDir, folder), { recursive: true });
  const added: Record<string, ManifestEntry> = {};
  for (const [i, history] of runs.entries()) {
    const fixture = `${folder}/${scenario}${runs.length > 1 ? `.run${i + 1}` : ''}.json`;
    const decoded = await decodeHistoryJSON(JSON.parse(historyToJSON(history)), codec);
    writeFileSync(path.join(historiesDir, fixture), `${JSON.stringify(decoded, null, 2)}\n`, { flag: 'wx' });
    added[fixture] = { sha256: sha256Of(fixture), recordedAt };
    step(`saved test/histories/${fixture} (${history.events?.length ?? 0} events)`);
  }
  addToManifest(added);
}

async function record(folder: string, chosen: Scenario[]): Promise<string[]> {
  const recordedAt = workflowCodeVersion();
  const pg = await ensureLocalPostgres(DATABASE, { fresh: true });
  await migrate(pg.databaseUrl);
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: TEMPORAL_PORT,
    logFile: path.join(root, '.data', 'histories', 'temporal.log'),
    namespace: 'default',
  });
  const failed: string[] = [];
  try {
    for (const scenario of chosen) {
      step(`recording ${folder}/${scenario.name}: ${scenario.about}`);
      const stack = await startStack({
        ...scenario.options,
        infra: { databaseUrl: pg.databaseUrl, temporalAddress: server.address },
      });
      try {
        const openId = stack.sandbox.openIdOf(stack.appId, 0);
        await scenario.run(stack, openId);
        const workflowId = scenario.workflowId?.(stack, openId) ?? stack.grants.workflowId(openId);
        await saveRuns(stack, workflowId, folder, scenario.name, recordedAt);
      } catch (err) {
        // The other paths are still worth recording; this one saved nothing.
        step(`FAILED ${scenario.name}: ${err instanceof Error ? err.message : String(err)}`);
        failed.push(scenario.name);
      } finally {
        await stack.close();
      }
    }
  } finally {
    await server.stop();
  }
  return failed;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'workflow-version': { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.list) {
    const width = Math.max(...scenarios.map((s) => s.name.length));
    for (const s of scenarios) process.stdout.write(`${s.name.padEnd(width)}  ${s.about}\n`);
    return 0;
  }
  const folder = values['workflow-version'];
  if (values.help || !folder) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const refuse = (why: string) => {
    process.stderr.write(`npm run histories:record: ${why}\n`);
    return 2;
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(folder)) {
    return refuse(`--workflow-version must be a folder name (letters, digits, . _ -), not "${folder}"`);
  }
  const unknown = positionals.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) {
    return refuse(`no scenario ${unknown.join(', ')}; npm run histories:record -- --list shows them`);
  }
  const chosen = positionals.length ? scenarios.filter((s) => positionals.includes(s.name)) : scenarios;
  const taken = chosen.flatMap((s) => takenNames(folder, s.name));
  if (taken.length > 0) {
    return refuse(
      `refusing to overwrite ${taken.map((f) => `test/histories/${f}`).join(', ')}: fixtures are ` +
        `append-only. Record into a new --workflow-version folder, or name only the missing scenarios.`,
    );
  }
  const failed = await record(folder, chosen);
  if (failed.length === 0) return 0;
  process.stderr.write(
    `not recorded: ${failed.join(', ')}. Fix and run again with only those names:\n` +
      `  npm run histories:record -- --workflow-version ${folder} ${failed.join(' ')}\n`,
  );
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm run histories:record: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
