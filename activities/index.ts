import { attemptActivities } from './attempts';
import type { ServiceDeps } from '../lib/service-deps';
import { exchangeActivities } from './exchange';
import { lifecycleActivities } from './lifecycle';
import { refreshActivities } from './refresh';

export type { ServiceDeps } from '../lib/service-deps';

export function createActivities(deps: ServiceDeps) {
  return {
    ...attemptActivities(deps),
    ...exchangeActivities(deps),
    ...refreshActivities(deps),
    ...lifecycleActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
