import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type ReplayWorkerOptions,
} from '@temporalio/worker';
import { grantDataConverter } from '../lib/data-converter.ts';
import { bundleGrantWorkflows } from '../workers/worker.ts';
import { bareActivities } from './bare/activities.ts';
import { driveBareFlows } from './bare/index.ts';
import { freePort } from '../scripts/stack/free-port.ts';
import { findOrBuildTemporalCli } from '../scripts/stack/temporal-cli.ts';
import { ensureDevServer } from '../scripts/stack/temporal-server.ts';
import { root } from './provision.ts';
import {
  log,
  numberFlag,
  parseFlags,
  printJson,
  printTable,
  round,
  runBenchCommand,
  sleep,
  type Flags,
} from './stats.ts';

/**
 * The authorized flow as the current workflow code records it (request → card → consent →
 * redirect → card updated → asleep until the refresh), from the append-only replay fixtures.
 */
const AUTHORIZED_FIXTURE = path.join(root, 'test', 'histories', 'grant-v3', 'authorized.json');

export interface ReplayBenchOptions {
  /** Replays of each history per round. */
  replays: number;
  rounds: number;
}

/**
 * One bare flow on the bench's Temporal server, run by a worker in this process, and its history
 * once the run sleeps on its timer: the same shape bench:auth's bare baseline runs.
 */
async function recordBareHistory(): Promise<History> {
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: await freePort(),
    logFile: path.join(root, '.data', 'bench', 'replay-temporal.log'),
    namespace: 'default',
  });
  const taskQueue = `bare-replay-${randomBytes(4).toString('hex')}`;
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: path.join(root, 'bench', 'bare', 'workflows.ts'),
        logger: undefined,
      }),
      activities: bareActivities,
    });
    const app = { appId: taskQueue };
    const workflowId = `bare-${taskQueue}-0`;
    return await worker.runUntil(async () => {
      const run = await driveBareFlows(server.address, app, taskQueue, {
        flows: 1,
        concurrency: 1,
        rate: 0,
        first: 0,
      });
      if (run.failures.length) throw new Error(`the bare flow failed: ${run.failures[0]}`);
      const handle = new Client({ connection }).workflow.getHandle(workflowId);
      for (;;) {
        const history = await handle.fetchHistory();
        if (history.events?.at(-1)?.timerStartedEventAttributes) return history;
        await sleep(100);
      }
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
    await server.stop();
  }
}

/** CPU time (all threads of this process) per replay of `history`, replayed `count` times at once. */
async function replayCpuMs(options: ReplayWorkerOptions, history: History, count: number): Promise<number> {
  const histories = Array.from({ length: count }, (_, i) => ({ workflowId: `replay-${i}`, history }));
  const before = process.cpuUsage();
  for await (const result of Worker.runReplayHistories(options, histories)) {
    if (result.error) throw result.error;
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * The workflow side of an authorized flow alone, without the network or the machine's neighbours:
 * the worker's CPU to replay the grant workflow's authorized history against the bare workflow's
 * of the same command shape. Replay runs every activation a live worker runs (a new workflow
 * in the V8 sandbox, each task's jobs, the conditions, the commands), so the ratio is the workflow
 * code's own share of bench:auth's gap, stable enough to compare two commits.
 */
export async function runReplayBench(options: ReplayBenchOptions) {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } },
  });
  log('recording a bare flow');
  const bareHistory = await recordBareHistory();
  const ours: ReplayWorkerOptions = {
    workflowBundle: await bundleGrantWorkflows(),
    // The fixtures are stored decoded; the production converter lets them through.
    dataConverter: grantDataConverter([{ id: 'replay', key: new Uint8Array(randomBytes(32)) }]),
  };
  const bare: ReplayWorkerOptions = {
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: path.join(root, 'bench', 'bare', 'workflows.ts'),
      logger: undefined,
    }),
  };
  const ourHistory = historyFromJSON(JSON.parse(readFileSync(AUTHORIZED_FIXTURE, 'utf8')));
  // Warm-up: V8's compilation and the replay workers' threads are not what is measured.
  await replayCpuMs(ours, ourHistory, 50);
  await replayCpuMs(bare, bareHistory, 50);
  const oursMs: number[] = [];
  const bareMs: number[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    oursMs.push(await replayCpuMs(ours, ourHistory, options.replays));
    bareMs.push(await replayCpuMs(bare, bareHistory, options.replays));
    log(`round ${round}/${options.rounds}: ${oursMs.at(-1)!.toFixed(2)} vs ${bareMs.at(-1)!.toFixed(2)} ms`);
  }
  const result = {
    replays: options.replays,
    rounds: options.rounds,
    events: { ours: ourHistory.events?.length ?? 0, bare: bareHistory.events?.length ?? 0 },
    cpuMsPerReplay: { ours: round(median(oursMs), 2), bare: round(median(bareMs), 2) },
    cpuMsByRound: { ours: oursMs.map((v) => round(v, 2)), bare: bareMs.map((v) => round(v, 2)) },
    ratioToBare: round(median(bareMs) / median(oursMs), 2),
  };
  printTable(`bench:replay (${options.rounds} rounds × ${options.replays} replays of each)`, [
    ['history events (ours / bare)', `${result.events.ours} / ${result.events.bare}`],
    ['CPU ms per replay, median of rounds (ours)', result.cpuMsPerReplay.ours],
    ['CPU ms per replay, median of rounds (bare)', result.cpuMsPerReplay.bare],
    ['ratio to bare (bare CPU / ours)', result.ratioToBare],
  ]);
  return result;
}

export function replayOptions(flags: Flags): ReplayBenchOptions {
  return { replays: numberFlag(flags, 'replays', 300), rounds: numberFlag(flags, 'rounds', 5) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchCommand('replay', () =>
    runReplayBench(replayOptions(parseFlags())).then((result) => printJson('replay', result)),
  );
}
