import { Client, Connection } from '@temporalio/client';
import { pathToFileURL } from 'node:url';
import { grantStartOptions } from '../api/grants.ts';
import { sealTokens } from '../activities/seal-tokens.ts';
import { loadConfig } from '../lib/config.ts';
import { createDb, type Db } from '../lib/db.ts';
import { FeishuGateway } from '../lib/feishu/gateway.ts';
import { authorizeUrl, newOAuthSecrets } from '../lib/feishu/oauth.ts';
import { createLogger } from '../lib/logger.ts';
import { saveAuthorizedGrant, tokenMetaOf } from '../lib/store/grants.ts';
import { TokenCipher, sodiumReady } from '../lib/token-crypto.ts';
import { grantWorkflow, type GrantWorkflowInput } from '../workflows/grant.ts';
import { ensureFreshToken } from '../workflows/messages.ts';
import { grantDataConverter } from '../lib/data-converter.ts';
import { performance } from 'node:perf_hooks';
import { grantWorkflowId } from '../workflows/task-queues.ts';
import { DEFAULT_GRANT_SETTINGS, type TokenMeta } from '../lib/grant-types.ts';
import { benchOpenId, RssSampler, serviceEnv } from './provision.ts';
import { startBenchStack, type BenchStack } from './stack.ts';
import {
  log,
  mb,
  numberFlag,
  parseFlags,
  peakInWindow,
  printJson,
  runBenchCommand,
  printTable,
  round,
  runPool,
  sleep,
  summarize,
  type Flags,
  type Summary,
} from './stats.ts';

export interface GrantsBenchOptions {
  /** Live grants held by the one worker. */
  grants: number;
  /** How many of them come due at the same instant. */
  due: number;
  /** The worker's REFRESH_RATE_PER_SECOND (Feishu's token endpoint: 50/s and 1000/min per app). */
  rate: number;
  /** Seconds all grants sleep together before the due ones wake (RSS is sampled meanwhile). */
  hold: number;
  /** Seeding concurrency. */
  concurrency: number;
  /** --max-old-space-size for the worker (0: Node's default); the SDK sizes its workflow cache from it. */
  workerHeapMb: number;
  /** Grants woken one at a time from the worker's cache, and as many from history, after the refreshes. */
  wake: number;
}

export function grantsOptions(flags: Flags, defaults: GrantsBenchOptions): GrantsBenchOptions {
  const options = {
    grants: numberFlag(flags, 'grants', defaults.grants),
    due: numberFlag(flags, 'due', defaults.due),
    rate: numberFlag(flags, 'rate', defaults.rate),
    hold: numberFlag(flags, 'hold', defaults.hold),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
    workerHeapMb: numberFlag(flags, 'worker-heap-mb', defaults.workerHeapMb),
    wake: numberFlag(flags, 'wake', defaults.wake),
  };
  if (options.due > options.grants) throw new Error('--due cannot exceed --grants');
  return options;
}

interface Seeder {
  stack: BenchStack;
  client: Client;
  db: Db;
  cipher: TokenCipher;
  feishu: FeishuGateway;
  redirectUri: string;
}

/**
 * Puts one user in the state a completed authorization leaves: the sandbox issued the tokens
 * (consent + code exchange with PKCE, through the official SDK), they are sealed in PostgreSQL
 * exactly as the exchange activity writes them, and the user's grant workflow runs, authorized
 * and asleep in its refresh loop. `wakeAt` makes its refresh timer fire at that instant (no jitter).
 */
