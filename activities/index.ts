import { asyncLocalStorage } from '@temporalio/activity';
import { attemptActivities } from './attempts';
import { countDbErrors } from '../lib/metrics';
import type { ServiceDeps } from '../lib/service-deps';
import { exchangeActivities } from './exchange';
import { lifecycleActivities } from './lifecycle';
import { refreshActivities } from './refresh';

export type { ServiceDeps } from '../lib/service-deps';

/** The activity running now (Temporal's own context), which names its database errors. */
const activityType = () => asyncLocalStorage.getStore()?.info.activityType ?? 'activity';

export function createActivities(serviceDeps: ServiceDeps) {
  const deps = { ...serviceDeps, db: countDbErrors(serviceDeps.db, activityType) };
  return {
    ...attemptActivities(deps),
    ...exchangeActivities(deps),
    ...refreshActivities(deps),
    ...lifecycleActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
