import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCuttableProxy, type CuttableProxy } from '../helpers/cuttable-proxy.ts';
import { requestAuthorization } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

/** Temporal taken away from the API (and its worker) while PostgreSQL stays. */
describe('the API while Temporal is unreachable', () => {
  let stack: Stack;
  let temporal: CuttableProxy;
  beforeAll(async () => {
    temporal = await startCuttableProxy(inject('temporalAddress'));
    stack = await startStack({
      infra: { databaseUrl: inject('databaseUrl'), temporalAddress: temporal.address },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await temporal?.close();
  });

  it('answers a request for authorization (update-with-start) 503 unavailable, not 500', async () => {
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    temporal.cut();
    try {
      // The client retries an unreachable server for about 20 s before it gives up.
      const res = await requestAuthorization(stack, { open_id: openId });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'unavailable' });
    } finally {
      temporal.restore();
    }
  }, 120_000);
});
