import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, onlyCardFor } from '../helpers/cards.ts';
import { startCuttableProxy, type CuttableProxy } from '../helpers/cuttable-proxy.ts';
import { authorize, openRedirect, pendingCard, waitForCardTitle } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken } from '../helpers/tokens.ts';
import { TEMPORAL_SDK_SERIES, loadRules, metricNamesIn, readText } from '../monitoring/shared.ts';

/** A /metrics page; fails the test unless it answers 200. */
async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return res.text();
}

/** Names of the series on a Prometheus text page (histograms as their _bucket, _sum and _count). */
const seriesOn = (page: string): string[] =>
  [...page.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!);

/** Sum of the samples of `name` on a page whose labels include `labels`. */
function sample(page: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const m of page.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)`, 'gm'))) {
    const have = new Map([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[2]);
  }
  return sum;
}

interface Panel {
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/**
 * Every series the monitoring reads: the dashboard's queries, the alerts' and the recording
 * rules' expressions, without what the recording rules write and what Prometheus itself writes.
 */
function seriesMonitoringUses(): string[] {
  const dashboard = JSON.parse(readText('monitoring', 'grafana', 'dashboards', 'feishu-user-auth.json')) as {
    panels: Panel[];
  };
  const panelExprs = (panels: Panel[]): string[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : [])),
      ...panelExprs(p.panels ?? []),
    ]);
  const rules = [...loadRules('recording.yml'), ...loadRules('alerts.yml')];
  const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
  const names = [...panelExprs(dashboard.panels), ...rules.map((r) => r.expr)].flatMap(metricNamesIn);
  return [...new Set(names)].filter((n) => !recorded.has(n) && n !== 'up').sort();
}

describe('metrics, scraped from the worker and the API as deployed', () => {
  let stack: Stack;
  let database: CuttableProxy;
  let temporal: CuttableProxy;
  /** The three /metrics pages now: the API's, the worker's and its Temporal SDK exporter's. */
  const pages = async () => {
    const urls = stack.metricsUrls!;
    const [api, worker, sdk] = await Promise.all([
      scrape(urls.api),
      scrape(urls.worker),
      scrape(urls.workerSdk),
    ]);
    return { api, worker, sdk };
  };
  const openId = (i: number) => stack.sandbox.openIdOf(stack.appId, i);

  beforeAll(async () => {
    const databaseUrl = new URL(inject('databaseUrl'));
    database = await startCuttableProxy(databaseUrl.host);
    temporal = await startCuttableProxy(inject('temporalAddress'));
    databaseUrl.host = database.address;
    stack = await startStack({
      // Every token read asks for a refresh: the access tokens live shorter than the margin.
      sandbox: { lifetimes: { accessTokenSeconds: 300 } },
      env: { ACCESS_TOKEN_MARGIN_SECONDS: '600' },
      processes: { serviceEnv: { DATABASE_URL: databaseUrl.href, TEMPORAL_ADDRESS: temporal.address } },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await Promise.all([database?.close(), temporal?.close()]);
  });

  it('serves the API metrics on their own port, and nothing on the public one', async () => {
    expect((await stack.api('/metrics', { key: '' })).status).toBe(404);
    expect((await stack.api('/metrics')).status).toBe(404);
    const { api } = await pages();
    // Counted over the whole grants table, which the suite's other files share: any count.
    expect(api).toMatch(/^auth_grants\{status="authorized"\} \d+$/m);
  });

  it('counts a flow where it happens: attempts, outcomes, durations, refreshes, callbacks, requests', async () => {
    await authorize(stack, openId(0));
    const { messageId, authorizeUrl } = await pendingCard(stack, openId(1));
    await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl));
    await waitForCardTitle(stack, messageId, '已拒绝授权');
    expect((await getToken(stack, openId(0))).status).toBe(200);
    // A DM to the bot arrives over the API's long connection, a Feishu callback.
    await stack.sandbox.sendUserMessage(stack.appId, openId(2), '授权');
    await onlyCardFor(stack.sandbox, openId(2));

    // Each is counted once its work is done, which may be just after what the user sees: the
    // denial's settle activity, an attempt after its card is out, a callback after its answer.
    const { api, worker } = await eventually(
      'the attempts, the denial and the DM to be counted',
      async () => {
        const now = await pages();
        const counted =
          sample(now.worker, 'auth_failure_total', { reason: 'denied' }) === 1 &&
          sample(now.worker, 'auth_session_total') === 3 &&
          sample(now.api, 'feishu_callback_duration_seconds_count', { transport: 'ws' }) === 1;
        return counted ? now : undefined;
      },
    );
    expect(sample(worker, 'auth_success_total')).toBe(1);
    expect(sample(worker, 'auth_session_duration_seconds_count')).toBe(2);
    expect(sample(worker, 'token_refresh_total', { result: 'success' })).toBe(1);
    expect(sample(worker, 'feishu_api_requests_total', { code: '0' })).toBeGreaterThan(0);
    expect(api).toMatch(/^http_request_duration_seconds_bucket\{.*route="\/v1\/authorizations".*\} [1-9]/m);
    expect(sample(api, 'db_errors_total')).toBe(0);
    expect(sample(worker, 'db_errors_total')).toBe(0);
  });

  it('counts a Feishu fault as a transient refresh error and a failed activity', async () => {
    stack.sandbox.faults.failNext('serverError', { count: 1, pathPrefix: '/oauth/v3/token' });
    expect((await getToken(stack, openId(0))).status).toBe(200);
    const { worker, sdk } = await pages();
    expect(sample(worker, 'token_refresh_total', { result: 'transient_error' })).toBe(1);
    expect(sample(worker, 'feishu_api_requests_total', { code: '20050' })).toBe(1);
    expect(sample(sdk, 'temporal_activity_execution_failed_total', { activity_type: 'refreshGrant' })).toBe(
      1,
    );
  });

  it('counts database errors where they happen: token reads in the API, activity writes in the worker', async () => {
    database.cut();
    let during: Awaited<ReturnType<typeof pages>>;
    // Started from here, so nothing but the worker's activity needs the database.
    const request = stack.grants.request(openId(3), { scopes: [], source: 'api' });
    try {
      // The database being unreachable is no fault of the caller's nor a bug: 503, retry shortly.
      const read = await getToken(stack, openId(0));
      expect(read.status).toBe(503);
      expect(read.body.error?.code).toBe('unavailable');
      during = await eventually('the failed activity write to be counted', async () => {
        const now = await pages();
        return sample(now.worker, 'db_errors_total', { operation: 'startAttempt' }) > 0 ? now : undefined;
      });
    } finally {
      database.restore();
    }
    expect(sample(during.api, 'db_errors_total', { operation: 'token_read' })).toBeGreaterThan(0);
    expect(sample(during.api, 'http_request_duration_seconds_count', { status: '503' })).toBe(1);
    // The activity's retry finds the database back: the user gets the card.
    await request;
    await onlyCardFor(stack.sandbox, openId(3));
  });

  it('counts a failing workflow task', async () => {
    const handle = await stack.temporal.workflow.start('aWorkflowNoDeployHas', {
      taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
      workflowId: `metrics-test-${randomBytes(4).toString('hex')}`,
    });
    await eventually('the failed workflow task to be counted', async () =>
      sample((await pages()).sdk, 'temporal_workflow_task_execution_failed_total') > 0 ? true : undefined,
    );
    await handle.terminate('the test is done with it');
  });

  it('counts failed requests to Temporal, long polls apart, while the worker cannot reach it', async () => {
    // The card is sent slowly, so the activity completes while Temporal is out of reach.
    stack.sandbox.faults.set({ latencyMs: 2_000, pathPrefix: '/open-apis/im/v1/messages' });
    const request = stack.grants.request(openId(4), { scopes: [], source: 'api' });
    await eventually('the attempt to be sending its card', async () => {
      const { rowCount } = await stack.db.query(
        'SELECT 1 FROM user_auth_sessions WHERE app_id = $1 AND open_id = $2',
        [stack.appId, openId(4)],
      );
      return rowCount ? true : undefined;
    });
    const failures = (sdk: string) => ({
      requests: sample(sdk, 'temporal_request_failure_total'),
      longPolls: sample(sdk, 'temporal_long_request_failure_total'),
    });
    const before = failures((await pages()).sdk);
    temporal.cut();
    try {
      await eventually(
        'failed requests and long polls to be counted',
        async () => {
          const now = failures((await pages()).sdk);
          return now.requests > before.requests && now.longPolls > before.longPolls ? true : undefined;
        },
        30_000,
      );
    } finally {
      temporal.restore();
      stack.sandbox.faults.reset();
    }
    await request;
    await onlyCardFor(stack.sandbox, openId(4));
  }, 120_000);

  it('serves every series the dashboard, the alerts and the recording rules use', async () => {
    const used = seriesMonitoringUses();
    // The parse must find what the issue named, or the check below would prove nothing.
    expect(used).toEqual(
      expect.arrayContaining([
        'auth_session_duration_seconds_bucket',
        'db_errors_total',
        'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
        'temporal_activity_schedule_to_start_latency_seconds_bucket',
        'temporal_workflow_task_execution_latency_seconds_bucket',
        'temporal_workflow_task_execution_failed_total',
        'temporal_activity_execution_failed_total',
        'temporal_request_failure_total',
        'temporal_long_request_failure_total',
      ]),
    );
    const { api, worker, sdk } = await pages();
    const served = new Set([api, worker, sdk].flatMap(seriesOn));
    expect(used.filter((name) => !served.has(name))).toEqual([]);
    // The list the static checks of test/monitoring/ accept SDK series from.
    expect([...TEMPORAL_SDK_SERIES].filter((name) => !served.has(name))).toEqual([]);
  });

  it('labels carry no user ids and no tokens', async () => {
    const { api, worker, sdk } = await pages();
    const secrets = [
      ...[0, 1, 2, 3, 4].map(openId),
      ...stack.sandbox.state
        .grants()
        .flatMap((g) => [...g.accessTokens, ...g.refreshTokens].map((t) => t.token)),
    ];
    for (const page of [api, worker, sdk]) for (const secret of secrets) expect(page).not.toContain(secret);
  });
});
