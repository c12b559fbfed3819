import { attemptActivities } from './attempts';
import type { ActivityDeps } from './deps';
import { exchangeActivities } from './exchange';
import { refreshActivities } from './refresh';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return { ...attemptActivities(deps), ...exchangeActivities(deps), ...refreshActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
