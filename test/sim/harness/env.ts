import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../../../lib/search-attributes.ts';

// A CommonJS module whose exports Node's ESM loader cannot name: destructure the default export.
const { temporal } = proto;

const INDEXED_VALUE_TYPES = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
} as const;

/**
 * The time-skipping test server at `executable` with the grant search attributes registered, for
 * the simulate CLI, which runs outside vitest (tests use test/helpers/time-skipping.ts, which
 * takes the executable from the global set-up).
 */
export async function createSimEnv(executable: string): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: executable } },
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
