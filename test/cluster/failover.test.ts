import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBenchCluster, type BenchCluster } from '../../bench/cluster.ts';
import { BENCH_API_KEY, benchOpenId, root } from '../../bench/provision.ts';
import { dropDatabase, listDatabases } from '../../scripts/stack/postgres.ts';
import { grantWorkflowId } from '../../workflows/task-queues.ts';
import { cardView } from '../chaos/harness/cards.ts';
import { cardOf, cardTitle, eventually } from '../helpers/cards.ts';
import { openRedirect } from '../helpers/flows.ts';

const FLOWS = 24;
/** Between two users' requests, and how long a user looks at the card before consenting. */
const ARRIVAL_MS = 200;
const READING_MS = 1_500;
/**
 * An activity in flight on the killed worker is retried once its 30 s start-to-close timeout
 * passes, so a flow may take that much longer than usual.
 */
const FLOW_DEADLINE_MS = 120_000;
const NAME_PREFIX = 'cluster_test_';
/** A user whose sign-in failed tries once more. */
const MAX_CONSENTS = 2;

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Databases and folders of earlier runs whose process has ended. A run keeps its folder (the
 * server's log) until the next one, for a look after a failure.
 */
async function removeAbandoned(): Promise<void> {
  const ended = (name: string) => {
    const pid = /cluster_test_(\d+)/.exec(name)?.[1];
    return pid !== undefined && !isAlive(Number(pid));
  };
  for (const database of await listDatabases(`feishu_user_auth_${NAME_PREFIX}`)) {
    if (ended(database)) await dropDatabase(database);
  }
  for (const folder of readdirSync(path.join(root, '.data'))) {
    if (folder.startsWith(NAME_PREFIX) && ended(folder)) {
      rmSync(path.join(root, '.data', folder), { recursive: true, force: true });
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the production topology: Temporal server on PostgreSQL, two workers, two API replicas', () => {
  const name = `${NAME_PREFIX}${process.pid}`;
  let bench: BenchCluster;

  beforeAll(async () => {
    await removeAbandoned();
    // The first run on a machine builds the Temporal server from source: minutes.
    bench = await startBenchCluster(FLOWS, name, { LOG_LEVEL: 'error' });
  }, 20 * 60_000);

  afterAll(async () => {
    await bench?.close();
    await dropDatabase(`feishu_user_auth_${name}`);
    await dropDatabase(`feishu_user_auth_${name}_temporal`);
    await dropDatabase(`feishu_user_auth_${name}_visibility`);
  });

  /** Through the load balancer, as any client; a request a dying replica dropped is sent again. */
  const api = (route: string, init: RequestInit = {}) =>
    fetch(`${bench.cluster.publicBaseUrl}${route}`, {
      ...init,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` },
    });
  const retrying = <T>(what: string, attempt: () => Promise<T | undefined>) =>
    eventually(what, () => attempt().catch(() => undefined), FLOW_DEADLINE_MS);

  /**
   * Consents on the card's current attempt and reloads the page until it answers. A page that says
   * the sign-in failed (a worker killed after Feishu spent the code loses the tokens: codes are
   * single-use) sends the user to the card's Retry and a second consent, as a person would.
   */
  async function consent(openId: string, messageId: string): Promise<void> {
    const { sandbox } = bench;
    const pages: string[] = [];
    for (let consents = 1; ; consents++) {
      const attempt = cardView(sandbox, messageId)!;
      const redirect = sandbox.approveAuthorization(attempt.authorizeUrl!, openId);
      const outcome = await retrying(`the redirect page for ${openId}`, async () => {
        const page = await openRedirect(redirect);
        pages.push(page.outcome ?? String(page.status));
        return page.status < 500 && page.outcome !== 'busy' ? page.outcome : undefined;
      }).catch((err: Error) => {
        throw new Error(`${err.message}; the pages said: ${pages.join(', ')}`);
      });
      if (outcome === 'authorized' || outcome === 'already_completed') return;
      if (outcome !== 'failed' || consents === MAX_CONSENTS) {
        throw new Error(`${openId}: the pages said ${pages.join(', ')}`);
      }
      await retrying(`Retry on the failed card of ${openId}`, async () => {
        if (cardView(sandbox, messageId)?.state !== 'failed') return undefined;
        const click = await sandbox.clickCardButton(messageId, { action: 'retry' }, openId);
        return (click.ok && click.toast?.type === 'info') || undefined;
      });
      await eventually(
        `a new attempt on the card of ${openId}`,
        () => {
          const now = cardView(sandbox, messageId);
          return (now?.state === 'pending' && now.attemptId !== attempt.attemptId) || undefined;
        },
        FLOW_DEADLINE_MS,
      );
    }
  }

  /** Request → card → consent → redirect page → card authorized → token served. */
  async function flow(openId: string): Promise<void> {
    const { sandbox } = bench;
    await retrying(`POST /v1/authorizations for ${openId}`, async () => {
      const res = await api('/v1/authorizations', {
        method: 'POST',
        body: JSON.stringify({ open_id: openId }),
      });
      return res.status === 202 || undefined;
    });
    const card = await eventually(
      `a card for ${openId}`,
      () => sandbox.state.messages({ openId }).find((m) => m.msgType === 'interactive'),
      FLOW_DEADLINE_MS,
    );
    await sleep(READING_MS);
    await consent(openId, card.messageId);
    await eventually(
      `the card for ${openId} to read 已授权`,
      () => cardTitle(cardOf(sandbox, card.messageId)) === '已授权' || undefined,
      FLOW_DEADLINE_MS,
    );
    await retrying(`the token of ${openId}`, async () => {
      const res = await api(`/v1/users/${openId}/token`);
      return (
        (res.ok && typeof ((await res.json()) as { access_token?: unknown }).access_token === 'string') ||
        undefined
      );
    });
  }

  it(
    `${FLOWS} flows all end authorized with one card each, though a worker and an API replica are SIGKILLed mid-way`,
    async () => {
      const { cluster, sandbox, app } = bench;
      const [apiPort1, apiPort2] = cluster.apis.map((a) => Number(new URL(a.url).port));
      const workerPids = cluster.workers.map((w) => cluster.supervisor.pid(w));
      const openIds = Array.from({ length: FLOWS }, (_, i) => benchOpenId(i));
      let started = 0;
      const flows = openIds.map(async (openId, i) => {
        await sleep(i * ARRIVAL_MS);
        started++;
        await flow(openId);
      });

      // Kill only once both replicas have answered: under load the first answers can all come from one.
      const answered = (port: number) => cluster.balancer.answered.get(port) ?? 0;
      await eventually(
        'half of the flows to start and both replicas to answer',
        () => (started >= FLOWS / 2 && answered(apiPort1!) > 0 && answered(apiPort2!) > 0) || undefined,
        FLOW_DEADLINE_MS,
      );
      const answeredBeforeKill = new Map(cluster.balancer.answered);
      cluster.supervisor.kill(cluster.workers[0]!, 'SIGKILL', { restart: false });
      cluster.supervisor.kill(cluster.apis[0]!.name, 'SIGKILL', { restart: false });
      await Promise.all(flows);

      // Both replicas served before the kill; the survivor alone afterwards.
      expect(answeredBeforeKill.get(apiPort1!)).toBeGreaterThan(0);
      expect(answeredBeforeKill.get(apiPort2!)).toBeGreaterThan(0);
      expect(cluster.balancer.answered.get(apiPort2!)).toBeGreaterThan(answeredBeforeKill.get(apiPort2!)!);

      const connection = await Connection.connect({ address: cluster.temporalAddress });
      const identities = new Set<string>();
      try {
        const client = new Client({ connection });
        for (const openId of openIds) {
          const res = await api(`/v1/authorizations/${openId}`);
          expect(((await res.json()) as { status: string }).status, openId).toBe('authorized');
          const cards = sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive');
          expect(cards, openId).toHaveLength(1);
          expect(cardTitle(cardOf(sandbox, cards[0]!.messageId)), openId).toBe('已授权');

          const history = await client.workflow.getHandle(grantWorkflowId(app.appId, openId)).fetchHistory();
          for (const event of history.events ?? []) {
            const identity =
              event.workflowTaskCompletedEventAttributes?.identity ??
              event.activityTaskStartedEventAttributes?.identity;
            if (identity) identities.add(identity.split('@')[0]!);
          }
        }
      } finally {
        await connection.close();
      }
      // Both workers ran workflow tasks or activities of these flows.
      for (const pid of workerPids) expect(identities).toContain(String(pid));
    },
    5 * 60_000,
  );
});