async function seedGrant(s: Seeder, openId: string, wakeAt: number | undefined): Promise<void> {
  const { appId, taskQueue } = s.stack.app;
  const secrets = newOAuthSecrets();
  const url = authorizeUrl({
    oauthDomain: s.stack.sandbox.url,
    appId,
    redirectUri: s.redirectUri,
    scopes: ['offline_access'],
    state: secrets.state,
    codeChallenge: secrets.codeChallenge,
  });
  const redirect = new URL(s.stack.sandbox.approveAuthorization(url, openId));
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirect.pathname}`);
  const tokens = await s.feishu.exchangeCode({
    code,
    redirectUri: s.redirectUri,
    codeVerifier: secrets.codeVerifier,
  });
  const sealed = sealTokens(s.cipher, appId, openId, tokens);
  const stored = tokenMetaOf(
    await saveAuthorizedGrant(s.db, appId, openId, sealed, { name: `User ${openId}` }),
  );
  const margin = DEFAULT_GRANT_SETTINGS.accessTokenMarginSeconds * 1000;
  // A due grant keeps its access token fresh (the eager policy), so it wakes exactly `margin` before
  // the access expiry it is told: wakeAt. The keep-alive rule cannot plant an instant: it never
  // sleeps less than half the refresh token's remaining life. The refresh itself is the same call.
  const token: TokenMeta = wakeAt === undefined ? stored : { ...stored, accessExpiresAt: wakeAt + margin };
  const input: GrantWorkflowInput = {
    appId,
    openId,
    // Complete settings: a run given partial ones asks the worker, whose jitter would move the wake.
    settings: {
      ...DEFAULT_GRANT_SETTINGS,
      refreshJitterSeconds: 0,
      ...(wakeAt === undefined ? {} : { refreshPolicy: 'eager' as const }),
    },
    carried: { format: 2, state: { appId, openId, status: 'authorized', token, refreshCount: 0 } },
  };
  await s.client.workflow.start(grantWorkflow, {
    ...grantStartOptions(appId, openId, taskQueue, 'authorized'),
    args: [input],
  });
}

/** Waits until the workflow's first task ran (it is asleep on its refresh timer). */
async function waitAsleep(client: Client, workflowId: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { raw } = await client.workflow.getHandle(workflowId).describe();
    if (!raw.pendingWorkflowTask && Number(raw.workflowExecutionInfo?.historyLength ?? 0) >= 4) return;
    await sleep(500);
  }
  throw new Error(`${workflowId} never ran its first workflow task`);
}

/**
 * Latency of ensureFreshToken (a token read that needs no refresh) on `wake` of the grants that
 * just refreshed, and on as many of the first seeded, alternately and one at a time. Undefined
 * when the run is too small for the first seeded to have left the cache.
 */
async function measureWakes(
  client: Client,
  options: GrantsBenchOptions,
  cacheSize: number,
  wid: (i: number) => string,
): Promise<{ cached: Summary; evicted: Summary } | undefined> {
  const sleepers = options.grants - options.due;
  const wake = Math.min(options.wake, options.due);
  if (wake === 0 || sleepers - wake < cacheSize || options.due > cacheSize) return undefined;
  log(`waking ${wake} cached and ${wake} evicted grants`);
  const time = async (workflowId: string) => {
    const t0 = performance.now();
    await client.workflow
      .getHandle(workflowId)
      .executeUpdate(ensureFreshToken, { args: [{ validUntil: Date.now() }] });
    return performance.now() - t0;
  };
  const cached: number[] = [];
  const evicted: number[] = [];
  for (let j = 0; j < wake; j++) {
    cached.push(await time(wid(options.grants - 1 - j)));
    evicted.push(await time(wid(j)));
  }
  return { cached: summarize(cached), evicted: summarize(evicted) };
}

function perSecond(times: number[], from: number, seconds: number): number[] {
  const counts = new Array<number>(seconds).fill(0);
  for (const t of times) {
    const i = Math.floor((t - from) / 1000);
    if (i < seconds) counts[i]!++;
  }
  return counts;
}

async function countRefreshed(db: Db, appId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM grants WHERE app_id = $1 AND token_version >= 2',
    [appId],
  );
  return Number(rows[0]?.n ?? 0);
}

export async function runGrantsBench(options: GrantsBenchOptions) {
  log(`bench:grants — ${options.grants} grants, ${options.due} due at once, refresh limit ${options.rate}/s`);
  await sodiumReady();
  const stack = await startBenchStack({
    users: options.grants,
    api: false,
    workerEnv: {
      REFRESH_RATE_PER_SECOND: String(options.rate),
      ...(options.workerHeapMb ? { NODE_OPTIONS: `--max-old-space-size=${options.workerHeapMb}` } : {}),
    },
  });
  const rss = new RssSampler({ worker: stack.worker.pid, temporal: stack.infra.temporalPid }, 500);
  const config = loadConfig(serviceEnv(stack.app, stack.infra, stack.sandbox.url));
  const connection = await Connection.connect({ address: stack.infra.temporalAddress });
  const db = createDb(config.DATABASE_URL, 20);
  // Encrypted like the API's: the worker refuses unencrypted payloads (the grants failed when due).
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: grantDataConverter(config.PAYLOAD_CODEC_KEYS),
  });
  const seeder: Seeder = {
    stack,
    client,
    db,
    cipher: new TokenCipher(config.TOKEN_ENCRYPTION_KEYS),
    feishu: new FeishuGateway(
      {
        appId: stack.app.appId,
        appSecret: stack.app.appSecret,
        domain: stack.sandbox.url,
        oauthDomain: stack.sandbox.url,
        tokenEndpoint: config.FEISHU_TOKEN_ENDPOINT,
      },
      createLogger('bench', 'warn'),
    ),
    redirectUri: `${stack.app.apiUrl}/oauth/callback`,
  };
  const wid = (i: number) => grantWorkflowId(stack.app.appId, benchOpenId(i));
  try {
    // 1. The grants that stay asleep.
    const sleepers = options.grants - options.due;
    const seedStarted = Date.now();
    let lastReport = seedStarted;
    const progress = (done: number) => {
      if (Date.now() - lastReport < 5_000) return;
      lastReport = Date.now();
      log(`seeded ${done}/${options.grants} (${round(done / ((lastReport - seedStarted) / 1000))}/s)`);
    };
    let seeded = 0;
    await runPool(sleepers, options.concurrency, async (i) => {
      await seedGrant(seeder, benchOpenId(i), undefined);
      progress(++seeded);
    });
    // The rate that matters is how fast grants end up asleep: the worker runs each one's first task.
    if (sleepers > 0) await waitAsleep(seeder.client, wid(sleepers - 1));
    const seedRate = sleepers / Math.max(0.001, (Date.now() - seedStarted) / 1000);

    // 2. The due grants, all waking at one instant after everyone is asleep for `hold` seconds.
    const estimate = sleepers > 0 ? (options.due / seedRate) * 1.5 : options.due / 20;
    const dueAt = Date.now() + (estimate + 10 + options.hold) * 1000;
    await runPool(options.due, options.concurrency, async (i) => {
      await seedGrant(seeder, benchOpenId(sleepers + i), dueAt);
      progress(++seeded);
    });
    if (options.due > 0) await waitAsleep(seeder.client, wid(options.grants - 1));
    const seedSeconds = (Date.now() - seedStarted) / 1000;
    const asleepAt = Date.now();
    log(
      `${options.grants} grants asleep after ${round(seedSeconds)}s seeding; due ones wake in ${round((dueAt - asleepAt) / 1000)}s`,
    );
    if (dueAt - asleepAt < 5_000) log('warning: seeding ran late; the hold phase is shorter than asked');
    const holdSeconds = round((dueAt - asleepAt) / 1000);

    // 3. Hold: every grant is a sleeping workflow. Sample RSS until just before the due instant.
    let holdPeakWorker = 0;
    let holdPeakTemporal = 0;
    while (Date.now() < dueAt - 1_000) {
      holdPeakWorker = Math.max(holdPeakWorker, rss.currentKb('worker'));
      holdPeakTemporal = Math.max(holdPeakTemporal, rss.currentKb('temporal'));
      await sleep(500);
    }
    const holdWorkerKb = rss.currentKb('worker');
    const holdTemporalKb = rss.currentKb('temporal');

    // 4. The due grants refresh; the sandbox records every call at its token endpoint.
    log(`${options.due} grants due now; waiting for their refreshes`);
    const deadline = dueAt + ((options.due / options.rate) * 3 + 120) * 1000;
    let refreshed = 0;
    let doneAt = Date.now();
    while (refreshed < options.due && Date.now() < deadline) {
      await sleep(500);
      refreshed = await countRefreshed(db, stack.app.appId);
      doneAt = Date.now();
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        log(`refreshed ${refreshed}/${options.due}`);
      }
    }
    await sleep(1_000);
    const events = stack.sandbox.state.tokenEvents().filter((e) => e.grantType === 'refresh_token');
    const times = events.map((e) => e.at);
    const first = Math.min(...times);
    const last = Math.max(...times);
    const okCount = events.filter((e) => e.ok).length;
    const spanSeconds = Math.max(0.001, (last - first) / 1000);

    // 5. Waking a grant: a token read's update to one just active (in the worker's cache) and to
    // one of the first seeded, evicted long since (the cache keeps the most recently used
    // WORKER_MAX_CACHED_WORKFLOWS), which the worker must replay from its history first.
    const wakes = await measureWakes(client, options, config.WORKER_MAX_CACHED_WORKFLOWS, wid);
    const result = {
      grants: options.grants,
      due: options.due,
      rateLimit: options.rate,
      seedSeconds: round(seedSeconds),
      seedPerSecond: round(options.grants / seedSeconds),
      holdSeconds,
      workerHeapLimitMb: options.workerHeapMb || 'node default',
      workerRssHoldMb: mb(holdWorkerKb),
      workerRssHoldPeakMb: mb(holdPeakWorker),
      temporalRssHoldMb: mb(holdTemporalKb),
      temporalRssHoldPeakMb: mb(holdPeakTemporal),
      refreshed,
      refreshCalls: events.length,
      refreshCallsFailed: events.length - okCount,
      firstCallAfterDueMs: events.length ? first - dueAt : NaN,
      allRefreshedAfterDueSeconds: round((doneAt - dueAt) / 1000),
      refreshesPerSecond: round(okCount / spanSeconds),
      peakPerSecond: peakInWindow(times, 1_000),
      peakPerMinute: peakInWindow(times, 60_000),
      /** Calls in each whole second after the first one: shows a burst at the start, if any. */
      firstSeconds: perSecond(times, first, 8),
      workerPeakRssMb: mb(rss.peakKb('worker')),
      temporalPeakRssMb: mb(rss.peakKb('temporal')),
      wakeCachedMs: wakes?.cached,
      wakeEvictedMs: wakes?.evicted,
      workerCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    };
    printTable(`bench:grants (${options.grants} grants, ${options.due} due, limit ${options.rate}/s)`, [
      ['seeding (started and asleep)', `${result.seedSeconds} s (${result.seedPerSecond} grants/s)`],
      ['all asleep for', `${holdSeconds} s before the due instant`],
      [
        'worker RSS, all asleep (now / peak)',
        `${result.workerRssHoldMb} / ${result.workerRssHoldPeakMb} MB   (target ≤ 1024)`,
      ],
      ['Temporal server RSS, all asleep', `${result.temporalRssHoldMb} / ${result.temporalRssHoldPeakMb} MB`],
      ['refreshed / due', `${refreshed} / ${options.due}`],
      ['token-endpoint refresh calls (failed)', `${result.refreshCalls} (${result.refreshCallsFailed})`],
      ['first call after the due instant', `${result.firstCallAfterDueMs} ms`],
      ['all refreshed after the due instant', `${result.allRefreshedAfterDueSeconds} s`],
      ['refresh throughput', `${result.refreshesPerSecond}/s`],
      ['peak at token endpoint, any 1 s', `${result.peakPerSecond}   (limit ${options.rate}, never > 50)`],
      ['peak at token endpoint, any 60 s', `${result.peakPerMinute}   (Feishu: 1000)`],
      ['calls in each of the first seconds', result.firstSeconds.join(' ')],
      [
        'peak RSS worker / Temporal (whole run)',
        `${result.workerPeakRssMb} / ${result.temporalPeakRssMb} MB`,
      ],
      [
        'wake a cached / an evicted grant, p50 (p99)',
        wakes
          ? `${wakes.cached.p50} (${wakes.cached.p99}) / ${wakes.evicted.p50} (${wakes.evicted.p99}) ms`
          : `not measured: needs more than ${config.WORKER_MAX_CACHED_WORKFLOWS} sleepers beyond --wake`,
      ],
    ]);
    return result;
  } finally {
    rss.stop();
    await db.end();
    await connection.close();
    await stack.close();
  }
}

export const GRANTS_DEFAULTS: GrantsBenchOptions = {
  grants: 2000,
  due: 500,
  rate: 15,
  hold: 15,
  concurrency: 32,
  workerHeapMb: 0,
  wake: 30,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchCommand('grants', () =>
    runGrantsBench(grantsOptions(parseFlags(), GRANTS_DEFAULTS)).then((result) =>
      printJson('grants', result),
    ),
  );
}
