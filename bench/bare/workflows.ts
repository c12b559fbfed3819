import {
  condition,
  defineUpdate,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { FeishuAuthStatus } from '../../lib/search-attributes.ts';
import type { BareActivities } from './activities.ts';

/**
 * The floor an authorization flow stands on: the command shape of an authorized grant with none of
 * its work. Update-with-start runs one activity (the card), a second update waits for two more (the
 * exchange, the settle), one search-attribute upsert, then the run sleeps like a grant waiting to
 * refresh. No database, no Feishu, no codec: whatever bench:auth spends beyond this is ours.
 */
export const bareRequest = defineUpdate<string, []>('bareRequest');
export const bareDeliver = defineUpdate<string, []>('bareDeliver');

const act = proxyActivities<BareActivities>({ startToCloseTimeout: '30s' });

/** A grant's first refresh is about 1.5 h away: far beyond any benchmark. */
const SLEEP_AFTER_AUTHORIZED = '2h';

export async function bareGrantWorkflow(): Promise<void> {
  let authorized = false;
  setHandler(bareRequest, async () => {
    await act.noop();
    return 'pending';
  });
  setHandler(bareDeliver, async () => {
    await act.noop();
    await act.noop();
    upsertSearchAttributes([{ key: FeishuAuthStatus, value: 'authorized' }]);
    authorized = true;
    return 'authorized';
  });
  await condition(() => authorized);
  await condition(() => false, SLEEP_AFTER_AUTHORIZED);
}
