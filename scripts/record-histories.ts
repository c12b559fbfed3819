import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { migrate } from '../db/migrate';
import { decodeHistoryJSON } from '../lib/history-payloads';
import { SodiumPayloadCodec } from '../lib/payload-codec';
import { eventually } from '../test/helpers/cards';
import { authorize, openRedirect, pendingCard, waitForCardTitle } from '../test/helpers/flows';
import { startStack, type Stack, type StackOptions } from '../test/helpers/stack';
import { grantWorkflowId } from '../workflows/task-queues';
import { step } from './stack/progress';
import { ensureLocalPostgres } from './stack/postgres';
import { findOrBuildTemporalCli } from './stack/temporal-cli';
import { ensureDevServer } from './stack/temporal-server';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'test', 'histories');

/** Its own database and port, so recording runs beside `npm start` (7233) and `npm test` (a free port of its own). */
const DATABASE = 'feishu_user_auth_histories';
const TEMPORAL_PORT = 37233;

interface Scenario {
  name: string;
  options?: StackOptions;
  /** Drives one user's grant to the path's end. */
  run(stack: Stack, openId: string): Promise<void>;
}

const settled = (stack: Stack, openId: string) =>
  stack.temporal.workflow.getHandle(grantWorkflowId(stack.appId, openId)).result();

const scenarios: Scenario[] = [
  {
    name: 'authorized',
    run: async (stack, openId) => {
      await authorize(stack, openId, ['calendar:calendar:readonly']);
    },
  },
  {
    name: 'denied',
    run: async (stack, openId) => {
      const { messageId, authorizeUrl } = await pendingCard(stack, openId);
      await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl));
      await waitForCardTitle(stack, messageId, '已拒绝授权');
      await settled(stack, openId);
    },
  },
  {
    name: 'expired',
    options: { settings: { attemptExpirySeconds: 2 } },
    run: async (stack, openId) => {
      const { messageId } = await pendingCard(stack, openId);
      await waitForCardTitle(stack, messageId, '授权请求已过期');
      await settled(stack, openId);
    },
  },
  {
    name: 'refreshed',
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
    run: async (stack, openId) => {
      const messageId = await authorize(stack, openId);
      const res = await stack.api(`/v1/users/${openId}/authorization`, { method: 'DELETE' });
      if (!res.ok) throw new Error(`revoke answered ${res.status}`);
      await waitForCardTitle(stack, messageId, '授权已撤销');
      await settled(stack, openId);
    },
  },
];

/**
 * The history as a fixture: payloads decoded, so the file is readable in review and replays
 * without the (per-stack, random) codec key it was recorded with.
 */
async function saveHistory(stack: Stack, openId: string, name: string): Promise<void> {
  const handle = stack.temporal.workflow.getHandle(grantWorkflowId(stack.appId, openId));
  // An open run is saved between workflow tasks, never halfway through one.
  await eventually('the workflow to be between tasks', async () =>
    (await handle.describe()).raw.pendingWorkflowTask ? undefined : true,
  );
  const history = await handle.fetchHistory();
  const codec = new SodiumPayloadCodec(stack.config.PAYLOAD_CODEC_KEYS);
  const decoded = await decodeHistoryJSON(JSON.parse(historyToJSON(history)), codec);
  const file = path.join(outDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(decoded, null, 2)}\n`);
  step(`saved ${path.relative(root, file)} (${history.events?.length ?? 0} events)`);
}

async function main(): Promise<void> {
  const pg = await ensureLocalPostgres(DATABASE, { fresh: true });
  await migrate(pg.databaseUrl);
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: TEMPORAL_PORT,
    logFile: path.join(root, '.data', 'histories', 'temporal.log'),
    namespace: 'default',
  });
  mkdirSync(outDir, { recursive: true });
  try {
    for (const scenario of scenarios) {
      step(`recording ${scenario.name}`);
      const stack = await startStack({
        ...scenario.options,
        infra: { databaseUrl: pg.databaseUrl, temporalAddress: server.address },
      });
      try {
        const openId = stack.sandbox.openIdOf(stack.appId, 0);
        await scenario.run(stack, openId);
        await saveHistory(stack, openId, scenario.name);
      } finally {
        await stack.close();
      }
    }
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`npm run histories:record: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
