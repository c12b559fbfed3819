import { pathToFileURL } from 'node:url';
import { BENCH_API_KEY, benchOpenId } from './provision.ts';
import { startBenchStack } from './stack.ts';
import {
  log,
  numberFlag,
  parseFlags,
  peakInWindow,
  printJson,
  printTable,
  round,
  sleep,
  type Flags,
} from './stats.ts';

export interface BatchBenchOptions {
  users: number;
  /** BATCH_CARDS_PER_SECOND for the worker. */
  rate: number;
}

export const BATCH_DEFAULTS: BatchBenchOptions = { users: 1000, rate: 15 };

export function batchOptions(flags: Flags, defaults: BatchBenchOptions): BatchBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    rate: numberFlag(flags, 'rate', defaults.rate),
  };
}

interface BatchStatus {
  status: 'running' | 'finished';
  counts: Record<string, number>;
}

const SEND = 'POST /open-apis/im/v1/messages';
/** Feishu's per-app limit (HTTP 429) and its per-user one (230020). */
const RATE_LIMIT_CODES = ['99991400', '230020'];

/**
 * `npm run bench:batch`: one batch of `users` authorization requests through the API against the
 * sandbox with Feishu's rate limits on (50 sends a second and 1000 a minute per app, 5 a second
 * per user), the worker pacing it at `rate` cards a second. Measures cards per second, the time
 * to finish, the busiest second, and every rate-limit refusal the sandbox gave.
 */
export async function runBatchBench(options: BatchBenchOptions) {
  log(`bench:batch — ${options.users} users, BATCH_CARDS_PER_SECOND=${options.rate}, sandbox rate limits on`);
  const stack = await startBenchStack({
    users: options.users,
    api: true,
    rateLimits: true,
    workerEnv: { BATCH_CARDS_PER_SECOND: String(options.rate) },
  });
  try {
    const headers = { authorization: `Bearer ${BENCH_API_KEY}`, 'content-type': 'application/json' };
    const batchId = `bench-${Date.now()}`;
    const openIds = Array.from({ length: options.users }, (_, i) => benchOpenId(i));
    const started = Date.now();
    const res = await fetch(`${stack.app.apiUrl}/v1/authorizations:batch`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ batch_id: batchId, open_ids: openIds }),
    });
    const answeredMs = Date.now() - started;
    if (res.status !== 202)
      throw new Error(`POST /v1/authorizations:batch answered ${res.status}: ${await res.text()}`);
    let status: BatchStatus;
    let lastReport = started;
    for (;;) {
      const poll = await fetch(`${stack.app.apiUrl}/v1/authorizations:batch/${batchId}?limit=1`, { headers });
      if (!poll.ok) throw new Error(`GET /v1/authorizations:batch/${batchId} answered ${poll.status}`);
      status = (await poll.json()) as BatchStatus;
      if (status.status === 'finished') break;
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        log(`${options.users - (status.counts.queued ?? 0)}/${options.users} users done`);
      }
      await sleep(250);
    }
    const finishedMs = Date.now() - started;
    const sent = stack.sandbox.state
      .messages({ appId: stack.app.appId })
      .filter((m) => m.msgType === 'interactive')
      .map((m) => m.createdAt);
    const firstCard = Math.min(...sent);
    const lastCard = Math.max(...sent);
    const sendCodes = stack.sandbox.state.counters()[SEND] ?? {};
    const refused = Object.fromEntries(RATE_LIMIT_CODES.map((code) => [code, sendCodes[code] ?? 0]));
    const result = {
      users: options.users,
      rate: options.rate,
      cards: sent.length,
      counts: status.counts,
      postAnsweredMs: answeredMs,
      firstCardMs: firstCard - started,
      secondsToFinish: round(finishedMs / 1000, 2),
      cardsPerSecond: round(sent.length / Math.max(0.001, (lastCard - firstCard) / 1000)),
      peakCardsInOneSecond: peakInWindow(sent, 1000),
      peakCardsInOneMinute: peakInWindow(sent, 60_000),
      rateLimited: refused,
    };
    printTable(`bench:batch (${options.users} users, BATCH_CARDS_PER_SECOND=${options.rate})`, [
      ['cards sent / users', `${result.cards} / ${result.users}`],
      ['results', JSON.stringify(result.counts)],
      ['POST answered in', `${result.postAnsweredMs} ms`],
      ['first card after', `${result.firstCardMs} ms`],
      ['time to finish', `${result.secondsToFinish} s`],
      ['cards/s (first to last card)', result.cardsPerSecond],
      [
        'busiest second / minute',
        `${result.peakCardsInOneSecond} / ${result.peakCardsInOneMinute}   (Feishu: 50 / 1000)`,
      ],
      [
        'sends refused: 99991400 (429) / 230020',
        `${refused['99991400']} / ${refused['230020']}   (target 0)`,
      ],
    ]);
    printJson('batch', result);
    return result;
  } finally {
    await stack.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBatchBench(batchOptions(parseFlags(), BATCH_DEFAULTS)).then(
    () => process.exit(0),
    (err: unknown) => {
      log(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
