import type { CardView } from '../lib/cards/build.ts';
import type { AttemptOutcome } from '../lib/grant-types.ts';

export type SettledView = Exclude<CardView, { state: 'pending' }>;

/** What an attempt's card shows once the attempt has ended. */
export function settledView(openId: string, attemptId: string, outcome: AttemptOutcome): SettledView {
  switch (outcome.kind) {
    case 'authorized':
      return { state: 'authorized', openId, attemptId, userName: outcome.userName, scopes: outcome.scopes };
    case 'failed':
      return { state: 'failed', openId, attemptId, reason: outcome.reason };
    default:
      return { state: outcome.kind, openId, attemptId };
  }
}
