import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../lib/metrics';
import { eventually } from '../helpers/cards';
import { authorize, openRedirect, pendingCard, waitForCardTitle } from '../helpers/flows';
import { startStack, type Stack } from '../helpers/stack';

/** Sum of a metric's samples whose labels include `labels` (the worker and the API share this registry in a stack). */
async function sample(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return (
    values
      .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
      // A histogram's samples are its buckets, sum and count; count is the number of observations.
      .filter((v) => {
        const sampleName = (v as { metricName?: string }).metricName;
        return sampleName === undefined || sampleName === `${name}_count`;
      })
      .reduce((sum, v) => sum + v.value, 0)
  );
}

describe('metrics move as flows run', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('counts sessions, successes, failures by reason, durations and Feishu calls', async () => {
    const before = {
      sessions: await sample('auth_session_total'),
      successes: await sample('auth_success_total'),
      denied: await sample('auth_failure_total', { reason: 'denied' }),
      durations: await sample('auth_session_duration_seconds'),
      tokenCalls: await sample('feishu_api_requests_total', { code: '0' }),
    };
    const approved = stack.sandbox.openIdOf(stack.appId, 0);
    const denied = stack.sandbox.openIdOf(stack.appId, 1);
    await authorize(stack, approved);
    const { messageId, authorizeUrl } = await pendingCard(stack, denied);
    await openRedirect(stack.sandbox.denyAuthorization(authorizeUrl));
    await waitForCardTitle(stack, messageId, '已拒绝授权');

    // The denied attempt's settle activity may still be recording when its card shows.
    await eventually('the failure counter', async () =>
      (await sample('auth_failure_total', { reason: 'denied' })) === before.denied + 1 ? true : undefined,
    );
    expect(await sample('auth_session_total')).toBe(before.sessions + 2);
    expect(await sample('auth_success_total')).toBe(before.successes + 1);
    expect(await sample('auth_session_duration_seconds')).toBe(before.durations + 2);
    expect(await sample('feishu_api_requests_total', { code: '0' })).toBeGreaterThan(before.tokenCalls);
  });

  it('serves everything on /metrics with route templates and no user ids or tokens in labels', async () => {
    const res = await stack.api('/metrics', { key: '' });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^http_request_duration_seconds_bucket\{.*route="\/v1\/authorizations".*\} \d+/m);
    expect(text).toMatch(/^auth_session_total [1-9]/m);
    expect(text).toMatch(/^auth_success_total [1-9]/m);
    expect(text).toMatch(/^auth_failure_total\{reason="denied"\} [1-9]/m);
    const openIds = [0, 1].map((i) => stack.sandbox.openIdOf(stack.appId, i));
    const tokens = stack.sandbox.state
      .grants()
      .flatMap((g) => [...g.accessTokens, ...g.refreshTokens].map((t) => t.token));
    for (const secret of [...openIds, ...tokens]) expect(text).not.toContain(secret);
  });
});
