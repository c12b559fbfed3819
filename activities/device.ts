import { FeishuApiError, isRetryable } from '../lib/feishu/errors.ts';
import type { DevicePoll } from '../lib/feishu/gateway.ts';
import { getSession } from '../lib/store/sessions.ts';
import type { ServiceDeps } from '../lib/service-deps.ts';
import { feishuCall } from './attempt-context.ts';
import { INVALID_CODE, consentSteps, type AttemptRef, type ExchangeResult } from './consent.ts';
import { failureReasonFor, toActivityFailure } from './feishu-failure.ts';

/**
 * One poll of a device attempt: the user has not answered yet (slowDown: Feishu asked for a
 * longer interval), or the attempt is over and this is how.
 */
export type DevicePollResult =
  { kind: 'waiting'; slowDown: boolean } | ({ kind: 'settled' } & ExchangeResult);

const settled = (result: ExchangeResult): DevicePollResult => ({ kind: 'settled', ...result });

export function deviceActivities(deps: ServiceDeps) {
  const { db, cipher, feishu, logger } = deps;
  const { alreadyExchanged, keepConsent } = consentSteps(deps);
  return {
    /**
     * Asks Feishu once whether the user approved the attempt's device code; on approval, the same
     * identity check and storage as a code exchange. Runs on the refresh queue, in its budget.
     */
    async pollDeviceAuthorization(input: AttemptRef): Promise<DevicePollResult> {
      const row = await getSession(db, input.attemptId);
      if (row?.code_spent_at) return settled(await alreadyExchanged(input.appId, input.openId));
      // Settled meanwhile: its device code was erased with the attempt's other secrets.
      if (!row?.code_ct || !row.code_key_id) return settled(INVALID_CODE);
      const { deviceCode } = JSON.parse(
        cipher.open(
          { keyId: row.code_key_id, box: row.code_ct },
          { appId: input.appId, openId: input.openId, kind: 'device_code' },
        ),
      ) as { deviceCode: string };

      let poll: DevicePoll;
      try {
        poll = await feishuCall((signal) => feishu.pollDeviceToken(deviceCode, signal));
      } catch (err) {
        if (err instanceof FeishuApiError && !isRetryable(err.kind)) {
          logger.warn(
            { attemptId: input.attemptId, feishuCode: err.code, kind: err.kind },
            'device code poll refused',
          );
          return settled({ outcome: { kind: 'failed', reason: failureReasonFor(err), errorCode: err.code } });
        }
        throw toActivityFailure(err);
      }
      switch (poll.kind) {
        case 'authorization_pending':
          return { kind: 'waiting', slowDown: false };
        case 'slow_down':
          return { kind: 'waiting', slowDown: true };
        case 'access_denied':
          return settled({ outcome: { kind: 'denied' } });
        case 'expired_token':
          return settled({ outcome: { kind: 'expired' } });
        case 'tokens':
          return settled(await keepConsent(input, poll.tokens));
      }
    },
  };
}
