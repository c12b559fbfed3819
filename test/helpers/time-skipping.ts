import type {
  TestWorkflowEnvironment,
  TimeSkippingTestWorkflowEnvironmentOptions,
} from '@temporalio/testing';
import { inject } from 'vitest';
import { startTimeSkippingEnv } from './time-skipping-env.ts';

/**
 * A fresh Java time-skipping test server (the one global set-up provisioned) with the grant
 * workflow's search attributes registered. Call `env.teardown()` when done.
 */
export function createTimeSkippingEnv(
  options: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> = {},
): Promise<TestWorkflowEnvironment> {
  return startTimeSkippingEnv(inject('timeSkippingServer'), options);
}
