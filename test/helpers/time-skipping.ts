import proto from '@temporalio/proto';
import {
  TestWorkflowEnvironment,
  type TimeSkippingTestWorkflowEnvironmentOptions,
} from '@temporalio/testing';
import { inject } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';

// A CommonJS module whose exports Node's ESM loader cannot name: destructure the default export.
const { temporal } = proto;

const INDEXED_VALUE_TYPES: Record<
  (typeof SEARCH_ATTRIBUTES)[keyof typeof SEARCH_ATTRIBUTES],
  proto.temporal.api.enums.v1.IndexedValueType
> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/**
 * A fresh Java time-skipping test server (the one global set-up provisioned) with the grant
 * workflow's search attributes registered. Unregistered, every upsert is rejected with "search
 * attribute … is not defined" and the workflow task retries forever, which looks like a hang. The
 * server has no ListSearchAttributes, and createTimeSkipping takes no search attributes, so they
 * are added through the operator service on each new server. Call `env.teardown()` when done.
 */
export async function createTimeSkippingEnv(
  options: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> = {},
): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    ...options,
    server: { executable: { type: 'existing-path', path: inject('timeSkippingServer') } },
  });
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        Object.entries(SEARCH_ATTRIBUTES).map(([name, kind]) => [name, INDEXED_VALUE_TYPES[kind]]),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}
