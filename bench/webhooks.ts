import { pathToFileURL } from 'node:url';
import { createDb } from '../lib/db.ts';
import { markGrantPending, setGrantStatus } from '../lib/store/grants.ts';
import { newSigningSecret } from '../lib/webhooks/signing.ts';
import { benchOpenId } from './provision.ts';
import { startBenchStack } from './stack.ts';
import {
  log,
  numberFlag,
  parseFlags,
  printJson,
  runBenchCommand,
  printTable,
  round,
  runPool,
  sleep,
  summarize,
  type Flags,
} from './stats.ts';
import { startWebhookReceiver } from './webhook-receiver.ts';

export interface WebhooksBenchOptions {
  /** Grants whose status changes; each change is one event. */
  users: number;
  /** Writers changing grants at once. */
  concurrency: number;
}

export const WEBHOOKS_DEFAULTS: WebhooksBenchOptions = { users: 300, concurrency: 16 };

/** Each user's grant goes denied, then (after a new card) expired: two events, in this order. */
const EVENTS_PER_USER = 2;

/**
 * Delivery as deployed: the worker process (dispatcher, delivery workflows, signing) sends every
 * event to a real HTTP receiver on loopback that verifies each signature. Events come from grant
 * status writes straight to PostgreSQL, the same statements the activities make, so the numbers
 * are the outbox's and the delivery's, not Feishu's or the OAuth flow's. Latency: from the
 * change's commit time (occurred_at) to its arrival at the receiver.
 */
export async function runWebhooksBench(options: WebhooksBenchOptions) {
  const secret = newSigningSecret();
  const receiver = await startWebhookReceiver(() => secret);
  const stack = await startBenchStack({
    users: 1,
    api: false,
    workerEnv: { WEBHOOK_URLS: `bench=${receiver.url} ${secret}` },
  });
  const db = createDb(stack.infra.databaseUrl, options.concurrency + 2);
  const expected = options.users * EVENTS_PER_USER;
  try {
    const openIds = Array.from({ length: options.users }, (_, i) => benchOpenId(i));
    const started = Date.now();
    log(`changing ${options.users} grants twice (${expected} events), ${options.concurrency} writers`);
    await runPool(openIds.length, options.concurrency, async (i) => {
      const openId = openIds[i]!;
      await setGrantStatus(db, stack.app.appId, openId, 'denied', 'denied', { dropTokens: true });
      await markGrantPending(db, stack.app.appId, openId);
      await setGrantStatus(db, stack.app.appId, openId, 'expired', null, { dropTokens: true });
    });
    const written = Date.now();
    const deadline = written + 120_000;
    const distinct = () => new Set(receiver.received.map((r) => r.body.id)).size;
    while (distinct() < expected && Date.now() < deadline) await sleep(50);
    const done = Date.now();
    // Duplicates would show up as more than expected: give a straggler a moment to arrive.
    await sleep(1_000);

    const latencies = receiver.received.map((r) => r.at - Date.parse(r.body.occurred_at));
    const ids = receiver.received.map((r) => r.body.id);
    // Order by first arrival: a duplicate (at-least-once) is counted as such, not as disorder.
    const outOfOrder = openIds.filter((openId) => {
      const firsts = [...new Map(receiver.eventsFor(openId).map((e) => [e.id, e.type])).values()];
      return firsts.join() !== 'grant.denied,grant.expired';
    }).length;
    const result = {
      events: expected,
      received: receiver.received.length,
      duplicates: ids.length - new Set(ids).size,
      rejectedSignatures: receiver.rejected.length,
      outOfOrderGrants: outOfOrder,
      writeSeconds: round((written - started) / 1000, 2),
      eventsPerSecondWritten: round(expected / ((written - started) / 1000)),
      deliveredPerSecond: round(receiver.received.length / ((done - started) / 1000)),
      latencyMs: summarize(latencies),
    };
    printTable(`bench:webhooks (${options.users} grants, ${expected} events)`, [
      ['received / expected', `${result.received} / ${expected}`],
      [
        'duplicates, bad signatures, grants out of order',
        `${result.duplicates}, ${result.rejectedSignatures}, ${outOfOrder}`,
      ],
      ['events written', `${result.eventsPerSecondWritten}/s`],
      ['delivered (first write to last arrival)', `${result.deliveredPerSecond}/s`],
      [
        'latency commit → receiver p50 / p99 / max',
        `${result.latencyMs.p50} / ${result.latencyMs.p99} / ${result.latencyMs.max} ms`,
      ],
    ]);
    return result;
  } finally {
    await db.end();
    await stack.close();
    await receiver.close();
  }
}

export function webhooksOptions(flags: Flags, defaults: WebhooksBenchOptions): WebhooksBenchOptions {
  return {
    users: numberFlag(flags, 'users', defaults.users),
    concurrency: numberFlag(flags, 'concurrency', defaults.concurrency),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchCommand('webhooks', () =>
    runWebhooksBench(webhooksOptions(parseFlags(), WEBHOOKS_DEFAULTS)).then((result) =>
      printJson('webhooks', result),
    ),
  );
}
