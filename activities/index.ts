import { asyncLocalStorage } from '@temporalio/activity';
import { attemptActivities } from './attempts.ts';
import { countDbErrors } from '../lib/metrics.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { deviceActivities } from './device.ts';
import { exchangeActivities } from './exchange.ts';
import { lifecycleActivities } from './lifecycle.ts';
import { refreshActivities } from './refresh.ts';

export type { ServiceDeps } from '../lib/service-deps.ts';

/** The activity running now (Temporal's own context), which names its database errors. */
const activityType = () => asyncLocalStorage.getStore()?.info.activityType ?? 'activity';

export function createActivities(serviceDeps: ServiceDeps) {
  const deps = { ...serviceDeps, db: countDbErrors(serviceDeps.db, activityType) };
  return {
    ...attemptActivities(deps),
    ...exchangeActivities(deps),
    ...deviceActivities(deps),
    ...refreshActivities(deps),
    ...lifecycleActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
