import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { failureReasonOf } from '../lib/feishu/errors.ts';
import type { FailureReason } from '../lib/grant-types.ts';

/** Why sending a card failed, from the activity failure's Feishu error kind (its type) and code. */
export function cardFailure(err: unknown): { reason: FailureReason; errorCode?: number } {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure)) return { reason: 'internal' };
  const errorCode = (cause.details?.[0] as { code?: number } | undefined)?.code;
  return { reason: failureReasonOf((cause.type ?? '').replace(/^Feishu\./, '')), errorCode };
}

/** The failure's type for a log line: never its message, which may quote Feishu. */
export function failureType(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : 'unknown';
}
