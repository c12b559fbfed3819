import proto from '@temporalio/proto';
import {
  TestWorkflowEnvironment,
  type TimeSkippingTestWorkflowEnvironmentOptions,
} from '@temporalio/testing';
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
 * A fresh Java time-skipping test server started from `executable`, with the grant workflow's
 * search attributes registered. Unregistered, every upsert is rejected with "search attribute … is
 * not defined" and the workflow task retries forever, which looks like a hang. The server has no
 * ListSearchAttributes, and createTimeSkipping takes no search attributes, so they are added
 * through the operator service on each new server. Call `env.teardown()` when done.
 *
 * Free of vitest, so the simulate CLI uses it too; tests call createTimeSkippingEnv.
 */
export async function startTimeSkippingEnv(
  executable: string,
  options: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> = {},
  startAttempts = DEFAULT_START_ATTEMPTS,
): Promise<TestWorkflowEnvironment> {
  const env = await startServer(executable, options, startAttempts);
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

const DEFAULT_START_ATTEMPTS = 5;

/** The SDK gives the server five seconds to listen; a JVM on a busy machine can take longer. */
async function startServer(
  executable: string,
  options: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'>,
  attempts: number,
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        ...options,
        server: { executable: { type: 'existing-path', path: executable } },
      });
    } catch (err) {
      // The core bridge's errors are not always instances of this realm's Error.
      const slowStart = String(err).includes('did not start within');
      if (!slowStart || attempt === attempts) throw err;
    }
  }
}
