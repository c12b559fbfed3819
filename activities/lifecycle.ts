import type { GrantSettings } from '../lib/grant-types.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { recordGrantEvent, setGrantStatus } from '../lib/store/grants.ts';

export function lifecycleActivities({ db, grantSettings }: ServiceDeps) {
  return {
    /**
     * The tunables of the code deployed now. A grant's run asks once, before it continues as new,
     * so live grants pick up a changed setting at their next run and replay never depends on it.
     */
    currentGrantSettings(): Promise<GrantSettings> {
      return Promise.resolve(grantSettings);
    },

    /** Feishu's cap on the grant passed without a renewal: no token may be served any more. */
    async endGrant(input: { appId: string; openId: string; reason: string }): Promise<void> {
      await setGrantStatus(db, input.appId, input.openId, 'needs_reauth', input.reason, { dropTokens: true });
      await recordGrantEvent(db, { ...input, kind: 'grant', outcome: 'needs_reauth', detail: input.reason });
    },
  };
}
